/// The one JSON parser: key order kept, integers kept apart from floats, errors with the line, column
/// and JSON path of the value being read. Options choose between the semantics callers need.
public struct JSONParser {
    public enum Dialect: Sendable {
        /// RFC 8259 exactly (what Hugging Face's serde_json reads).
        case rfc8259
        /// Python's `json.loads`: also NaN, Infinity and -Infinity; a lone surrogate escape is read (as
        /// U+FFFD: a Swift string cannot hold one); a number ends after a leading 0 (so `01` is a 0 followed
        /// by unexpected text); the input is decoded as UTF-8 before parsing, and a leading byte-order mark
        /// skipped (as `json.loads` of bytes does).
        case python
    }

    public enum DuplicateKeys: Sendable {
        /// An error at the second occurrence.
        case reject
        /// The first position and the last value, as a Python dict built by `json.load`.
        case lastWins
    }

    public struct Options: Sendable {
        public let dialect: Dialect
        public let duplicateKeys: DuplicateKeys
        /// Raw control characters inside strings (`json.loads(s, strict=False)`).
        public let allowsControlCharacters: Bool

        /// RFC 8259, repeated keys rejected: files whose keys must be unique (vocab.json).
        public static let strict = Options(dialect: .rfc8259, duplicateKeys: .reject, allowsControlCharacters: false)

        /// `json.loads(s, strict=strict)`.
        public static func python(strict: Bool = true) -> Options {
            Options(dialect: .python, duplicateKeys: .lastWins, allowsControlCharacters: !strict)
        }
    }

    /// How deeply arrays and objects may nest. Parsing, and everything that walks a value afterwards
    /// (writing, comparing, freeing), recurses once per level, so a limit keeps a hostile `[[[[...` from
    /// overflowing the stack. Python's `json` stops near 1,000 levels (its recursion limit); real files
    /// (ToolBench's, tokenizers', configs) nest fewer than 20.
    public static let maximumDepth = 512

    private let bytes: [UInt8]
    private let options: Options
    private var index = 0
    private var path: [JSONPathComponent] = []
    private var depth = 0

    /// Parses one JSON document (white space around it allowed).
    public static func parse(_ bytes: [UInt8], options: Options) throws(JSONSyntaxError) -> JSONValue {
        var parser = JSONParser(bytes: bytes, options: options)
        if options.dialect == .python {
            let valid = validUTF8Prefix(bytes)
            if valid < bytes.count { throw parser.fail(.invalidUTF8, at: valid) }
            if bytes.starts(with: [0xEF, 0xBB, 0xBF]) { parser.index = 3 }
        }
        parser.skipWhitespace()
        if parser.index == bytes.count { throw parser.fail(.empty) }
        let value = try parser.parseValue()
        parser.skipWhitespace()
        if parser.index < bytes.count { throw parser.fail(.extraData) }
        return value
    }

    private init(bytes: [UInt8], options: Options) {
        self.bytes = bytes
        self.options = options
    }

    /// How many bytes from the start are valid UTF-8.
    private static func validUTF8Prefix(_ bytes: [UInt8]) -> Int {
        if String(validating: bytes, as: UTF8.self) != nil { return bytes.count }
        var decoder = UTF8()
        var iterator = bytes.makeIterator()
        var valid = 0
        while case .scalarValue(let scalar) = decoder.decode(&iterator) { valid += UTF8.width(scalar) }
        return valid
    }

    /// An error at `offset` (default: here); `found` defaults to what stands there.
    private func fail(_ problem: JSONSyntaxError.Problem, at offset: Int? = nil,
                      found: JSONSyntaxError.Found? = nil) -> JSONSyntaxError {
        let offset = min(offset ?? index, bytes.count)
        return JSONSyntaxError(problem: problem, position: position(offset), found: found ?? self.found(at: offset), path: path)
    }

    private func position(_ offset: Int) -> JSONPosition {
        var line = 1
        var lineStart = 0
        for i in 0..<offset where bytes[i] == 0x0A {
            line += 1
            lineStart = i + 1
        }
        return JSONPosition(offset: offset, line: line, column: String(decoding: bytes[lineStart..<offset], as: UTF8.self).count + 1,
                            byteColumn: offset - lineStart + 1)
    }

    private func found(at offset: Int) -> JSONSyntaxError.Found {
        guard offset < bytes.count else { return .end }
        var decoder = UTF8()
        var iterator = bytes[offset...].makeIterator()
        if case .scalarValue(let scalar) = decoder.decode(&iterator) { return .character(scalar) }
        return .invalidByte(bytes[offset])
    }

