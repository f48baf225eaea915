import Foundation
import Testing
import Tokenizer

/// `GPT2PreTokenizer.classify` against the class Hugging Face `tokenizers` gives every scalar
/// (Tests/Fixtures/tokenizer/unicode_classes.json).
@Suite struct UnicodeClassTests {
    struct Classes: Decodable {
        let tokenizers_version: String
        let runs: [Run]
        struct Run: Decodable {
            let start: UInt32
            let cls: String
            init(from decoder: Decoder) throws {
                var c = try decoder.unkeyedContainer()
                start = try c.decode(UInt32.self)
                cls = try c.decode(String.self)
            }
        }
    }

    static let letters: [GPT2PreTokenizer.CharacterClass: String] = [.letter: "L", .number: "N", .whitespace: "S", .other: "O"]

    @Test func everyScalarMatchesTokenizers() throws {
        let fixture = try Fixtures.read("unicode_classes.json", as: Classes.self)
        var mismatches: [String] = []
        var checked = 0
        for (i, run) in fixture.runs.enumerated() {
            let end = i + 1 < fixture.runs.count ? fixture.runs[i + 1].start : 0x110000
            for v in run.start..<end {
                guard let scalar = Unicode.Scalar(v) else { continue }
                checked += 1
                let cls = Self.letters[GPT2PreTokenizer.classify(scalar)]!
                if cls != run.cls, mismatches.count < 20 { mismatches.append("U+\(String(v, radix: 16)): \(cls), tokenizers \(run.cls)") }
            }
        }
        #expect(checked == 0x110000 - 0x800)
        #expect(mismatches.isEmpty, "\(mismatches)")
    }

    /// The category sets written in GPT2PreTokenizer's doc comment.
    @Test func documentedSets() {
        let whitespace: [UInt32] = [0x9, 0xA, 0xB, 0xC, 0xD, 0x20, 0x85, 0xA0, 0x1680] + Array(0x2000...0x200A)
            + [0x2028, 0x2029, 0x202F, 0x205F, 0x3000]
        let found = (0..<UInt32(0x110000)).filter { v in Unicode.Scalar(v).map { GPT2PreTokenizer.classify($0) == .whitespace } ?? false }
        #expect(found == whitespace)
        for v: UInt32 in [0x1C, 0x1F, 0x180E, 0x200B, 0xFEFF] { #expect(GPT2PreTokenizer.classify(Unicode.Scalar(v)!) == .other) }
        #expect(GPT2PreTokenizer.classify("ǅ") == .letter)    // Lt
        #expect(GPT2PreTokenizer.classify("ʰ") == .letter)    // Lm
        #expect(GPT2PreTokenizer.classify("Ⅻ") == .number)    // Nl
        #expect(GPT2PreTokenizer.classify("½") == .number)    // No
        #expect(GPT2PreTokenizer.classify("\u{301}") == .other)  // Mn
        #expect(GPT2PreTokenizer.classify("\u{200D}") == .other) // Cf (ZWJ)
    }
}
