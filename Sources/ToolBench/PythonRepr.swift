import JSON

/// Python's `repr`/`str` of the values `json.load` produces, byte for byte: ToolBench's
/// `process_system_message` appends `str(functions)` to the system prompt, so a faithful renderer must
/// print dicts, lists, strings, numbers, True/False/None exactly as CPython does.
public enum PythonRepr {
    /// `repr(value)` (for containers `str` and `repr` are the same).
    public static func repr(_ value: JSONValue) -> String {
        var out = ""
        write(value, to: &out)
        return out
    }

    public static func write(_ value: JSONValue, to out: inout String) {
        value.write(to: &out, separators: .python, string: string) { scalar, out in
            switch scalar {
            case .null: out += "None"
            case .bool(let b): out += b ? "True" : "False"
            case .integer(let text): out += text
            case .float(let d): out += d.pythonRepr
            default: preconditionFailure("write hands over scalars only")
            }
        }
    }

    /// `repr(str)`: single quotes unless the text has a single quote and no double quote; backslash,
    /// the chosen quote, \t \n \r escaped; other non-printable characters as \xhh, \uhhhh or \Uhhhhhhhh.
    public static func string(_ s: String) -> String {
        let useDouble = s.utf8.contains(UInt8(ascii: "'")) && !s.utf8.contains(UInt8(ascii: "\""))
        let quote: Unicode.Scalar = useDouble ? "\"" : "'"
        var out = String.UnicodeScalarView()
        out.append(quote)
        for scalar in s.unicodeScalars {
            switch scalar {
            case quote, "\\":
                out.append("\\")
                out.append(scalar)
            case "\t": out.append(contentsOf: "\\t".unicodeScalars)
            case "\n": out.append(contentsOf: "\\n".unicodeScalars)
            case "\r": out.append(contentsOf: "\\r".unicodeScalars)
            default:
                if scalar.value >= 0x20 && scalar.value < 0x7F {
                    out.append(scalar)
                } else if scalar.value >= 0x80 && isPrintable(scalar) {
                    out.append(scalar)
                } else {
                    out.append(contentsOf: escape(scalar).unicodeScalars)
                }
            }
        }
        out.append(quote)
        return String(out)
    }

    private static func escape(_ scalar: Unicode.Scalar) -> String {
        let hex = String(scalar.value, radix: 16)
        if scalar.value < 0x100 { return "\\x" + String(repeating: "0", count: 2 - hex.count) + hex }
        if scalar.value < 0x10000 { return "\\u" + String(repeating: "0", count: 4 - hex.count) + hex }
        return "\\U" + String(repeating: "0", count: 8 - hex.count) + hex
    }

    /// CPython's `str.isprintable` for one character: not in categories Cc, Cf, Cs, Co, Cn, Zl, Zp, Zs
    /// (the ASCII space is handled by the caller).
    static func isPrintable(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.properties.generalCategory {
        case .control, .format, .surrogate, .privateUse, .unassigned, .lineSeparator, .paragraphSeparator, .spaceSeparator:
            return false
        default:
            return true
        }
    }

    /// Reads back what `repr` writes for JSON-like data (lists, dicts with string keys, strings, ints,
    /// floats, True/False/None). Returns nil on anything else; callers check `repr(parsed) == text`
    /// before relying on it, so only exact round trips are used.
    public static func parseLiteral(_ text: String) -> JSONValue? {
        var reader = LiteralReader(scalars: Array(text.unicodeScalars))
        guard let value = reader.value() else { return nil }
        reader.skipSpaces()
        return reader.index == reader.scalars.count ? value : nil
    }
}

/// A recursive-descent reader for Python literals as `repr` prints JSON-like data.
private struct LiteralReader {
    let scalars: [Unicode.Scalar]
    var index = 0

    init(scalars: [Unicode.Scalar]) { self.scalars = scalars }

    mutating func skipSpaces() {
        while index < scalars.count, scalars[index] == " " { index += 1 }
    }

    func peek() -> Unicode.Scalar? { index < scalars.count ? scalars[index] : nil }

    mutating func word(_ w: String) -> Bool {
        let ws = Array(w.unicodeScalars)
        guard index + ws.count <= scalars.count, Array(scalars[index..<index + ws.count]) == ws else { return false }
        index += ws.count
        return true
    }

    mutating func value() -> JSONValue? {
        skipSpaces()
        guard let c = peek() else { return nil }
        switch c {
        case "[":
            index += 1
            var items: [JSONValue] = []
            skipSpaces()
            if peek() == "]" { index += 1; return .array(items) }
            while true {
                guard let item = value() else { return nil }
                items.append(item)
                skipSpaces()
                if peek() == "," { index += 1; continue }
                if peek() == "]" { index += 1; return .array(items) }
                return nil
            }
        case "{":
            index += 1
            var object = JSONObject()
            skipSpaces()
            if peek() == "}" { index += 1; return .object(object) }
            while true {
                skipSpaces()
                guard let key = value(), case .string(let k) = key else { return nil }
                skipSpaces()
                guard peek() == ":" else { return nil }
                index += 1
                guard let item = value() else { return nil }
                object[k] = item
                skipSpaces()
                if peek() == "," { index += 1; continue }
                if peek() == "}" { index += 1; return .object(object) }
                return nil
            }
        case "'", "\"":
            return string(quote: c).map { .string($0) }
        case "T": return word("True") ? .bool(true) : nil
        case "F": return word("False") ? .bool(false) : nil
        case "N": return word("None") ? .null : nil
        case "i": return word("inf") ? .float(.infinity) : nil
        case "n": return word("nan") ? .float(.nan) : nil
        default: return number()
        }
    }

    mutating func number() -> JSONValue? {
        let start = index
        if peek() == "-" {
            index += 1
            if word("inf") { return .float(-.infinity) }
        }
        var isFloat = false
        while let c = peek(), ("0"..."9").contains(c) || c == "." || c == "e" || c == "E" || c == "+" || c == "-" {
            if c == "." || c == "e" || c == "E" { isFloat = true }
            index += 1
        }
        let text = String(String.UnicodeScalarView(scalars[start..<index]))
        if isFloat { return Double(text).map { .float($0) } }
        return Int(text) != nil || (text.count > 18 && text.dropFirst(text.first == "-" ? 1 : 0).allSatisfy(\.isNumber))
            ? .integer(text) : nil
    }

    mutating func string(quote: Unicode.Scalar) -> String? {
        index += 1
        var out = String.UnicodeScalarView()
        while let c = peek() {
            index += 1
            if c == quote { return String(out) }
            guard c == "\\" else { out.append(c); continue }
            guard let e = peek() else { return nil }
            index += 1
            switch e {
            case "\\", "'", "\"": out.append(e)
            case "n": out.append("\n")
            case "r": out.append("\r")
            case "t": out.append("\t")
            case "x", "u", "U":
                let width = e == "x" ? 2 : e == "u" ? 4 : 8
                guard index + width <= scalars.count,
                      let v = UInt32(String(String.UnicodeScalarView(scalars[index..<index + width])), radix: 16),
                      let s = Unicode.Scalar(v) else { return nil }
                index += width
                out.append(s)
            default: return nil
            }
        }
        return nil
    }
}
