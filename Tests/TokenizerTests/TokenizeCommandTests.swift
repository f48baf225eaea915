import Foundation
import Testing
import TestSupport
import Tokenizer

/// `tooltune tokenize`, run as a user would.
@Suite struct TokenizeCommandTests {
    let root = ToolTuneBinary.projectRoot

    @Test func printsIdsAndTokens() throws {
        let c = try #require(try Fixtures.cases().first { $0.name == "mixed_everything" })
        let ids = try runProcess(ToolTuneBinary.path, ["tokenize", "--tokenizer", "demo/tokenizer", "--ids", "--bos", c.text], cwd: root)
        #expect(ids.status == 0, "\(ids.stderr)")
        #expect(ids.stdout == c.idsWithBOS.map(String.init).joined(separator: " ") + "\n")
        let tokens = try runProcess(ToolTuneBinary.path, ["tokenize", "--tokenizer", "demo/tokenizer", c.text], cwd: root)
        let tokenizer = try Fixtures.demo()
        #expect(tokens.stdout == c.ids.map { tokenizer.token(forID: $0)! }.joined(separator: " ") + "\n")
    }

    @Test func readsFilesAndPrintsStats() throws {
        let folder = try makeTemporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let c = try #require(try Fixtures.cases().first { $0.name.hasPrefix("demo_finish") })
        let file = folder.appendingPathComponent("text.txt")
        try Data(c.text.utf8).write(to: file)
        let ids = try runProcess(ToolTuneBinary.path, ["tokenize", "--tokenizer", "demo/tokenizer", "--file", file.path, "--ids"], cwd: root)
        #expect(ids.stdout == c.ids.map(String.init).joined(separator: " ") + "\n")
        let stats = try runProcess(ToolTuneBinary.path, ["tokenize", "--tokenizer", "demo/tokenizer", "--file", file.path, "--stats"], cwd: root)
        #expect(stats.status == 0)
        #expect(stats.stdout.contains("\nbytes: \(c.text.utf8.count)\n"))
        #expect(stats.stdout.contains("\nchars: \(c.text.unicodeScalars.count)\n"))
        #expect(stats.stdout.contains("\ntokens: \(c.ids.count)\n"))
        #expect(stats.stdout.contains("\nMB/s (ids): ") && stats.stdout.contains("\nMB/s (ids + offsets): "))
    }

    @Test func badInputExitsNonZero() throws {
        let missing = try runProcess(ToolTuneBinary.path, ["tokenize", "--tokenizer", "no/such/folder", "x"], cwd: root)
        #expect(missing.status == 1 && missing.stderr.contains("no/such/folder/vocab.json: no such file"), "\(missing.stderr)")
        let folder = try makeTemporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let file = folder.appendingPathComponent("bad.txt")
        try Data([0x61, 0xFF, 0x62]).write(to: file)
        let invalid = try runProcess(ToolTuneBinary.path, ["tokenize", "--tokenizer", "demo/tokenizer", "--file", file.path], cwd: root)
        #expect(invalid.status == 1 && invalid.stderr.contains("\(file.path): not valid UTF-8"), "\(invalid.stderr)")
        let neither = try runProcess(ToolTuneBinary.path, ["tokenize", "--tokenizer", "demo/tokenizer"], cwd: root)
        #expect(neither.status != 0 && neither.stderr.contains("either --file FILE or the TEXT"))
    }
}
