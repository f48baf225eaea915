/// The separators between list items and between a key and its value.
public struct JSONSeparators: Sendable {
    public let item: String
    public let key: String

    public init(item: String, key: String) {
        self.item = item
        self.key = key
    }

    /// Python's `json.dumps` defaults (and `repr` of lists and dicts): `", "` and `": "`.
    public static let python = JSONSeparators(item: ", ", key: ": ")
    /// No spaces: `json.dumps(separators=(",", ":"))`, and what serde_json (the safetensors library) writes.
    public static let compact = JSONSeparators(item: ",", key: ":")
}

extension JSONValue {
    /// Python's `json.dumps(value, ensure_ascii=ensureASCII, separators=separators)`, byte for byte: keys
    /// in order, NaN/Infinity written bare, floats as `repr(float)`. ToolBench's environment serializes its
    /// observations with the defaults (`json.dumps({"error": ..., "response": ...})`).
    public func dumps(ensureASCII: Bool = true, separators: JSONSeparators = .python) -> String {
        var out = ""
        write(to: &out, separators: separators, string: { JSONValue.quoted($0, ensureASCII: ensureASCII) }) { scalar, out in
            switch scalar {
            case .null: out += "null"
            case .bool(let b): out += b ? "true" : "false"
            case .integer(let text): out += text
            case .float(let d): out += d.isNaN ? "NaN" : d.isInfinite ? (d < 0 ? "-Infinity" : "Infinity") : d.pythonRepr
            default: preconditionFailure("write hands over scalars only")
            }
        }
        return out
    }

    /// Lists and objects laid out as Python prints them (`[a, b]`, `{k: v}` with `separators`), with
    /// `string` writing strings and keys and `scalar` the other values: the frame `json.dumps` shares with
    /// Python's `repr` of the same data.
    public func write(to out: inout String, separators: JSONSeparators, string: (String) -> String,
                      scalar: (JSONValue, inout String) -> Void) {
        switch self {
        case .string(let s): out += string(s)
        case .array(let items):
            out += "["
            for (i, item) in items.enumerated() {
                if i > 0 { out += separators.item }
                item.write(to: &out, separators: separators, string: string, scalar: scalar)
            }
            out += "]"
        case .object(let object):
            out += "{"
            for (i, (key, item)) in object.pairs.enumerated() {
                if i > 0 { out += separators.item }
                out += string(key) + separators.key
                item.write(to: &out, separators: separators, string: string, scalar: scalar)
            }
            out += "}"
        default: scalar(self, &out)
        }
    }

    /// A JSON string literal as `json.dumps` writes it: `"` and `\` escaped, \n \r \t \b \f by letter, other
    /// control characters as \u00XX; with `ensureASCII` also everything from DEL up as \uXXXX (astral
    /// characters as a surrogate pair). Without it this is also serde_json's escaping.
    public static func quoted(_ s: String, ensureASCII: Bool = false) -> String {
        var out = "\""
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case "\u{08}": out += "\\b"
            case "\u{0C}": out += "\\f"
            default:
                if scalar.value < 0x20 || (ensureASCII && scalar.value >= 0x7F) {
                    if scalar.value < 0x10000 {
                        out += "\\u" + hex(scalar.value, digits: 4)
                    } else {
                        let v = scalar.value - 0x10000
                        out += "\\u" + hex(0xD800 + (v >> 10), digits: 4) + "\\u" + hex(0xDC00 + (v & 0x3FF), digits: 4)
                    }
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        return out + "\""
    }
}

extension Double {
    /// Python's `repr(float)`: the shortest digits that round-trip, printed in positional notation when the
    /// decimal exponent is in -4 < decpt <= 16 and in exponent notation (`1e-05`, `1.5e+16`) otherwise.
    public var pythonRepr: String {
        if isNaN { return "nan" }
        if isInfinite { return self < 0 ? "-inf" : "inf" }
        let sign = self.sign == .minus ? "-" : ""
        if self == 0 { return sign + "0.0" }
        // Swift's description is also the shortest round-tripping digit string (closest on ties);
        // only its layout differs from Python's, so take its digits and exponent and lay them out again.
        let text = abs(self).description
        var mantissa = Substring(text)
        var exponent = 0
        if let e = text.firstIndex(where: { $0 == "e" || $0 == "E" }) {
            mantissa = text[..<e]
            exponent = Int(text[text.index(after: e)...]) ?? 0
        }
        let parts = mantissa.split(separator: ".", omittingEmptySubsequences: false)
        let intPart = String(parts[0])
        let fracPart = parts.count > 1 ? String(parts[1]) : ""
        var digits = intPart + fracPart
        // value = 0.digits * 10^decpt
        var decpt = intPart.count + exponent
        while digits.first == "0" {
            digits.removeFirst()
            decpt -= 1
        }
        while digits.last == "0" { digits.removeLast() }
        let n = digits.count
        if decpt <= -4 || decpt > 16 {
            let e = decpt - 1
            var out = sign + String(digits.first!)
            if n > 1 { out += "." + digits.dropFirst() }
            let magnitude = String(abs(e))
            out += "e" + (e < 0 ? "-" : "+") + (magnitude.count < 2 ? "0" : "") + magnitude
            return out
        }
        if decpt <= 0 { return sign + "0." + String(repeating: "0", count: -decpt) + digits }
        if decpt >= n { return sign + digits + String(repeating: "0", count: decpt - n) + ".0" }
        return sign + digits.prefix(decpt) + "." + digits.dropFirst(decpt)
    }
}
