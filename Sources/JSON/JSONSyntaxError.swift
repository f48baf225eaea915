/// A place in the parser's input.
public struct JSONPosition: Sendable, Equatable {
    /// Bytes from the start of the input.
    public let offset: Int
    /// 1-based.
    public let line: Int
    /// 1-based, in characters, as an editor counts.
    public let column: Int
    /// 1-based, in bytes.
    public let byteColumn: Int
}

/// Why a text is not JSON, where, and in which value. `message` words it for users; callers with their own
/// wording for the same problems build it from `problem` and `found`.
public struct JSONSyntaxError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Problem: Sendable, Equatable {
        /// Nothing but white space.
        case empty
        /// `found` where the input needed something else.
        case unexpected(Expected)
        /// More text after the value.
        case extraData
        /// The input ended inside the string that starts at `start`.
        case unterminatedString(start: JSONPosition)
        /// A backslash (at `start`) followed by `found`, which no escape begins with.
        case invalidEscape(start: JSONPosition)
        /// A raw control character (below 0x20) inside a string.
        case controlCharacter(UInt8)
        /// Bytes that are not UTF-8: at the first invalid byte (Python's dialect decodes the input first),
        /// else at the string holding them.
        case invalidUTF8
        /// Only with `DuplicateKeys.reject`; at the second occurrence of the key.
        case duplicateKey(String)
        /// Only in RFC 8259's dialect: a 0 followed by a digit; at the 0.
        case leadingZero
        /// Only in RFC 8259's dialect: a \u escape of half a surrogate pair; at the escape.
        case loneSurrogate(UInt32)
        /// Only in RFC 8259's dialect: a high surrogate escape followed by an escape that is not a low one.
        case invalidSurrogatePair
        /// An array or object opened `limit` levels deep (`JSONParser.maximumDepth`); at its bracket.
        case tooDeep(limit: Int)
    }

    /// What the parser was looking for.
    public enum Expected: Sendable, Equatable {
        case value
        /// `true`, `false`, `null` (or NaN, Infinity): the word was started but is not there. `found` is
        /// the end of the input when the input stops inside the word.
        case literal(String)
        case key
        case colon(afterKey: String)
        case commaOrObjectEnd(afterKey: String)
        case commaOrArrayEnd(afterItem: Int)
        case digit
        case fractionDigit
        case exponentDigit
        case hexDigit
    }

    public enum Found: Sendable, Equatable {
        case end
        case character(Unicode.Scalar)
        case invalidByte(UInt8)
    }

    public let problem: Problem
    public let position: JSONPosition
    /// What stands at `position`.
    public let found: Found
    /// The value being read; empty at the top level.
    public let path: [JSONPathComponent]

    public var message: String {
        switch problem {
        case .empty: return "empty; expected JSON"
        case .invalidUTF8: return "not valid UTF-8 text"
        case .extraData: return "extra data after the JSON value"
        case .unexpected(let expected):
            if found == .end, let inside = expected.truncatedInside {
                return "unexpected end of the input\(inside); the JSON is truncated"
            }
            return "expected \(expected.description), found \(found.description)"
        case .unterminatedString: return "unexpected end of the input inside a string; the JSON is truncated"
        case .invalidEscape:
            if case .character(let c) = found, c.value >= 0x20 { return "invalid escape '\\\(c)' in a string" }
            return "invalid escape '\\\(found.description)' in a string"
        case .controlCharacter(let byte):
            return "raw control character U+\(hex(UInt32(byte), digits: 4, uppercase: true)) inside a string (must be escaped)"
        case .duplicateKey(let key): return "duplicate key \(JSONValue.quoted(key))"
        case .leadingZero: return "a number with a leading zero"
        case .loneSurrogate(let code): return "lone surrogate \\u\(hex(code, digits: 4)) in a string"
        case .invalidSurrogatePair: return "invalid surrogate pair in a string"
        case .tooDeep(let limit): return "arrays and objects nested more than \(limit) levels deep (the parser's limit)"
        }
    }

    /// `line:column: $.path: message`; a path of more than 8 steps (only a deep nesting has one) is shown
    /// by its first 8.
    public var description: String { "\(position.line):\(position.column): \(pathDescription): \(message)" }

    public var pathDescription: String {
        path.count <= 8 ? jsonPathString(path) : jsonPathString(Array(path.prefix(8))) + "...(\(path.count - 8) more)"
    }
}

extension JSONSyntaxError.Expected {
    var description: String {
        switch self {
        case .value, .literal: "a value"
        case .key: "a key in double quotes"
        case .colon(let key): "':' after key \"\(key)\""
        case .commaOrObjectEnd(let key): "',' or '}' after the value of \"\(key)\""
        case .commaOrArrayEnd(let item): "',' or ']' after item \(item)"
        case .digit: "a digit"
        case .fractionDigit: "a digit after the decimal point"
        case .exponentDigit: "a digit in the exponent"
        case .hexDigit: "4 hex digits after \\u"
        }
    }

    /// Where the input ended, for "unexpected end of the input<here>; the JSON is truncated"; nil where
    /// the end is worded as what was found instead.
    var truncatedInside: String? {
        switch self {
        case .value, .literal: ""
        case .key, .commaOrObjectEnd: " inside an object"
        case .colon(let key): " after key \"\(key)\""
        case .commaOrArrayEnd: " inside a list"
        case .digit: " inside a number"
        case .hexDigit: " inside a \\u escape"
        case .fractionDigit, .exponentDigit: nil
        }
    }
}

extension JSONSyntaxError.Found {
    var description: String {
        switch self {
        case .end: "the end of the input"
        case .invalidByte: "an invalid byte"
        case .character(let c): c.value < 0x20 ? "the control character U+\(hex(c.value, digits: 4, uppercase: true))" : "'\(Character(c))'"
        }
    }
}
