import Foundation
import JSON

/// A problem in an input data file: the file, where in it (a JSON path, a line), and what is wrong.
public struct DataError: Error, CustomStringConvertible, Sendable, Equatable {
    public let file: String
    /// 1-based line for syntax errors and JSONL records.
    public let line: Int?
    public let column: Int?
    /// A JSON path like `$.answer_generation.train_messages[2]`, or nil when the problem is the whole file.
    public let path: String?
    public let message: String
    /// Further problems of the same file, in file order (a JSONL file's other bad records), and how many
    /// more there were beyond those listed.
    public var also: [DataError] = []
    public var unlisted = 0

    public init(file: String, line: Int? = nil, column: Int? = nil, path: String? = nil, message: String) {
        self.file = file
        self.line = line
        self.column = column
        self.path = path
        self.message = message
    }

    /// The first of `errors` (one file's, in order, at least one) carrying the rest, at most `listed` in all.
    public static func combining(_ errors: [DataError], listed: Int = 20) -> DataError {
        var first = errors[0]
        first.also = Array(errors.dropFirst().prefix(listed - 1))
        first.unlisted = errors.count - 1 - first.also.count
        return first
    }

    /// `file:line:column: $.path: message`, leaving out what is unknown; each further problem on a line
    /// of its own.
    public var description: String {
        var location = file
        if let line { location += ":\(line)" + (column.map { ":\($0)" } ?? "") }
        let first = path.map { "\(location): \($0): \(message)" } ?? "\(location): \(message)"
        let more = unlisted > 0 ? ["\(file): ... and \(unlisted) more"] : []
        return ([first] + also.map(\.description) + more).joined(separator: "\n")
    }
}

/// ToolBench's data files are read as Python's `json.load` reads them.
extension JSONParser {
    /// Parses one JSON document. `file` names the input in errors; `firstLine` is the line the text
    /// starts on (for one record of a JSONL file). `strict: false` is Python's `json.loads(s,
    /// strict=False)` (what ToolBench's environment uses on Action Input): raw control characters are
    /// allowed inside strings.
    public static func parse(_ bytes: [UInt8], file: String, firstLine: Int = 1, strict: Bool = true) throws(DataError) -> JSONValue {
        do {
            return try parse(bytes, options: .python(strict: strict))
        } catch {
            let line = error.position.line + firstLine - 1
            switch error.problem {
            case .empty: throw DataError(file: file, line: bytes.isEmpty ? nil : firstLine, message: error.message)
            // No path: the text was not read as JSON yet; the column counts bytes, as it always has here.
            case .invalidUTF8: throw DataError(file: file, line: line, column: error.position.byteColumn, message: error.message)
            default: throw DataError(file: file, line: line, column: error.position.column, path: error.pathDescription, message: error.message)
            }
        }
    }

    /// Reads and parses a whole file.
    public static func parse(contentsOf file: String) throws(DataError) -> JSONValue {
        try parse(readFile(file), file: file)
    }

    static func readFile(_ file: String) throws(DataError) -> [UInt8] {
        guard let data = FileManager.default.contents(atPath: file) else {
            let why = FileManager.default.fileExists(atPath: file) ? "cannot read the file" : "no such file"
            throw DataError(file: file, message: why)
        }
        return [UInt8](data)
    }
}
