@testable import Data
import Foundation
import Kernels
import Preflight
import Storage
import Synchronization
import Testing
import TestSupport
import Tokenizer
import ToolBench

/// A job over the project's demo data (absolute paths, output in a temporary folder).
struct PrepareWorkspace {
    let root: URL
    let project = ToolTuneBinary.projectRoot

    init() throws { root = try makeTemporaryFolder("prepare") }

    func job(train: String? = nil, eval: String? = "demo/data/eval", extra: String = "",
             testIDs: String? = "demo/data/test_query_ids.json", maxSeqLen: Int = 1024) throws -> String {
        let path = root.appendingPathComponent("job.yaml").path
        let text = """
            name: prep
            model: {init: random, config: {preset: tiny, vocab_size: 4096, max_position_embeddings: \(max(1024, maxSeqLen))}}
            tokenizer: {path: \(project.path)/demo/tokenizer}
            data:
              train: \(train ?? project.path + "/demo/data/train")
            \(eval.map { "  eval: \(project.path)/\($0)" } ?? "")
              max_seq_len: \(maxSeqLen)
            \(testIDs.map { "  test_query_ids: \(project.path)/\($0)" } ?? "")
            \(extra)
            train: {micro_batch_tokens: \(max(1024, maxSeqLen)), global_batch_tokens: 4096}
            checkpoint: {dir: \(root.path)/run}

            """
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    func preparation(_ jobFile: String) throws -> DataPreparation {
        let tokenizer = try Tokenizer(folder: project.appendingPathComponent("demo/tokenizer").path)
        return DataPreparation(job: try JobPreflight.load(jobFile), encoder: tokenizer, tokenizerSHA256: tokenizer.sha256)
    }

    var run: RunDirectory { RunDirectory(root.appendingPathComponent("run").path) }
}

@Suite(.serialized) struct PrepareTests {
    let workspace: PrepareWorkspace

    init() throws { workspace = try PrepareWorkspace() }

    @Test func demoJobDropsExactlyTheThreeListedTrainQueriesAndWritesReadableDatasets() throws {
        let preparation = try workspace.preparation(try workspace.job())
        let summary = try preparation.run()
        let train = try #require(summary.splits.first { $0.split == "train" })
        #expect(train.examplesRead == 1308 && train.files == ["toolbench-answers": 400] && train.invalidAnswerFiles == 2)
        #expect(train.testQueries.idsListed == 43)
        // demo/README.md: 17650 (G1), 12521 (G2), 13551 (G3) are train queries listed as test ids: 3 + 4 + 3 steps.
        #expect(train.testQueries.droppedQueries == ["12521", "13551", "17650"] && train.testQueries.droppedExamples == 10)
        #expect(train.testQueries.examplesWithoutQueryID == 0 && train.errorCount == 0)
        let eval = try #require(summary.splits.first { $0.split == "eval" })
        #expect(eval.examplesRead == 139 && eval.testQueries.droppedExamples == 0)  // eval data is never filtered

        // Every action is counted, and the counts add up.
        let fit = train.fit
        #expect(train.examples + fit.droppedTooLong == 1308 - 10)
        // Examples changed by fitting are exactly those that were too long and not dropped.
        #expect(train.overMaxSeqLen == train.examples - fit.asIs + fit.droppedTooLong)
        #expect(train.examples - fit.asIs <= fit.trimmed + fit.compactedTotal)
        #expect(train.examples - fit.asIs >= max(fit.trimmed, fit.compactedTotal))
        #expect(fit.trimmed > 0 && fit.compactedTotal > 0 && fit.turnsDropped > 0 && fit.observationsShortened > 0)

        let dataset = try PreparedDataset(path: workspace.run.preparedDataset("train").path)
        #expect(dataset.exampleCount == train.examples && dataset.exampleTokenCount == train.tokens)
        #expect(dataset.tokenCount == train.sharing.tokensAfter && dataset.chainCount == train.sharing.chains)
        #expect(dataset.sequenceCount == train.sequences && dataset.metadata.maxSeqLen == 1024)
        #expect(dataset.metadata.tokenizerSHA256 == summary.tokenizerSHA256 && dataset.metadata.template == "tool-llama-single-round")
        #expect(dataset.metadata.prefixSharing == "token-prefix")
        // Shared prefixes survive fitting at 1024 for some steps only (trim-history drops different old turns).
        #expect(train.sharing.chains < train.examples && train.sharing.tokensAfter < train.tokens)
        #expect(train.sharing.sequencesAfter == train.sequences && train.sharing.eosLabels == train.examples - train.sharing.chains)
        var targets = 0, eosLabels = 0
        for s in 0..<dataset.sequenceCount {
            let sequence = try dataset.readSequence(s)
            #expect(sequence.count <= 1024)
            for (k, start) in sequence.boundaries.dropLast().enumerated() {
                #expect(sequence.tokens[start] == 2 && sequence.positions[start] == 0 && sequence.segmentIDs[start] == Int32(k))
                // Each chain ends with its longest example's trained EOS: the position before it predicts 2.
                let end = sequence.boundaries[k + 1]
                #expect(sequence.targets[end - 2] == 2 && sequence.targets[end - 1] == PreparedDatasetFormat.ignoreIndex)
                // Inside a chain, a shorter example's </s> is a label over another input token.
                eosLabels += (start..<(end - 2)).filter { sequence.targets[$0] == 2 && sequence.tokens[$0 + 1] != 2 }.count
            }
            targets += sequence.targetCount
        }
        #expect(eosLabels == train.sharing.eosLabels)
        #expect(targets == train.trainableTokens)
        #expect(FileManager.default.fileExists(atPath: workspace.run.preparedDataset("eval").path))
        let written = try JSONSerialization.jsonObject(with: Data(contentsOf: workspace.run.prepareSummaryFile)) as? [String: Any]
        #expect(written?["max_seq_len"] as? Int == 1024)
    }

