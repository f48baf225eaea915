import Foundation

/// A parsed JSON value that keeps what Python's `json.load` keeps and Foundation's parser loses: the
/// key order of objects (Python dicts preserve it, and the ToolBench system prompt prints the function
/// list with `str()`), and the difference between integers and floats (`3` prints as `3`, `3.0` as `3.0`).
public enum JSONValue: Sendable, Equatable {
    case null
    case bool(Bool)
    /// An integer as written in the file (JSON integers, like Python ints, have no size limit).
    case integer(String)
    case float(Double)
    case string(String)
    case array([JSONValue])
    case object(JSONObject)

    /// How error messages name the kind of a value ("expected a string, found null").
    public var kindDescription: String {
        switch self {
        case .null: "null"
        case .bool(let b): b ? "true" : "false"
        case .integer(let text): "the number \(text)"
        case .float(let d): "the number \(d)"
        case .string: "a string"
        case .array: "a list"
        case .object: "an object"
        }
    }
}

/// A JSON object's members in file order. A repeated key keeps its first position and its last value,
/// as a Python dict built by `json.load` does.
public struct JSONObject: Sendable, Equatable {
    public private(set) var keys: [String] = []
    public private(set) var values: [JSONValue] = []

    public init() {}

    public init(_ pairs: [(String, JSONValue)]) {
        for (key, value) in pairs { self[key] = value }
    }

    public var count: Int { keys.count }

    /// Member lookup (objects in ToolBench data are small, so a scan beats hashing).
    public subscript(key: String) -> JSONValue? {
        get { keys.firstIndex(of: key).map { values[$0] } }
        set {
            if let i = keys.firstIndex(of: key) {
                if let newValue { values[i] = newValue } else { keys.remove(at: i); values.remove(at: i) }
            } else if let newValue {
                keys.append(key)
                values.append(newValue)
            }
        }
    }

    public var pairs: Zip2Sequence<[String], [JSONValue]> { zip(keys, values) }
}

/// One step of a JSON path: an object key or an array index.
public enum JSONPathComponent: Sendable, Equatable {
    case key(String)
    case index(Int)
}

/// Renders a path as `$.answer_generation.train_messages[2][3].function_call.name`; keys that are not
/// plain identifiers are quoted: `$["odd key"]`.
public func jsonPathString(_ path: [JSONPathComponent]) -> String {
    var out = "$"
    for component in path {
        switch component {
        case .index(let i): out += "[\(i)]"
        case .key(let k):
            let plain = !k.isEmpty && k.unicodeScalars.allSatisfy {
                $0.isASCII && (CharacterSet.alphanumerics.contains($0) || $0 == "_")
            } && !(k.first?.isNumber ?? false)
            if plain {
                out += "." + k
            } else {
                let escaped = k.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
                out += "[\"\(escaped)\"]"
            }
        }
    }
    return out
}

/// A problem in an input data file: the file, where in it (a JSON path, a line), and what is wrong.
public struct DataError: Error, CustomStringConvertible, Sendable, Equatable {
    public let file: String
    /// 1-based line for syntax errors and JSONL records.
    public let line: Int?
    public let column: Int?
    /// A JSON path like `$.answer_generation.train_messages[2]`, or nil when the problem is the whole file.
    public let path: String?
    public let message: String

    public init(file: String, line: Int? = nil, column: Int? = nil, path: String? = nil, message: String) {
        self.file = file
        self.line = line
        self.column = column
        self.path = path
        self.message = message
    }

    /// `file:line:column: $.path: message`, leaving out what is unknown.
    public var description: String {
        var location = file
        if let line { location += ":\(line)" + (column.map { ":\($0)" } ?? "") }
        if let path { return "\(location): \(path): \(message)" }
        return "\(location): \(message)"
    }
}

/// A strict JSON parser with Python `json.loads` semantics: key order kept, integers kept apart from
/// floats, `NaN`/`Infinity`/`-Infinity` accepted, raw control characters inside strings rejected.
/// Errors give the line, column and the JSON path of the value being read.
public struct JSONParser {
    private let bytes: [UInt8]
    private var index = 0
    private var path: [JSONPathComponent] = []
    private let file: String
    /// Added to line numbers in errors (a JSONL record starts on its own line of the file).
    private let lineOffset: Int
    /// False: control characters may appear raw inside strings.
    private var strict = true

