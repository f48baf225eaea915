import Foundation
import Testing
import TestSupport
import Tokenizer

/// Broken tokenizer folders: each error names the file and the line or key.
@Suite struct LoadingErrorTests {
    /// A copy of the demo tokenizer with some files replaced (nil removes the file).
    func folder(_ replacements: [String: String?]) throws -> URL {
        let folder = try makeTemporaryFolder()
        for name in ["vocab.json", "merges.txt", "special_tokens_map.json", "tokenizer_config.json"] {
            let target = folder.appendingPathComponent(name)
            if let replacement = replacements[name] {
                if let text = replacement { try Data(text.utf8).write(to: target) }
            } else {
                try FileManager.default.copyItem(at: Fixtures.demoTokenizer.appendingPathComponent(name), to: target)
            }
        }
        return folder
    }

    func original(_ name: String) throws -> String {
        try String(contentsOf: Fixtures.demoTokenizer.appendingPathComponent(name), encoding: .utf8)
    }

    /// Loading fails with exactly `expected` (the path is filled in), and its message reads `file...`.
    func expectFailure(_ replacements: [String: String?], file: String, _ location: TokenizerError.Location,
                       containing words: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let dir = try folder(replacements)
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent(file).path
        do {
            _ = try Tokenizer(folder: dir.path)
            Issue.record("loaded a broken folder", sourceLocation: sourceLocation)
        } catch {
            guard case .malformedFile(let p, let l, let message) = error else {
                Issue.record("unexpected \(error)", sourceLocation: sourceLocation)
                return
            }
            #expect(p == path && l == location, "\(error)", sourceLocation: sourceLocation)
            #expect(message.contains(words), "\(error)", sourceLocation: sourceLocation)
            #expect(error.description.hasPrefix(path), sourceLocation: sourceLocation)
        }
    }

