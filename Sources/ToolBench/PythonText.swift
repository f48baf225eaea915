/// Python `str` operations that ToolBench's code applies to its strings, on Unicode scalars (Python's
/// characters).
public enum PythonText {
    /// `s[:n]`.
    public static func prefix(_ s: String, _ n: Int) -> String {
        String(String.UnicodeScalarView(s.unicodeScalars.prefix(n)))
    }

    /// `s[-n:]`.
    public static func suffix(_ s: String, _ n: Int) -> String {
        String(String.UnicodeScalarView(s.unicodeScalars.suffix(n)))
    }

    /// `s.strip()`: Unicode whitespace and the separators U+001C...U+001F off both ends.
    public static func strip(_ s: String) -> String {
        func isSpace(_ c: Unicode.Scalar) -> Bool { c.properties.isWhitespace || (0x1C...0x1F).contains(c.value) }
        let scalars = Array(s.unicodeScalars)
        guard let first = scalars.firstIndex(where: { !isSpace($0) }) else { return "" }
        let last = scalars.lastIndex(where: { !isSpace($0) })!
        return String(String.UnicodeScalarView(scalars[first...last]))
    }
}
