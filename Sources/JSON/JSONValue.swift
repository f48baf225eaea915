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

    /// The value as an `Int` when it is an integer that fits.
    public var intValue: Int? {
        if case .integer(let text) = self { return Int(text) }
        return nil
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
                append(key, newValue)
            }
        }
    }

    /// Adds a member whose key the caller knows is new.
    mutating func append(_ key: String, _ value: JSONValue) {
        keys.append(key)
        values.append(value)
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
            let plain = !k.isEmpty && k.utf8.allSatisfy { isASCIIDigit($0) || isASCIILetter($0) || $0 == UInt8(ascii: "_") }
                && !isASCIIDigit(k.utf8.first!)
            out += plain ? "." + k : "[\(JSONValue.quoted(k))]"
        }
    }
    return out
}

func isASCIIDigit(_ b: UInt8) -> Bool { b >= UInt8(ascii: "0") && b <= UInt8(ascii: "9") }
func isASCIILetter(_ b: UInt8) -> Bool { (b | 0x20) >= UInt8(ascii: "a") && (b | 0x20) <= UInt8(ascii: "z") }

/// `value` as `digits` hexadecimal digits, zero-padded.
func hex(_ value: UInt32, digits: Int, uppercase: Bool = false) -> String {
    let text = String(value, radix: 16, uppercase: uppercase)
    return String(repeating: "0", count: max(0, digits - text.count)) + text
}