    private mutating func skipWhitespace() {
        while index < bytes.count {
            switch bytes[index] {
            case 0x20, 0x09, 0x0A, 0x0D: index += 1
            default: return
            }
        }
    }

    private mutating func parseValue() throws(JSONSyntaxError) -> JSONValue {
        guard index < bytes.count else { throw fail(.unexpected(.value)) }
        let python = options.dialect == .python
        switch bytes[index] {
        case UInt8(ascii: "{"), UInt8(ascii: "["):
            guard depth < JSONParser.maximumDepth else { throw fail(.tooDeep(limit: JSONParser.maximumDepth)) }
            depth += 1
            defer { depth -= 1 }
            return bytes[index] == UInt8(ascii: "{") ? try parseObject() : try parseArray()
        case UInt8(ascii: "\""): return .string(try parseString())
        case UInt8(ascii: "t"): return try literal("true", .bool(true))
        case UInt8(ascii: "f"): return try literal("false", .bool(false))
        case UInt8(ascii: "n"): return try literal("null", .null)
        case UInt8(ascii: "N") where python: return try literal("NaN", .float(.nan))
        case UInt8(ascii: "I") where python: return try literal("Infinity", .float(.infinity))
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return try parseNumber()
        default: throw fail(.unexpected(.value))
        }
    }

    private mutating func literal(_ word: String, _ value: JSONValue) throws(JSONSyntaxError) -> JSONValue {
        let w = Array(word.utf8)
        guard bytes[index...].starts(with: w) else {
            let truncated = bytes.count - index < w.count && w.starts(with: bytes[index...])
            throw fail(.unexpected(.literal(word)), found: truncated ? .end : nil)
        }
        index += w.count
        return value
    }

    private mutating func parseObject() throws(JSONSyntaxError) -> JSONValue {
        index += 1
        var object = JSONObject()
        // Keys are looked up by scanning while the object is small (most are), by hashing once it is not
        // (vocab.json has 50,000).
        var seen = Set<String>()
        skipWhitespace()
        if index < bytes.count, bytes[index] == UInt8(ascii: "}") {
            index += 1
            return .object(object)
        }
        while true {
            skipWhitespace()
            guard index < bytes.count, bytes[index] == UInt8(ascii: "\"") else { throw fail(.unexpected(.key)) }
            let keyStart = index
            let key = try parseString()
            let repeated: Bool
            if object.count < 16 {
                repeated = object.keys.contains(key)
            } else {
                if seen.isEmpty { seen = Set(object.keys) }
                repeated = !seen.insert(key).inserted
            }
            if repeated && options.duplicateKeys == .reject { throw fail(.duplicateKey(key), at: keyStart) }
            skipWhitespace()
            guard index < bytes.count, bytes[index] == UInt8(ascii: ":") else { throw fail(.unexpected(.colon(afterKey: key))) }
            index += 1
            skipWhitespace()
            path.append(.key(key))
            let value = try parseValue()
            path.removeLast()
            if repeated { object[key] = value } else { object.append(key, value) }
            skipWhitespace()
            guard index < bytes.count else { throw fail(.unexpected(.commaOrObjectEnd(afterKey: key))) }
            switch bytes[index] {
            case UInt8(ascii: ","): index += 1
            case UInt8(ascii: "}"):
                index += 1
                return .object(object)
            default: throw fail(.unexpected(.commaOrObjectEnd(afterKey: key)))
            }
        }
    }

