/// GPT-2's reversible byte <-> character map: vocab.json spells every byte as one printable character.
/// Bytes that are printable Latin-1 (`!`...`~`, `¡`...`¬`, `®`...`ÿ`) stand for themselves; the other 68
/// (controls, space, U+007F...U+00A0, soft hyphen) are U+0100, U+0101, ... in byte order, so a space is
/// "Ġ" (U+0120) and "\n" is "Ċ" (U+010A).
enum ByteLevel {
    /// The character for each byte.
    static let characters: [Unicode.Scalar] = {
        var out = [Unicode.Scalar](repeating: " ", count: 256)
        var next: UInt32 = 256
        for b in 0..<256 {
            if isPrintable(UInt8(b)) {
                out[b] = Unicode.Scalar(UInt8(b))
            } else {
                out[b] = Unicode.Scalar(next)!
                next += 1
            }
        }
        return out
    }()

    /// The byte a character stands for, or nil when the character is not one of the 256.
    static func byte(for scalar: Unicode.Scalar) -> UInt8? {
        let v = scalar.value
        if v < 256 { return isPrintable(UInt8(v)) ? UInt8(v) : nil }
        guard v < 256 + 68 else { return nil }
        return unprintable[Int(v - 256)]
    }

    private static func isPrintable(_ b: UInt8) -> Bool {
        (0x21...0x7E).contains(b) || (0xA1...0xAC).contains(b) || (0xAE...0xFF).contains(b)
    }

    private static let unprintable: [UInt8] = (0..<256).map(UInt8.init).filter { !isPrintable($0) }

    /// The bytes a vocab.json token stands for: each byte character gives its byte; any other character
    /// (only possible in added tokens) gives its own UTF-8, as Hugging Face's ByteLevel decoder does.
    static func bytes(ofToken token: String) -> [UInt8] {
        var out: [UInt8] = []
        for scalar in token.unicodeScalars {
            if let b = byte(for: scalar) { out.append(b) } else { out.append(contentsOf: String(scalar).utf8) }
        }
        return out
    }
}
