import Foundation
import Testing
import Tokenizer

/// The demo tokenizer against Hugging Face `tokenizers` on the fixture corpus (61 strings: edge cases and
/// rendered demo examples).
@Suite struct ParityTests {
    let tokenizer: Tokenizer
    let cases: [Fixtures.Case]

    init() throws {
        tokenizer = try Fixtures.demo()
        cases = try Fixtures.cases()
    }

    @Test func idsEqualTokenizersWithAndWithoutBOS() {
        #expect(cases.count == 61)
        for c in cases {
            let ids = tokenizer.encode(c.text, addBOS: false)
            #expect(ids == c.ids, "\(c.name): \(firstDifference(ids, c.ids))")
            let withBOS = tokenizer.encode(c.text, addBOS: true)
            #expect(withBOS == c.idsWithBOS, "\(c.name) with BOS: \(firstDifference(withBOS, c.idsWithBOS))")
        }
    }

    @Test func piecesEqualTheGPT2Regex() {
        for c in cases {
            let bytes = Array(c.text.utf8)
            let pieces = tokenizer.preTokenize(c.text).map { String(decoding: bytes[$0], as: UTF8.self) }
            #expect(pieces == c.pieces, "\(c.name)")
        }
    }

    @Test func decodeReturnsTheInputBytes() throws {
        for c in cases {
            #expect(try tokenizer.decodeBytes(c.ids) == Array(c.text.utf8), "\(c.name)")
            #expect(try tokenizer.decode(c.ids) == c.text, "\(c.name)")
            #expect(try tokenizer.decode(c.idsWithBOS) == "</s>" + c.text, "\(c.name)")
        }
    }

    @Test func offsetsCoverTheInputExactly() throws {
        for c in cases {
            let bytes = Array(c.text.utf8)
            for addBOS in [false, true] {
                let encoding = tokenizer.encodeWithOffsets(c.text, addBOS: addBOS)
                #expect(encoding.ids == (addBOS ? c.idsWithBOS : c.ids), "\(c.name)")
                #expect(encoding.byteOffsets.first == 0 && encoding.byteOffsets.last == bytes.count, "\(c.name)")
                for i in encoding.ids.indices {
                    let range = encoding.byteRange(ofToken: i)
                    if addBOS && i == 0 {
                        #expect(range == 0..<0, "\(c.name): BOS covers nothing")
                        continue
                    }
                    // Each token covers a non-empty stretch, and exactly the bytes it decodes to.
                    #expect(!range.isEmpty, "\(c.name) token \(i)")
                    #expect(try tokenizer.decodeBytes([encoding.ids[i]]) == Array(bytes[range]), "\(c.name) token \(i)")
                }
            }
        }
    }

    /// What the loss mask needs: the rendered demo examples split after the last "\nAssistant: " (the
    /// fixture script checks that context and target tokenize independently there).
    @Test func boundaryAtTheTargetStart() throws {
        let rendered = cases.filter { $0.name.hasPrefix("demo_") }
        #expect(rendered.count == 8)
        for c in rendered {
            let marker = c.text.range(of: "\nAssistant: ", options: .backwards)!
            let context = String(c.text[..<marker.upperBound]), target = String(c.text[marker.upperBound...])
            let encoding = tokenizer.encodeWithOffsets(c.text, addBOS: true)
            let contextIDs = tokenizer.encode(context, addBOS: true)
            let k = try #require(encoding.boundary(atByte: context.utf8.count), "\(c.name)")
            #expect(k == contextIDs.count, "\(c.name)")
            #expect(Array(encoding.ids[k...]) == tokenizer.encode(target, addBOS: false), "\(c.name)")
            #expect(try tokenizer.decode(encoding.ids[k...]) == target, "\(c.name)")
            #expect(target.hasSuffix("</s>") && encoding.ids.last == tokenizer.eosID, "\(c.name)")
        }
    }

    @Test func boundaryInsideATokenIsNil() {
        // "😀" is 4 bytes; with the demo vocabulary it is more than one token, so some byte offset inside it
        // is a token boundary and some is not.
        let encoding = tokenizer.encodeWithOffsets("I love it 😀😀 🎉!", addBOS: true)
        #expect(encoding.boundary(atByte: 0) == 1)
        #expect(encoding.boundary(atByte: encoding.byteOffsets.last!) == encoding.ids.count)
        let interior = (0...encoding.byteOffsets.last!).filter { !encoding.byteOffsets.contains($0) }
        #expect(!interior.isEmpty)
        for offset in interior { #expect(encoding.boundary(atByte: offset) == nil) }
        for (i, offset) in encoding.byteOffsets.enumerated().dropFirst() {
            #expect(encoding.boundary(atByte: offset) == i)
        }
    }

    /// Texts that exercise the merge order far from the corpus: long runs (many equal-rank pairs) and
    /// every byte value (decodeBytes must restore each).
    @Test func longRunsAndEveryByteRoundTrip() throws {
        let scalars = (0..<0x3000).compactMap(Unicode.Scalar.init).map(String.init).joined()
        for text in [String(repeating: "ab", count: 5000), String(repeating: "a", count: 20001), scalars,
                     String(repeating: " ", count: 1000) + "x" + String(repeating: "\n", count: 999)] {
            let ids = tokenizer.encode(text, addBOS: false)
            #expect(try tokenizer.decodeBytes(ids) == Array(text.utf8))
            #expect(tokenizer.preTokenize(text).reduce(0) { $0 + $1.count } == text.utf8.count)
        }
    }
}
