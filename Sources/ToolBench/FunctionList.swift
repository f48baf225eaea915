import Foundation
import JSON

/// How much of the function list's text the fit policy removes, from least to most.
public enum Compaction: Sendable, Hashable, CustomStringConvertible {
    /// Function, parameter and tool descriptions longer than this many characters cut to it plus "..."
    /// (at 0: empty, and "None" for tools, ToolBench's own text for a tool without a description).
    case descriptions(Int)
    /// Names, parameter names and types, required lists: no descriptions or example values at all.
    case schemaOnly

    /// The levels tried, in order.
    public static let ladder: [Compaction] = [.descriptions(256), .descriptions(128), .descriptions(64), .descriptions(0), .schemaOnly]

    public var description: String {
        switch self {
        case .descriptions(let n): "descriptions cut to \(n) chars"
        case .schemaOnly: "schema only"
        }
    }
}

/// The Python-repr function list that ToolBench's `process_system_message` appends to the system prompt,
/// kept as data so the fit policy can print it again with less text.
public struct FunctionListPrompt: Sendable, Equatable {
    /// `process_system_message`'s separator before `str(functions)`.
    public static let marker = "\nSpecifically, you have access to the following APIs: "
    /// The line before the task description's numbered tool list ("1.<tool>: <description>").
    static let toolsHeader = "You have access of the following tools:\n"

    /// The system text up to and including `marker`.
    public var head: String
    public var functions: [JSONValue]

    public init(head: String, functions: [JSONValue]) {
        self.head = head
        self.functions = functions
    }

    /// The system prompt as ToolBench writes it (`compaction` nil), or compacted. `Finish` is left as it
    /// is: it is the same in every example and tells the model how to stop.
    public func render(_ compaction: Compaction? = nil) -> String {
        guard let compaction else { return head + PythonRepr.repr(.array(functions)) }
        let compacted = functions.map { function -> JSONValue in
            guard case .object(var f) = function, f["name"] != .string("Finish") else { return function }
            f["description"] = f["description"].flatMap { cut($0, compaction) }
            if case .object(var parameters)? = f["parameters"] {
                if case .object(var properties)? = parameters["properties"] {
                    for key in properties.keys {
                        guard case .object(var property)? = properties[key] else { continue }
                        property["description"] = property["description"].flatMap { cut($0, compaction) }
                        if compaction == .schemaOnly { property["example_value"] = nil }
                        properties[key] = .object(property)
                    }
                    parameters["properties"] = .object(properties)
                }
                if compaction == .schemaOnly, parameters["optional"] == .array([]) { parameters["optional"] = nil }
                f["parameters"] = .object(parameters)
            }
            return .object(f)
        }
        return compactTools(compaction) + PythonRepr.repr(.array(compacted))
    }

    /// A description value after compaction (nil: the key goes).
    private func cut(_ value: JSONValue, _ compaction: Compaction) -> JSONValue? {
        switch compaction {
        case .schemaOnly: return nil
        case .descriptions(let limit):
            guard case .string(let s) = value else { return value }
            return .string(Self.cut(s, limit, empty: ""))
        }
    }

    static func cut(_ s: String, _ limit: Int, empty: String) -> String {
        guard s.unicodeScalars.count > limit else { return s }
        return limit == 0 ? empty : String(String.UnicodeScalarView(s.unicodeScalars.prefix(limit))) + "..."
    }

    /// The head with the tool descriptions of the task description ("1.<tool>: <description>" lines)
    /// compacted the same way; a head without that list is left as it is.
    private func compactTools(_ compaction: Compaction) -> String {
        guard let start = head.range(of: Self.toolsHeader) else { return head }
        let limit: Int
        switch compaction {
        case .descriptions(let n): limit = n
        case .schemaOnly: limit = 0
        }
        var lines = head[start.upperBound...].components(separatedBy: "\n")
        for (i, line) in lines.enumerated() {
            guard let dot = line.firstIndex(of: "."), !line[..<dot].isEmpty, line[..<dot].allSatisfy(\.isNumber),
                  let colon = line.range(of: ": ", range: dot..<line.endIndex) else { break }
            lines[i] = String(line[..<colon.upperBound]) + Self.cut(String(line[colon.upperBound...]), limit, empty: "None")
        }
        return String(head[..<start.upperBound]) + lines.joined(separator: "\n")
    }

    /// Finds the function list at the end of a rendered system prompt (ToolLLaMA conversation files
    /// carry only the text). Nil unless the text after the last marker reads back as a Python list
    /// whose `repr` is exactly that text, so rendering it again changes nothing.
    public static func parse(systemPrompt text: String) -> FunctionListPrompt? {
        guard let range = text.range(of: marker, options: .backwards) else { return nil }
        let tail = String(text[range.upperBound...])
        guard let value = PythonRepr.parseLiteral(tail), case .array(let functions) = value,
              PythonRepr.repr(value) == tail else { return nil }
        return FunctionListPrompt(head: String(text[..<range.upperBound]), functions: functions)
    }
}
