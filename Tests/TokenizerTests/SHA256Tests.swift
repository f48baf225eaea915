import Foundation
import Testing
import Tokenizer

@Suite struct SHA256Tests {
    /// FIPS 180-4 example messages (NIST CSRC "SHA-256" examples).
    @Test func standardVectors() {
        #expect(SHA256.hash(Array("".utf8)).hexString == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        #expect(SHA256.hash(Array("abc".utf8)).hexString == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(SHA256.hash(Array("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq".utf8)).hexString
            == "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
        #expect(SHA256.hash(Array("abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu".utf8)).hexString
            == "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1")
        #expect(SHA256.hash([UInt8](repeating: UInt8(ascii: "a"), count: 1_000_000)).hexString
            == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
    }

    /// Feeding the bytes in pieces gives the same digest, across the 55/56/64-byte padding edges.
    @Test func incrementalUpdatesAgree() {
        for length in [0, 1, 55, 56, 57, 63, 64, 65, 119, 120, 128, 1000] {
            let message = (0..<length).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) }
            let whole = SHA256.hash(message)
            for cut in Set([0, length / 3, length / 2, length]) {
                var h = SHA256()
                h.update(message[..<cut])
                h.update(message[cut...])
                #expect(h.finalize() == whole, "length \(length), cut \(cut)")
            }
        }
    }

    /// The demo files against the digests Python's hashlib wrote into the fixture, and the tokenizer's
    /// identity = sha256(vocab.json bytes + merges.txt bytes) (`cat vocab.json merges.txt | sha256sum`).
    @Test func tokenizerFilesAndIdentity() throws {
        let info = try Fixtures.read("demo_ids.json", as: Fixtures.DemoIDs.self).tokenizer
        let vocab = try [UInt8](Data(contentsOf: Fixtures.demoTokenizer.appendingPathComponent("vocab.json")))
        let merges = try [UInt8](Data(contentsOf: Fixtures.demoTokenizer.appendingPathComponent("merges.txt")))
        #expect(SHA256.hash(vocab).hexString == info.vocab_json_sha256)
        #expect(SHA256.hash(merges).hexString == info.merges_txt_sha256)
        let tokenizer = try Fixtures.demo()
        #expect(tokenizer.sha256 == SHA256.hash(vocab + merges).hexString)
        // Written down from coreutils' sha256sum of the concatenation (demo/tokenizer as committed).
        #expect(tokenizer.sha256 == "f548a8fe2f2ea16a001e6c9e09b199022dbc6a0e629ede65f354c3cb30c173f5")
    }
}
