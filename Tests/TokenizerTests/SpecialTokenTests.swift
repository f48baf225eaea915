import Foundation
import Testing
import TestSupport
import Tokenizer

@Suite struct SpecialTokenTests {
    @Test func optSpecialTokens() throws {
        let t = try Fixtures.demo()
        #expect(t.vocabularySize == 4096)
        #expect(t.bosID == 2 && t.eosID == 2 && t.padID == 1)
        #expect(t.specialTokens == ["</s>": 2, "<pad>": 1])
        #expect(t.encode("</s>", addBOS: false) == [2])
        #expect(t.encode("<pad>", addBOS: true) == [2, 1])
        #expect(t.encode("", addBOS: true) == [2])
        #expect(t.encode("", addBOS: false) == [])
        // "<s>" and "<unk>" are in the vocabulary but not declared special: ordinary text.
        #expect(!t.encode("<s>", addBOS: false).contains(0))
        #expect(!t.encode("<unk>", addBOS: false).contains(3))
        #expect(try t.decode(t.encode("<s>x<unk>", addBOS: false)) == "<s>x<unk>")
        // Text next to a special token is pre-tokenized on its own: "a</s>b" is three tokens' worth of pieces.
        let bytes = Array("x </s> y".utf8)
        #expect(t.preTokenize("x </s> y").map { String(decoding: bytes[$0], as: UTF8.self) } == ["x", " ", "</s>", " y"])
    }

    @Test func lookups() throws {
        let t = try Fixtures.demo()
        #expect(t.id(forToken: "</s>") == 2)
        #expect(t.token(forID: 0) == "<s>")
        #expect(t.token(forID: 4096) == nil && t.token(forID: -1) == nil)
        #expect(t.id(forToken: "Ġ") == t.encode(" ", addBOS: false).first)
        #expect(t.id(forToken: "Ċ") == t.encode("\n", addBOS: false).first)
        #expect(t.id(forToken: "no such token") == nil)
        for id in Int32(0)..<4096 {
            let token = try #require(t.token(forID: id))
            #expect(t.id(forToken: token) == id)
        }
        #expect(throws: TokenizerError.unknownID(4096)) { try t.decode([5, 4096]) }
        #expect(throws: TokenizerError.unknownID(-1)) { try t.decodeBytes([-1]) }
    }

    /// A folder with only vocab.json + merges.txt gets OPT's declared specials.
    @Test func withoutSpecialTokenFiles() throws {
        let folder = try makeTemporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        for name in ["vocab.json", "merges.txt"] {
            try FileManager.default.copyItem(at: Fixtures.demoTokenizer.appendingPathComponent(name), to: folder.appendingPathComponent(name))
        }
        let t = try Tokenizer(folder: folder.path)
        #expect(t.bosID == 2 && t.eosID == 2 && t.padID == 1 && t.specialTokens == ["</s>": 2, "<pad>": 1])
        #expect(t.sha256 == (try Fixtures.demo()).sha256)
    }

    /// Every token the config declares is matched in text, additional and added ones included.
    @Test func declaredTokensAreMatchedInText() throws {
        let folder = try makeTemporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        for name in ["vocab.json", "merges.txt", "special_tokens_map.json"] {
            try FileManager.default.copyItem(at: Fixtures.demoTokenizer.appendingPathComponent(name), to: folder.appendingPathComponent(name))
        }
        let t0 = try Fixtures.demo()
        let unkID = try #require(t0.id(forToken: "<unk>"))
        let config = #"{"additional_special_tokens": [{"content": "<s>", "lstrip": false}], "added_tokens_decoder": {"3": {"content": "<unk>", "special": true}}}"#
        try Data(config.utf8).write(to: folder.appendingPathComponent("tokenizer_config.json"))
        let t = try Tokenizer(folder: folder.path)
        #expect(t.specialTokens == ["</s>": 2, "<pad>": 1, "<s>": 0, "<unk>": unkID])
        #expect(t.encode("<s>a<unk></s>", addBOS: false) == [0] + t0.encode("a", addBOS: false) + [unkID, 2])
        #expect(try t.decode(t.encode("x<s><s>", addBOS: false)) == "x<s><s>")
    }
}