    @Test func missingFiles() throws {
        for name in ["vocab.json", "merges.txt"] {
            let dir = try folder([name: String?.none])
            defer { try? FileManager.default.removeItem(at: dir) }
            #expect(throws: TokenizerError.unreadableFile(path: dir.appendingPathComponent(name).path, reason: "no such file")) {
                try Tokenizer(folder: dir.path)
            }
        }
    }

    @Test func malformedVocab() throws {
        let vocab = try original("vocab.json")
        try expectFailure(["vocab.json": String(vocab.dropLast())], file: "vocab.json", .lineColumn(1, vocab.utf8.count),
                          containing: "invalid JSON: unexpected end of file, expected ',' or '}'")
        try expectFailure(["vocab.json": String(vocab.dropLast(9))], file: "vocab.json", .lineColumn(1, vocab.utf8.count - 11),
                          containing: "invalid JSON: unterminated string")
        try expectFailure(["vocab.json": "{\"a\": 1,\n \"b\" 2}"], file: "vocab.json", .lineColumn(2, 6), containing: "expected ':'")
        try expectFailure(["vocab.json": "[1, 2]"], file: "vocab.json", .file, containing: "expected a JSON object")
        try expectFailure(["vocab.json": "{}"], file: "vocab.json", .file, containing: "empty")
        try expectFailure(["vocab.json": vocab.replacingOccurrences(of: #""!":4,"#, with: #""!":"4","#)],
                          file: "vocab.json", .key("!"), containing: "found the string \"4\"")
        try expectFailure(["vocab.json": vocab.replacingOccurrences(of: #""!":4,"#, with: #""!":4.5,"#)],
                          file: "vocab.json", .key("!"), containing: "found the number 4.5")
        try expectFailure(["vocab.json": vocab.replacingOccurrences(of: #""!":4,"#, with: #""!":-4,"#)],
                          file: "vocab.json", .key("!"), containing: "found the number -4")
        // A table is indexed by id: an id of 2^31 - 1000 once sized 34 GB and crashed.
        try expectFailure(["vocab.json": vocab.replacingOccurrences(of: #""!":4,"#, with: #""!":2147482647,"#)],
                          file: "vocab.json", .key("!"), containing: "id 2147482647 is over the limit of 4194303")
        let duplicated = vocab.replacingOccurrences(of: #""!":4,"#, with: #""!":4,"\"":4,"#)
        let second = try #require(Array(duplicated.utf8).firstRange(of: Array(#""\"":5"#.utf8))).lowerBound
        try expectFailure(["vocab.json": duplicated], file: "vocab.json", .lineColumn(1, second + 1), containing: "duplicate key \"\\\"\"")
        try expectFailure(["vocab.json": vocab.replacingOccurrences(of: #""\"":5,"#, with: #""\"":4,"#)],
                          file: "vocab.json", .key("\""), containing: "id 4 is also the id of \"!\"")
        try expectFailure(["vocab.json": vocab.replacingOccurrences(of: #""!":4,"#, with: "")],
                          file: "vocab.json", .file, containing: "no token for byte 0x21")
    }

    @Test func malformedMerges() throws {
        let merges = try original("merges.txt")
        let lines = merges.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        #expect(lines[0].hasPrefix("#version") && lines[3] == "o n")
        func with(line: Int, _ text: String) -> String {
            var copy = lines
            copy[line - 1] = text
            return copy.joined(separator: "\n")
        }
        try expectFailure(["merges.txt": with(line: 4, "o n x")], file: "merges.txt", .line(4), containing: "expected two tokens")
        try expectFailure(["merges.txt": with(line: 4, "on")], file: "merges.txt", .line(4), containing: "expected two tokens")
        try expectFailure(["merges.txt": with(line: 4, "o  n")], file: "merges.txt", .line(4), containing: "expected two tokens")
        try expectFailure(["merges.txt": with(line: 4, "")], file: "merges.txt", .line(4), containing: "expected two tokens")
        try expectFailure(["merges.txt": with(line: 5, "o 😀")], file: "merges.txt", .line(5), containing: "token \"😀\" is not in vocab.json")
        try expectFailure(["merges.txt": with(line: 6, "ÿ þ")], file: "merges.txt", .line(6),
                          containing: "the merged token \"ÿþ\" is not in vocab.json")
        // CRLF line ends and a missing final newline are fine.
        let dir = try folder(["merges.txt": merges.replacingOccurrences(of: "\n", with: "\r\n").trimmingCharacters(in: .newlines)])
        defer { try? FileManager.default.removeItem(at: dir) }
        #expect(try Tokenizer(folder: dir.path).encode("The quick brown fox", addBOS: true)
            == (try Fixtures.demo()).encode("The quick brown fox", addBOS: true))
    }

    @Test func invalidUTF8InMerges() throws {
        let dir = try folder([:])
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("merges.txt")
        try Data(Array("#version: 0.2\nĠ t\n".utf8) + [0x61, 0x20, 0xFF, 0x0A]).write(to: path)
        #expect(throws: TokenizerError.malformedFile(path: path.path, location: .line(3), message: "not valid UTF-8")) {
            try Tokenizer(folder: dir.path)
        }
    }

    @Test func malformedSpecialTokenFiles() throws {
        try expectFailure(["tokenizer_config.json": #"{"bos_token": "<nope>", "eos_token": "</s>"}"#, "special_tokens_map.json": String?.none],
                          file: "tokenizer_config.json", .key("bos_token"), containing: "\"<nope>\" is not in vocab.json")
        try expectFailure(["tokenizer_config.json": #"{"pad_token": {"content": "<pad>", "lstrip": true}}"#],
                          file: "tokenizer_config.json", .key("pad_token"), containing: "lstrip = true is not supported")
        try expectFailure(["tokenizer_config.json": #"{"bos_token": "<s>"}"#],
                          file: "tokenizer_config.json", .key("bos_token"), containing: "\"<s>\" here but \"</s>\" in")
        try expectFailure(["tokenizer_config.json": #"{"eos_token": 7}"#],
                          file: "tokenizer_config.json", .key("eos_token"), containing: "found the number 7")
        try expectFailure(["tokenizer_config.json": #"{"added_tokens_decoder": {"5": {"content": "<pad>"}}}"#],
                          file: "tokenizer_config.json", .key("added_tokens_decoder.5"), containing: "has id 1 in vocab.json")
        try expectFailure(["tokenizer_config.json": "{\"bos_token\": \"</s>\",,}"],
                          file: "tokenizer_config.json", .lineColumn(1, 22), containing: "expected a key")
        try expectFailure(["special_tokens_map.json": #"{"pad_token": "<pad>"}"#, "tokenizer_config.json": "{}"],
                          file: "tokenizer_config.json", .file, containing: "no bos_token")
    }
}