    /// Results gathered from worker threads are released with the array that returns them (prepare
    /// once leaked every fitted example and parsed file this way: 1.5 GB for 16,000 answer files).
    @Test func gatheredResultsAreReleased() {
        final class Counted: Sendable {
            static let released = Mutex(0)
            deinit { Self.released.withLock { $0 += 1 } }
        }
        do {
            let results: [Counted] = DataPreparation.gather(5) { slots in
                Parallel.forEach(5) { range in for i in range { slots[i] = Counted() } }
            }
            #expect(results.count == 5 && Counted.released.withLock { $0 } == 0)
        }
        #expect(Counted.released.withLock { $0 } == 5)
    }

    /// The same files, byte for byte, run after run and on 1 or 3 threads (files are read and fitted in
    /// parallel chunks).
    @Test func prepareIsDeterministic() throws {
        let train = workspace.project.appendingPathComponent("demo/data/train/G3_answer").path
        let preparation = try workspace.preparation(try workspace.job(train: train, eval: nil))
        let files = [workspace.run.preparedDataset("train"), workspace.run.prepareSummaryFile]
        let threads = Parallel.threadCount
        defer { Parallel.threadCount = threads }
        Parallel.threadCount = 1
        _ = try preparation.run()
        let first = try files.map { try Data(contentsOf: $0) }
        for count in [1, 3] {
            Parallel.threadCount = count
            _ = try preparation.run()
            #expect(try files.map { try Data(contentsOf: $0) } == first, "\(count) threads")
        }
    }

    @Test func previewShowsTheTrainedSpansAndEOSLabelsAndWritesNothing() throws {
        let job = try workspace.job(maxSeqLen: 2048)
        let result = try runProcess(ToolTuneBinary.path, ["prepare", job, "--preview", "2"])
        #expect(result.status == 0, "\(result.stderr)")
        let sequences = result.stdout.components(separatedBy: "── sequence ").dropFirst()
        #expect(sequences.count == 2)
        for sequence in sequences {
            // One line per example, then the text: every example's target and </s> is marked.
            let examples = sequence.split(separator: "\n").filter { $0.hasPrefix("   /") }.count
            #expect(examples > 1, "at 2048 the steps of one demo file share their prefix")
            #expect(sequence.components(separatedBy: "\nAssistant: ⟦\nThought: ").count - 1 == examples)
            #expect(sequence.components(separatedBy: "</s>⟧").count - 1 == examples)
            // The shorter examples' </s>: labels where the chain goes on with the function turn.
            #expect(sequence.components(separatedBy: "⟦</s>⟧\n").count - 1 == examples - 1)
        }
        #expect(!FileManager.default.fileExists(atPath: workspace.run.dataFolder.path))
    }

    @Test func badFilesAreAllNamedAndNothingIsWritten() throws {
        let data = workspace.root.appendingPathComponent("bad/G1_answer")
        try FileManager.default.createDirectory(at: data, withIntermediateDirectories: true)
        let good = try Data(contentsOf: workspace.project.appendingPathComponent("demo/data/train/G1_answer/10045_ChatGPT_DFS_woFilter_w2.json"))
        try good.write(to: data.appendingPathComponent("1_ChatGPT_DFS_woFilter_w2.json"))
        try good.prefix(5000).write(to: data.appendingPathComponent("2_ChatGPT_DFS_woFilter_w2.json"))
        try Data().write(to: data.appendingPathComponent("3_ChatGPT_DFS_woFilter_w2.json"))
        let wrongType = String(decoding: good, as: UTF8.self).replacingOccurrences(of: #""valid_data": true"#, with: #""valid_data": 1"#)
        try Data(wrongType.utf8).write(to: data.appendingPathComponent("4_ChatGPT_DFS_woFilter_w2.json"))
        let job = try workspace.job(train: data.deletingLastPathComponent().path, eval: nil, testIDs: nil)
        let result = try runProcess(ToolTuneBinary.path, ["prepare", job])
        #expect(result.status == 1)
        let lines = result.stderr.split(separator: "\n").map(String.init)
        #expect(lines.count == 3, "\(result.stderr)")
        #expect(lines.first { $0.contains("2_ChatGPT") }?.contains("the JSON is truncated") == true)
        #expect(lines.contains("\(data.path)/3_ChatGPT_DFS_woFilter_w2.json: empty; expected JSON"))
        #expect(lines.contains("\(data.path)/4_ChatGPT_DFS_woFilter_w2.json: $.answer_generation.valid_data: expected true or false, found the number 1"))
        #expect(!FileManager.default.fileExists(atPath: workspace.run.dataFolder.path))
    }

    @Test func examplesWithNothingToTrainAreReportedAsErrors() throws {
        let file = workspace.root.appendingPathComponent("chat.jsonl")
        try Data("""
            {"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello!"}]}
            {"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello!"}, {"role": "user", "content": "Bye"}]}

            """.utf8).write(to: file)
        let preparation = try workspace.preparation(try workspace.job(train: file.path, eval: nil, testIDs: nil))
        let split = try preparation.prepare(.train)
        #expect(split.examples.count == 1 && split.summary.errorCount == 1)
        #expect(split.summary.errors == ["\(file.path) line 2: the conversation ends with a user turn, not an assistant turn"])
        #expect(split.summary.lines(maxSeqLen: 1024).contains("ERRORS: 1 examples have no trainable tokens and were left out:"))
    }
}
