@testable import Data
import Foundation
import Storage
import Testing
import TestSupport
import ToolBench

/// A prepared dataset is used only while it still describes the job: same tokenizer, same `data.*`
/// recipe, input files unchanged since.
@Suite(.serialized) struct DatasetFreshnessTests {
    let workspace: PrepareWorkspace
    /// A copy of a few demo answer files, so the test can change them.
    let input: URL

    init() throws {
        workspace = try PrepareWorkspace()
        input = workspace.root.appendingPathComponent("answers")
        try FileManager.default.createDirectory(at: input, withIntermediateDirectories: true)
        let source = workspace.project.appendingPathComponent("demo/data/train/G1_answer")
        for name in try FileManager.default.contentsOfDirectory(atPath: source.path).sorted().prefix(4) {
            try FileManager.default.copyItem(at: source.appendingPathComponent(name), to: input.appendingPathComponent(name))
        }
    }

    /// A job over the copied files saved as `name`; `dataLines` are added to its `data:` mapping.
    func job(_ name: String, dataLines: String = "", maxSeqLen: Int = 1024) throws -> String {
        let written = try workspace.job(train: input.path, eval: nil, extra: dataLines, maxSeqLen: maxSeqLen)
        let path = workspace.root.appendingPathComponent(name).path
        try? FileManager.default.removeItem(atPath: path)
        try FileManager.default.moveItem(atPath: written, toPath: path)
        return path
    }

    /// Prepares `job`'s train data, runs `change`, then returns why the prepared file is stale for `later`.
    func reasons(prepared job: String, checkedAgainst later: String? = nil, after change: () throws -> Void = {}) throws -> [String] {
        let preparation = try workspace.preparation(job)
        _ = try preparation.run()
        let path = try #require(DataPreparation.datasetPath(.train, job: preparation.job))
        try change()
        let checker = try later.map(workspace.preparation) ?? preparation
        return checker.staleness(of: try PreparedDataset(path: path), at: path, split: .train)
    }

    @Test func aFreshlyPreparedDatasetIsUpToDate() throws {
        #expect(try reasons(prepared: try job("fresh.yaml")) == [])
    }

    @Test(arguments: [
        ("data.max_seq_len", "", 512),
        ("data.keep_thoughts", "  keep_thoughts: true", 1024),
        // every-assistant turns prefix sharing off (the longer example trains the shorter one's turns too).
        ("data.loss_turns data.share_prefixes", "  loss_turns: every-assistant", 1024),
        ("data.packing", "  packing: false", 1024),
        ("data.share_prefixes", "  share_prefixes: false", 1024),
        ("data.fit", "  fit: drop", 1024),
    ])
    func aChangedRecipeIsNamed(keys: String, dataLines: String, maxSeqLen: Int) throws {
        let original = try job("original.yaml")
        let changed = try job("changed.yaml", dataLines: dataLines, maxSeqLen: maxSeqLen)
        let found = try reasons(prepared: original, checkedAgainst: changed)
        let expected = keys.split(separator: " ")
        #expect(found.count == expected.count && zip(found, expected).allSatisfy { $0.hasPrefix($1) }, "\(found)")
    }

    @Test func changedOrAddedInputFilesAreNamed() throws {
        let job = try job("fresh.yaml")
        let first = try #require(try DataSource.files(at: input.path).files.first)
        let touched = try reasons(prepared: job) {
            try FileManager.default.setAttributes([.modificationDate: Date().addingTimeInterval(60)], ofItemAtPath: first)
        }
        #expect(touched == ["\(first) changed after it was prepared"])
        try FileManager.default.setAttributes([.modificationDate: Date().addingTimeInterval(-60)], ofItemAtPath: first)
        let added = try reasons(prepared: job) {
            try FileManager.default.copyItem(atPath: first, toPath: input.appendingPathComponent("extra.json").path)
        }
        #expect(added.contains("\(input.path) holds 5 data files, 4 when it was prepared"), "\(added)")
    }

    @Test func anotherTokenizerIsNamedAndTrainRefusesStaleData() throws {
        let preparation = try workspace.preparation(try job("fresh.yaml"))
        _ = try preparation.run()
        let path = try #require(DataPreparation.datasetPath(.train, job: preparation.job))
        let other = DataPreparation(job: preparation.job, encoder: preparation.encoder, tokenizerSHA256: String(repeating: "0", count: 64))
        let found = other.staleness(of: try PreparedDataset(path: path), at: path, split: .train)
        #expect(found.count == 1 && found[0].hasPrefix("tokenizer.path"), "\(found)")

        // The trainer checks before step 1, naming the key and the fix.
        let stale = try job("stale.yaml", maxSeqLen: 512)
        let result = try runProcess(ToolTuneBinary.path, ["train", stale])
        #expect(result.status != 0)
        #expect(result.stderr.contains("\(path) is out of date for \(stale): data.max_seq_len was 1024 when it was prepared, "
                                       + "the job says 512; run `tooltune prepare \(stale)` again"), "\(result.stderr)")
    }
}
