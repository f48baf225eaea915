import Foundation

/// The speaker of one turn; `templateName` is how the tool-llama-single-round template prints it.
public enum Role: String, Sendable, CaseIterable {
    case system, user, assistant, function

    public var templateName: String {
        switch self {
        case .system: "System"
        case .user: "User"
        case .assistant: "Assistant"
        case .function: "Function"
        }
    }
}

public struct Turn: Sendable, Equatable {
    public var role: Role
    public var value: String

    public init(_ role: Role, _ value: String) {
        self.role = role
        self.value = value
    }
}

/// Where an example came from: the file and the place inside it, for reports and previews.
public struct ExampleSource: Sendable, Equatable, CustomStringConvertible {
    public var file: String
    /// A JSON path (`$.answer_generation.train_messages[2]`, `$[17]`) or `line 5` for JSONL.
    public var locator: String

    public init(file: String, locator: String) {
        self.file = file
        self.locator = locator
    }

    public var description: String { "\(file) \(locator)" }
}

/// The Python-repr function list that ToolBench's `process_system_message` appends to the system prompt,
/// kept as data so the fit policy can print it again with shorter descriptions.
public struct FunctionListPrompt: Sendable, Equatable {
    /// `process_system_message`'s separator before `str(functions)`.
    public static let marker = "\nSpecifically, you have access to the following APIs: "

    /// The system text up to and including `marker`.
    public var head: String
    public var functions: [JSONValue]

    public init(head: String, functions: [JSONValue]) {
        self.head = head
        self.functions = functions
    }

    /// The system prompt as ToolBench writes it, or with every function and parameter description
    /// longer than `descriptionLimit` characters cut to that many plus "..." (an empty string at 0).
    /// `Finish` keeps its description: it is the same in every example and tells the model how to stop.
    public func render(descriptionLimit: Int? = nil) -> String {
        guard let limit = descriptionLimit else { return head + PythonRepr.repr(.array(functions)) }
        let compacted = functions.map { function -> JSONValue in
            guard case .object(var f) = function, f["name"] != .string("Finish") else { return function }
            f["description"] = f["description"].map { cut($0, limit) }
            if case .object(var parameters)? = f["parameters"], case .object(var properties)? = parameters["properties"] {
                for key in properties.keys {
                    if case .object(var property)? = properties[key], let d = property["description"] {
                        property["description"] = cut(d, limit)
                        properties[key] = .object(property)
                    }
                }
                parameters["properties"] = .object(properties)
                f["parameters"] = .object(parameters)
            }
            return .object(f)
        }
        return head + PythonRepr.repr(.array(compacted))
    }

    private func cut(_ value: JSONValue, _ limit: Int) -> JSONValue {
        guard case .string(let s) = value, s.unicodeScalars.count > limit else { return value }
        return .string(limit == 0 ? "" : String(String.UnicodeScalarView(s.unicodeScalars.prefix(limit))) + "...")
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

/// One training example before rendering: the turns in order, the last of which is normally the
/// assistant target.
public struct Conversation: Sendable {
    public var source: ExampleSource
    /// The ToolBench query id, when the input names one (answer file names, `query_id` fields).
    public var queryID: String?
    public var turns: [Turn]
    /// Set when `turns[0]` is a system prompt that ends with a function list.
    public var functionList: FunctionListPrompt?

    public init(source: ExampleSource, queryID: String?, turns: [Turn], functionList: FunctionListPrompt? = nil) {
        self.source = source
        self.queryID = queryID
        self.turns = turns
        self.functionList = functionList
    }
}
