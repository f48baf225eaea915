/// Python's `json.dumps(value)` with its defaults, byte for byte: separators ", " and ": ", keys in
/// order, `ensure_ascii` (every non-ASCII character as \uXXXX, astral ones as a surrogate pair),
/// NaN/Infinity written bare, floats as `repr(float)`. ToolBench's environment serializes its
/// observations this way (`json.dumps({"error": ..., "response": ...})`).
public enum PythonJSON {
    public static func dumps(_ value: JSONValue) -> String {
        var out = ""
        write(value, to: &out)
        return out
    }

    static func write(_ value: JSONValue, to out: inout String) {
        PythonRepr.writeNested(value, to: &out, string: string) { scalar, out in
            switch scalar {
            case .null: out += "null"
            case .bool(let b): out += b ? "true" : "false"
            case .integer(let text): out += text
            case .float(let d): out += d.isNaN ? "NaN" : d.isInfinite ? (d < 0 ? "-Infinity" : "Infinity") : PythonRepr.float(d)
            default: preconditionFailure("writeNested hands over scalars only")
            }
        }
    }

    /// A JSON string literal with `ensure_ascii` escaping (json.encoder's ESCAPE_ASCII rules).
    public static func string(_ s: String) -> String {
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
                if scalar.value >= 0x20 && scalar.value < 0x7F {
                    out.unicodeScalars.append(scalar)
                } else if scalar.value < 0x10000 {
                    out += hex4(scalar.value)
                } else {
                    let v = scalar.value - 0x10000
                    out += hex4(0xD800 + (v >> 10)) + hex4(0xDC00 + (v & 0x3FF))
                }
            }
        }
        return out + "\""
    }

    private static func hex4(_ v: UInt32) -> String {
        let hex = String(v, radix: 16)
        return "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
    }
}
