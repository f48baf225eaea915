/// GPT-2's pre-tokenizer, written by hand: it splits text into the pieces that the regex
///
///     's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
///
/// finds (Python `regex` / Rust `tokenizers` with Oniguruma), over Unicode scalars, never Swift
/// Characters (grapheme clusters would keep "\r\n", "e\u{301}" and ZWJ emoji sequences together; the
/// regex does not). The alternatives are tried in order at each position and the first that matches
/// wins; every scalar matches one of them, so pieces cover the text without gaps.
///
/// - Contractions: ASCII apostrophe U+0027 only, lower case only ("'S" is not one).
/// - The optional prefix ` ?` is U+0020 only: "\t" or U+00A0 before a word is its own piece.
/// - `\s+(?!\S)` takes a whitespace run up to the end of the text, or all of it but its last scalar when
///   something else follows (that scalar then prefixes the next word if it is U+0020, else `\s+` takes it
///   alone).
///
/// Character classes, as `CharacterClass` below defines them for every scalar assigned in Unicode 16.0
/// or earlier (later scalars are `other`, see `classify`):
/// - `\s` = White_Space: U+0009–U+000D, U+0020, U+0085, U+00A0, U+1680, U+2000–U+200A, U+2028, U+2029,
///   U+202F, U+205F, U+3000 (the same set as U+0009–U+000D, U+0085 and the categories Zs, Zl, Zp;
///   U+001C–U+001F, U+200B, U+180E and U+FEFF are not whitespace).
/// - `\p{L}` = general categories Lu, Ll, Lt, Lm, Lo.
/// - `\p{N}` = Nd, Nl, No.
/// - everything else (punctuation, symbols, marks M*, controls Cc, format Cf incl. ZWJ, private use,
///   unassigned) is `other`.
public enum GPT2PreTokenizer {
    /// The classes the GPT-2 pattern distinguishes. (White_Space has no letters or numbers, so the
    /// classes do not overlap.)
    public enum CharacterClass: UInt8, Sendable, CaseIterable {
        case letter, number, whitespace, other
    }

    /// The newest Unicode version whose scalars are classified by their properties. `tokenizers` 0.23
    /// (Oniguruma) has Unicode 16.0 tables; Swift 6.3 has 17.0. Pinning the version keeps the token ids
    /// of a text independent of the Swift toolchain that built ToolTune (a prepared dataset and a
    /// checkpoint must agree) and equal to the reference's. Checked for every scalar by the tests.
    public static let unicodeVersion = (major: 16, minor: 0)

    /// The class of one scalar, from Swift's Unicode properties (see the type's doc comment).
    public static func classify(_ scalar: Unicode.Scalar) -> CharacterClass {
        let properties = scalar.properties
        guard let age = properties.age,
              age.major < unicodeVersion.major || (age.major == unicodeVersion.major && age.minor <= unicodeVersion.minor)
        else { return .other }
        if properties.isWhitespace { return .whitespace }
        switch properties.generalCategory {
        case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter: return .letter
        case .decimalNumber, .letterNumber, .otherNumber: return .number
        default: return .other
        }
    }
}

/// `GPT2PreTokenizer.classify` precomputed for the scalars below U+20000 (planes 0 and 1, where nearly all
/// text and emoji live); the rest is classified on the fly. Immutable after init.
final class CharacterClassTable: @unchecked Sendable {
    static let shared = CharacterClassTable()
    static let count = 0x20000
    let classes: UnsafeMutablePointer<UInt8>

    private init() {
        classes = .allocate(capacity: Self.count)
        for v in 0..<UInt32(Self.count) {
            classes[Int(v)] = Unicode.Scalar(v).map { GPT2PreTokenizer.classify($0).rawValue }
                ?? GPT2PreTokenizer.CharacterClass.other.rawValue
        }
    }
}

/// Finds the GPT-2 pieces of a UTF-8 buffer (valid UTF-8, as every Swift String is).
struct PieceScanner {
    let text: UnsafePointer<UInt8>
    let classes: UnsafePointer<UInt8>

    private static let whitespace = GPT2PreTokenizer.CharacterClass.whitespace.rawValue

    init(_ text: UnsafePointer<UInt8>) {
        self.text = text
        classes = UnsafePointer(CharacterClassTable.shared.classes)
    }

    /// The class of the scalar starting at byte `i`, and its length in bytes.
    @inline(__always)
    func scalar(at i: Int) -> (cls: UInt8, length: Int) {
        let b0 = text[i]
        if b0 < 0x80 { return (classes[Int(b0)], 1) }
        let v: UInt32, length: Int
        if b0 < 0xE0 {
            v = UInt32(b0 & 0x1F) << 6 | UInt32(text[i + 1] & 0x3F)
            length = 2
        } else if b0 < 0xF0 {
            v = UInt32(b0 & 0x0F) << 12 | UInt32(text[i + 1] & 0x3F) << 6 | UInt32(text[i + 2] & 0x3F)
            length = 3
        } else {
            v = UInt32(b0 & 0x07) << 18 | UInt32(text[i + 1] & 0x3F) << 12 | UInt32(text[i + 2] & 0x3F) << 6
                | UInt32(text[i + 3] & 0x3F)
            length = 4
        }
        if v < UInt32(CharacterClassTable.count) { return (classes[Int(v)], length) }
        return (GPT2PreTokenizer.classify(Unicode.Scalar(v)!).rawValue, length)
    }

    /// The end of the piece that starts at `start`; `end` is the end of the segment (pieces never cross it).
    @inline(__always)
    func pieceEnd(from start: Int, end: Int) -> Int {
        let b = text[start]
        if b == UInt8(ascii: "'"), start + 1 < end {
            switch text[start + 1] {
            case UInt8(ascii: "s"), UInt8(ascii: "t"), UInt8(ascii: "m"), UInt8(ascii: "d"):
                return start + 2
            case UInt8(ascii: "r"), UInt8(ascii: "v"):
                if start + 2 < end, text[start + 2] == UInt8(ascii: "e") { return start + 3 }
            case UInt8(ascii: "l"):
                if start + 2 < end, text[start + 2] == UInt8(ascii: "l") { return start + 3 }
            default:
                break
            }
        }
        var (cls, length) = scalar(at: start)
        var p = start + length
        if b == 0x20, p < end {
            // " ?" : a U+0020 joins a following letter, number or other run.
            let next = scalar(at: p)
            if next.cls != Self.whitespace {
                cls = next.cls
                p += next.length
            }
        }
        if cls != Self.whitespace {
            while p < end {
                let s = scalar(at: p)
                if s.cls != cls { break }
                p += s.length
            }
            return p
        }
        var lastStart = start
        while p < end {
            let s = scalar(at: p)
            if s.cls != Self.whitespace { break }
            lastStart = p
            p += s.length
        }
        // \s+(?!\S): to the end of the text, or leave the run's last scalar for what follows; a run of one
        // scalar before a non-space falls to the final \s+ and is taken whole.
        return p == end || lastStart == start ? p : lastStart
    }
}
