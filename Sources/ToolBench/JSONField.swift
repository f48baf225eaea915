import JSON

/// A JSON value together with where it is (file, JSON path, JSONL line), so that reading it as the
/// wrong type gives `file: $.answer_generation.train_messages[2][3].function_call.name: expected a
/// string, found null`.
public struct JSONField: Sendable {
    public let value: JSONValue
    public let file: String
    public let path: [JSONPathComponent]
    /// The JSONL line the record came from, if any.
    public let line: Int?

    public init(_ value: JSONValue, file: String, path: [JSONPathComponent] = [], line: Int? = nil) {
        self.value = value
        self.file = file
        self.path = path
        self.line = line
    }

    public var pathString: String { jsonPathString(path) }

    public func error(_ message: String) -> DataError {
        DataError(file: file, line: line, path: pathString, message: message)
    }

    func mismatch(_ expected: String) -> DataError {
        error("expected \(expected), found \(value.kindDescription)")
    }

    public var isNull: Bool { value == .null }

    /// The member `key` of this object; a missing key is an error naming the keys that are there.
    public func field(_ key: String) throws(DataError) -> JSONField {
        guard case .object(let object) = value else { throw mismatch("an object with the key \"\(key)\"") }
        guard let member = object[key] else {
            let present = object.keys.prefix(12).map { "\"\($0)\"" }.joined(separator: ", ")
            throw error("missing the key \"\(key)\" (the object has \(object.keys.isEmpty ? "no keys" : present))")
        }
        return JSONField(member, file: file, path: path + [.key(key)], line: line)
    }

    /// The member `key`, or nil when it is absent.
    public func optionalField(_ key: String) throws(DataError) -> JSONField? {
        guard case .object(let object) = value else { throw mismatch("an object") }
        return object[key].map { JSONField($0, file: file, path: path + [.key(key)], line: line) }
    }

    public func has(_ key: String) -> Bool {
        if case .object(let object) = value { return object[key] != nil }
        return false
    }

    public func string() throws(DataError) -> String {
        guard case .string(let s) = value else { throw mismatch("a string") }
        return s
    }

    /// A string or null.
    public func optionalString() throws(DataError) -> String? {
        switch value {
        case .null: return nil
        case .string(let s): return s
        default: throw mismatch("a string or null")
        }
    }

    public func bool() throws(DataError) -> Bool {
        guard case .bool(let b) = value else { throw mismatch("true or false") }
        return b
    }

    public func items() throws(DataError) -> [JSONField] {
        guard case .array(let values) = value else { throw mismatch("a list") }
        return values.enumerated().map { JSONField($1, file: file, path: path + [.index($0)], line: line) }
    }

    public func object() throws(DataError) -> JSONObject {
        guard case .object(let o) = value else { throw mismatch("an object") }
        return o
    }
}