    private mutating func parseArray() throws(JSONSyntaxError) -> JSONValue {
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
            guard index < bytes.count else { throw fail(.unexpected(.commaOrArrayEnd(afterItem: items.count - 1))) }
            switch bytes[index] {
            case UInt8(ascii: ","): index += 1
            case UInt8(ascii: "]"):
                index += 1
                return .array(items)
            default: throw fail(.unexpected(.commaOrArrayEnd(afterItem: items.count - 1)))
            }
        }
    }

    private mutating func parseNumber() throws(JSONSyntaxError) -> JSONValue {
        let start = index
        if bytes[index] == UInt8(ascii: "-") {
            index += 1
            if options.dialect == .python, index < bytes.count, bytes[index] == UInt8(ascii: "I") {
                _ = try literal("Infinity", .null)
                return .float(-.infinity)
            }
        }
        func digits() -> Int {
            let s = index
            while index < bytes.count, isASCIIDigit(bytes[index]) { index += 1 }
            return index - s
        }
        guard index < bytes.count else { throw fail(.unexpected(.digit)) }
        if bytes[index] == UInt8(ascii: "0") {
            index += 1
            if options.dialect == .rfc8259, index < bytes.count, isASCIIDigit(bytes[index]) { throw fail(.leadingZero, at: index - 1) }
        } else if digits() == 0 {
            throw fail(.unexpected(.digit))
        }
        var isFloat = false
        if index < bytes.count, bytes[index] == UInt8(ascii: ".") {
            index += 1
            guard digits() > 0 else { throw fail(.unexpected(.fractionDigit)) }
            isFloat = true
        }
        if index < bytes.count, bytes[index] == UInt8(ascii: "e") || bytes[index] == UInt8(ascii: "E") {
            index += 1
            if index < bytes.count, bytes[index] == UInt8(ascii: "+") || bytes[index] == UInt8(ascii: "-") { index += 1 }
            guard digits() > 0 else { throw fail(.unexpected(.exponentDigit)) }
            isFloat = true
        }
        let text = String(decoding: bytes[start..<index], as: UTF8.self)
        // Every JSON number reads as a Double (out of range: ±infinity, as in Python).
        if isFloat { return .float(Double(text)!) }
        return .integer(text == "-0" ? "0" : text)
    }

    /// A string at `index` (which holds the opening quote).
    private mutating func parseString() throws(JSONSyntaxError) -> String {
        let open = index
        index += 1
        let start = index
        // Fast path: no escapes.
        while index < bytes.count {
            let b = bytes[index]
            if b == UInt8(ascii: "\"") {
                let s = try text(bytes[start..<index], openedAt: open)
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
                return try text(out[...], openedAt: open)
            case UInt8(ascii: "\\"):
                let escape = index
                index += 1
                guard index < bytes.count else { throw fail(.unterminatedString(start: position(open))) }
                let e = bytes[index]
                index += 1
                switch e {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): out.append(e)
                case UInt8(ascii: "b"): out.append(0x08)
                case UInt8(ascii: "f"): out.append(0x0C)
                case UInt8(ascii: "n"): out.append(0x0A)
                case UInt8(ascii: "r"): out.append(0x0D)
                case UInt8(ascii: "t"): out.append(0x09)
                case UInt8(ascii: "u"): out.append(contentsOf: String(try unicodeEscape(at: escape)).utf8)
                default:
                    index -= 1
                    throw fail(.invalidEscape(start: position(escape)))
                }
            default:
                if b < 0x20 && !options.allowsControlCharacters { throw fail(.controlCharacter(b)) }
                out.append(b)
                index += 1
            }
        }
        throw fail(.unterminatedString(start: position(open)))
    }

    private func text(_ utf8: ArraySlice<UInt8>, openedAt open: Int) throws(JSONSyntaxError) -> String {
        guard let s = String(validating: utf8, as: UTF8.self) else { throw fail(.invalidUTF8, at: open) }
        return s
    }

    /// The character of a \u escape (`index` after the `u`), with the low half of a surrogate pair when
    /// one follows.
    private mutating func unicodeEscape(at escape: Int) throws(JSONSyntaxError) -> Unicode.Scalar {
        let python = options.dialect == .python
        var code = try hex4()
        if (0xD800..<0xDC00).contains(code) {
            if index + 1 < bytes.count, bytes[index] == UInt8(ascii: "\\"), bytes[index + 1] == UInt8(ascii: "u") {
                let second = index
                index += 2
                let low = try hex4()
                if (0xDC00..<0xE000).contains(low) {
                    code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
                } else if python {
                    index = second  // read on its own
                } else {
                    throw fail(.invalidSurrogatePair, at: escape)
                }
            } else if !python {
                throw fail(.loneSurrogate(code), at: escape)
            }
        } else if (0xDC00..<0xE000).contains(code), !python {
            throw fail(.loneSurrogate(code), at: escape)
        }
        // Python keeps a lone surrogate; a Swift string cannot hold one. It never occurs in ToolBench data
        // (such a text cannot even be written out as UTF-8).
        return Unicode.Scalar(code) ?? "\u{FFFD}"
    }

    private mutating func hex4() throws(JSONSyntaxError) -> UInt32 {
        var v: UInt32 = 0
        for _ in 0..<4 {
            guard index < bytes.count, let digit = Self.hexValue(bytes[index]) else { throw fail(.unexpected(.hexDigit)) }
            v = v << 4 | digit
            index += 1
        }
        return v
    }

    private static func hexValue(_ c: UInt8) -> UInt32? {
        if isASCIIDigit(c) { return UInt32(c - UInt8(ascii: "0")) }
        let lower = c | 0x20
        return lower >= UInt8(ascii: "a") && lower <= UInt8(ascii: "f") ? UInt32(lower - UInt8(ascii: "a") + 10) : nil
    }
}