    /// Parses one JSON document. `file` names the input in errors; `firstLine` is the line the text
    /// starts on (for one record of a JSONL file). `strict: false` is Python's `json.loads(s,
    /// strict=False)` (what ToolBench's environment uses on Action Input): raw control characters are
    /// allowed inside strings.
    public static func parse(_ bytes: [UInt8], file: String, firstLine: Int = 1, strict: Bool = true) throws(DataError) -> JSONValue {
        try validateUTF8(bytes, file: file, firstLine: firstLine)
        var parser = JSONParser(bytes: bytes, file: file, lineOffset: firstLine - 1)
        parser.strict = strict
        if parser.bytes.starts(with: [0xEF, 0xBB, 0xBF]) { parser.index = 3 }
        parser.skipWhitespace()
        if parser.index == parser.bytes.count {
            throw DataError(file: file, line: bytes.isEmpty ? nil : firstLine, message: "empty; expected JSON")
        }
        let value = try parser.parseValue()
        parser.skipWhitespace()
        if parser.index < parser.bytes.count {
            throw parser.error("extra data after the JSON value", atRoot: true)
        }
        return value
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

    /// Rejects invalid UTF-8 up front (as Python's UTF-8 text decoding would), so that strings can later
    /// be made from byte slices without checks.
    private static func validateUTF8(_ bytes: [UInt8], file: String, firstLine: Int) throws(DataError) {
        if String(validating: bytes, as: UTF8.self) != nil { return }
        var decoder = UTF8()
        var iterator = bytes.makeIterator()
        var offset = 0
        var good = 0
        loop: while true {
            switch decoder.decode(&iterator) {
            case .scalarValue(let s):
                offset += UTF8.width(s)
                good = offset
            case .emptyInput: break loop
            case .error: break loop
            }
        }
        let prefix = bytes[..<good]
        let line = prefix.reduce(0) { $0 + ($1 == 0x0A ? 1 : 0) } + firstLine
        let column = good - (prefix.lastIndex(of: 0x0A).map { $0 + 1 } ?? 0) + 1
        throw DataError(file: file, line: line, column: column, message: "not valid UTF-8 text")
    }

    private init(bytes: [UInt8], file: String, lineOffset: Int) {
        self.bytes = bytes
        self.file = file
        self.lineOffset = lineOffset
    }

    private func error(_ message: String, atRoot: Bool = false) -> DataError {
        let upto = min(index, bytes.count)
        var line = 1 + lineOffset
        var lineStart = 0
        for i in 0..<upto where bytes[i] == 0x0A {
            line += 1
            lineStart = i + 1
        }
        // Columns count characters, not bytes.
        let column = String(decoding: bytes[lineStart..<upto], as: UTF8.self).count + 1
        return DataError(file: file, line: line, column: column, path: jsonPathString(path), message: message)
    }

    private mutating func skipWhitespace() {
        while index < bytes.count {
            switch bytes[index] {
            case 0x20, 0x09, 0x0A, 0x0D: index += 1
            default: return
            }
        }
    }

    private func describeHere() -> String {
        guard index < bytes.count else { return "the end of the input" }
        let scalar = String(decoding: bytes[index..<min(bytes.count, index + 4)], as: UTF8.self).unicodeScalars.first
        guard let scalar else { return "an invalid byte" }
        if scalar.value < 0x20 { return String(format: "the control character U+%04X", scalar.value) }
        return "'\(Character(scalar))'"
    }

    private mutating func parseValue() throws(DataError) -> JSONValue {
        guard index < bytes.count else { throw error("unexpected end of the input; the JSON is truncated") }
        switch bytes[index] {
        case UInt8(ascii: "{"): return try parseObject()
        case UInt8(ascii: "["): return try parseArray()
        case UInt8(ascii: "\""): return .string(try parseString())
        case UInt8(ascii: "t"): return try literal("true", .bool(true))
        case UInt8(ascii: "f"): return try literal("false", .bool(false))
        case UInt8(ascii: "n"): return try literal("null", .null)
        case UInt8(ascii: "N"): return try literal("NaN", .float(.nan))
        case UInt8(ascii: "I"): return try literal("Infinity", .float(.infinity))
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return try parseNumber()
        default: throw error("expected a value, found \(describeHere())")
        }
    }

    private mutating func literal(_ word: String, _ value: JSONValue) throws(DataError) -> JSONValue {
        let w = Array(word.utf8)
        guard index + w.count <= bytes.count, Array(bytes[index..<index + w.count]) == w else {
            if index + w.count > bytes.count, bytes[index...].elementsEqual(w.prefix(bytes.count - index)) {
                throw error("unexpected end of the input; the JSON is truncated")
            }
            throw error("expected a value, found \(describeHere())")
        }
        index += w.count
        return value
    }

    private mutating func parseObject() throws(DataError) -> JSONValue {
        index += 1
        var object = JSONObject()
        skipWhitespace()
        if index < bytes.count, bytes[index] == UInt8(ascii: "}") {
            index += 1
            return .object(object)
        }
        while true {
            skipWhitespace()
            guard index < bytes.count else { throw error("unexpected end of the input inside an object; the JSON is truncated") }
            guard bytes[index] == UInt8(ascii: "\"") else {
                throw error("expected a key in double quotes, found \(describeHere())")
            }
            let key = try parseString()
            skipWhitespace()
            guard index < bytes.count else { throw error("unexpected end of the input after key \"\(key)\"; the JSON is truncated") }
            guard bytes[index] == UInt8(ascii: ":") else { throw error("expected ':' after key \"\(key)\", found \(describeHere())") }
            index += 1
            skipWhitespace()
            path.append(.key(key))
            let value = try parseValue()
            path.removeLast()
            object[key] = value
            skipWhitespace()
            guard index < bytes.count else { throw error("unexpected end of the input inside an object; the JSON is truncated") }
            switch bytes[index] {
            case UInt8(ascii: ","): index += 1
            case UInt8(ascii: "}"):
                index += 1
                return .object(object)
            default: throw error("expected ',' or '}' after the value of \"\(key)\", found \(describeHere())")
            }
        }
    }

    private mutating func parseArray() throws(DataError) -> JSONValue {
        index += 1
        var items: [JSONValue] = []
        skipWhitespace()
        if index < bytes.count, bytes[index] == UInt8(ascii: "]") {
            index += 1
            return .array(items)
        }
        while true {
            skipWhitespace()
            path.append(.index(items.count))
            let value = try parseValue()
            path.removeLast()
            items.append(value)
            skipWhitespace()
            guard index < bytes.count else { throw error("unexpected end of the input inside a list; the JSON is truncated") }
            switch bytes[index] {
            case UInt8(ascii: ","): index += 1
            case UInt8(ascii: "]"):
                index += 1
                return .array(items)
            default: throw error("expected ',' or ']' after item \(items.count - 1), found \(describeHere())")
            }
        }
    }

    private mutating func parseNumber() throws(DataError) -> JSONValue {
        let start = index
        if bytes[index] == UInt8(ascii: "-") {
            index += 1
            if index < bytes.count, bytes[index] == UInt8(ascii: "I") {
                _ = try literal("Infinity", .null)
                return .float(-.infinity)
            }
        }
        func digits() -> Int {
            let s = index
            while index < bytes.count, bytes[index] >= UInt8(ascii: "0"), bytes[index] <= UInt8(ascii: "9") { index += 1 }
            return index - s
        }
        guard index < bytes.count else { throw error("unexpected end of the input inside a number; the JSON is truncated") }
        if bytes[index] == UInt8(ascii: "0") {
            index += 1
        } else if digits() == 0 {
            throw error("expected a digit, found \(describeHere())")
        }
        var isFloat = false
        if index < bytes.count, bytes[index] == UInt8(ascii: ".") {
            index += 1
            guard digits() > 0 else { throw error("expected a digit after the decimal point, found \(describeHere())") }
            isFloat = true
        }
        if index < bytes.count, bytes[index] == UInt8(ascii: "e") || bytes[index] == UInt8(ascii: "E") {
            index += 1
            if index < bytes.count, bytes[index] == UInt8(ascii: "+") || bytes[index] == UInt8(ascii: "-") { index += 1 }
            guard digits() > 0 else { throw error("expected a digit in the exponent, found \(describeHere())") }
            isFloat = true
        }
        let text = String(decoding: bytes[start..<index], as: UTF8.self)
        if isFloat {
            guard let d = Double(text) else { throw error("cannot read the number \(text)") }
            return .float(d)
        }
        return .integer(text == "-0" ? "0" : text)
    }

    /// A string at `index` (which holds the opening quote).
    private mutating func parseString() throws(DataError) -> String {
        index += 1
        let start = index
        // Fast path: no escapes.
        while index < bytes.count {
            let b = bytes[index]
            if b == UInt8(ascii: "\"") {
                let s = String(decoding: bytes[start..<index], as: UTF8.self)
                index += 1
                return s
            }
            if b == UInt8(ascii: "\\") || b < 0x20 { break }
            index += 1
        }
        var out = [UInt8](bytes[start..<index])
        while index < bytes.count {
            let b = bytes[index]
            switch b {
            case UInt8(ascii: "\""):
                index += 1
                return String(decoding: out, as: UTF8.self)
            case UInt8(ascii: "\\"):
                index += 1
                guard index < bytes.count else { break }
                let e = bytes[index]
                index += 1
                switch e {
                case UInt8(ascii: "\""): out.append(0x22)
                case UInt8(ascii: "\\"): out.append(0x5C)
                case UInt8(ascii: "/"): out.append(0x2F)
                case UInt8(ascii: "b"): out.append(0x08)
                case UInt8(ascii: "f"): out.append(0x0C)
                case UInt8(ascii: "n"): out.append(0x0A)
                case UInt8(ascii: "r"): out.append(0x0D)
                case UInt8(ascii: "t"): out.append(0x09)
                case UInt8(ascii: "u"):
                    var scalar = try hex4()
                    if (0xD800..<0xDC00).contains(scalar), index + 1 < bytes.count,
                       bytes[index] == UInt8(ascii: "\\"), bytes[index + 1] == UInt8(ascii: "u") {
                        let save = index
                        index += 2
                        let low = try hex4()
                        if (0xDC00..<0xE000).contains(low) {
                            scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                        } else {
                            index = save
                        }
                    }
                    // A lone surrogate cannot live in a Swift string; Python would keep it. It never
                    // occurs in ToolBench data (such a text cannot even be written out as UTF-8).
                    let s = Unicode.Scalar(scalar) ?? "\u{FFFD}"
                    out.append(contentsOf: Array(String(s).utf8))
                default:
                    index -= 1
                    throw error("invalid escape '\\\(describeHere().trimmingCharacters(in: CharacterSet(charactersIn: "'")))' in a string")
                }
            default:
                if b < 0x20 && strict { throw error("raw control character U+\(String(format: "%04X", b)) inside a string (must be escaped)") }
                out.append(b)
                index += 1
            }
        }
        throw error("unexpected end of the input inside a string; the JSON is truncated")
    }

    private mutating func hex4() throws(DataError) -> UInt32 {
        guard index + 4 <= bytes.count else { throw error("unexpected end of the input inside a \\u escape; the JSON is truncated") }
        var v: UInt32 = 0
        for _ in 0..<4 {
            let c = bytes[index]
            let d: UInt32
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): d = UInt32(c - UInt8(ascii: "0"))
            case UInt8(ascii: "a")...UInt8(ascii: "f"): d = UInt32(c - UInt8(ascii: "a") + 10)
            case UInt8(ascii: "A")...UInt8(ascii: "F"): d = UInt32(c - UInt8(ascii: "A") + 10)
            default: throw error("expected 4 hex digits after \\u, found \(describeHere())")
            }
            v = v * 16 + d
            index += 1
        }
        return v
    }
}
