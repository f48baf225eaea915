@testable import Evaluation
import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
import Interop
import OPT
import Preflight
import Storage
import TestSupport
import Testing
import Tokenizer
import ToolBench

/// `tooltune eval` run as a user runs it: on demo data with a small random model saved by
/// ModelCheckpoint.save, on one rank and on two.
@Suite(.serialized) struct EvalCommandTests {
    let root: URL
    let project = ToolTuneBinary.projectRoot
    var job: String { root.appendingPathComponent("job.yaml").path }
    var checkpoint: String { root.appendingPathComponent("models/step-000007.h5").path }
    var evalFolder: URL { root.appendingPathComponent("run/eval") }

    init() throws {
        root = try makeTemporaryFolder("eval-command")
        let p = project.path
        let text = """
            name: evaltest
            seed: 5
            model: {init: random, config: {preset: tiny, vocab_size: 4096, max_position_embeddings: 1024}}
            tokenizer: {path: \(p)/demo/tokenizer}
            data:
              train: \(p)/demo/data/eval/G3_answer
              eval: \(p)/demo/data/eval
              max_seq_len: 1024
            train: {micro_batch_tokens: 1024, global_batch_tokens: 2048}
            checkpoint: {dir: \(root.path)/run}
            distributed: {threads_per_rank: 1}
            eval:
              max_new_tokens: 6
              max_steps: 2
              temperature: 0.8
              top_p: 0.9
              queries: \(p)/demo/data/queries
              toolenv: \(p)/demo/data/toolenv/tools

            """
        try text.write(toFile: job, atomically: true, encoding: .utf8)
        try FileManager.default.createDirectory(at: root.appendingPathComponent("models"), withIntermediateDirectories: true)
        let model = try OPTModel(config: try JobPreflight.load(job).model.config, seed: 3)
        try ModelCheckpoint.save(model, to: checkpoint)
    }

    func prepare() throws {
        let result = try runProcess(ToolTuneBinary.path, ["prepare", job])
        #expect(result.status == 0, "\(result.stderr)")
    }

    func decode(_ path: URL) throws -> CheckpointEvaluation {
        try JSONDecoder().decode(CheckpointEvaluation.self, from: Data(contentsOf: path))
    }

    /// Everything but wall-clock facts (times, date, rank count).
    func numbers(_ e: CheckpointEvaluation) -> CheckpointEvaluation {
        var e = e
        e.createdUTC = ""
        e.timing = EvalTiming(ranks: 0, threadsPerRank: 0, seconds: 0, generatedTokens: e.timing.generatedTokens,
                              prefilledTokens: 0, generationSeconds: 0, generatedTokensPerSecond: nil)
        return e
    }

    @Test func withoutAPreparedEvalDatasetItSaysWhatToRun() throws {
        let result = try runProcess(ToolTuneBinary.path, ["eval", job, "--checkpoint", checkpoint])
        #expect(result.status == 1)
        #expect(result.stderr.contains("eval.h5: the prepared eval dataset is missing; run `tooltune prepare \(job)` first"), "\(result.stderr)")
        #expect(!FileManager.default.fileExists(atPath: evalFolder.path))
    }

    @Test func twoRanksGiveTheNumbersOfOneRank() throws {
        try prepare()
        let single = try runProcess(ToolTuneBinary.path, ["eval", job, "--checkpoint", checkpoint, "--limit", "4"], timeout: 600)
        #expect(single.status == 0, "\(single.stderr)")
        #expect(single.stdout.contains("eval evaltest: 4 held-out steps, 12 queries on 1 rank(s) (limit 4)"), "\(single.stdout)")
        let file = evalFolder.appendingPathComponent("step-000007.json")
        let one = try decode(file)
        #expect(one.step == 7 && one.stepCases.count == 4 && one.queryCases.count == 12)
        #expect(Set(one.queries?.groups.keys ?? [:].keys) == ["G1_query", "G2_query", "G3_query"])
        #expect(one.stepCases.allSatisfy { $0.generation?.prompt != nil && $0.teacherForced.targetTokens > 0 })
        let report = try String(contentsOf: evalFolder.appendingPathComponent("report.md"), encoding: .utf8)
        #expect(report.contains("### G1_answer") && report.contains("### G3_query") && report.contains("| step 7 |"))
        for chart in ["steps-loss.svg", "steps-action_exact_match.svg", "queries-proxy_pass.svg"] {
            let svg = try Data(contentsOf: evalFolder.appendingPathComponent("charts/" + chart))
            #expect(XMLParser(data: svg).parse(), "\(chart) is not well-formed XML")
        }
        try FileManager.default.removeItem(at: file)

        let two = try runMPI(ranks: 2, ["eval", job, "--checkpoint", checkpoint, "--limit", "4"], timeout: 600)
        #expect(two.status == 0, "\(two.stderr)")
        let sharded = try decode(file)
        #expect(sharded.timing.ranks == 2)
        #expect(numbers(sharded) == numbers(one))
    }

    /// The teacher-forced loss of the evaluation (through the KV cache, one example at a time) equals
    /// the training forward's on the same prepared examples.
    @Test func teacherForcedLossEqualsTheTrainingForwardOnThePreparedExamples() throws {
        try prepare()
        let result = try runProcess(ToolTuneBinary.path, ["eval", job, "--checkpoint", checkpoint, "--limit", "3"], timeout: 600)
        #expect(result.status == 0, "\(result.stderr)")
        let evaluation = try decode(evalFolder.appendingPathComponent("step-000007.json"))
        let dataset = try PreparedDataset(path: root.appendingPathComponent("run/data/eval.h5").path)
        let model = try ModelCheckpoint.load(checkpoint)
        for k in 0..<3 {
            let e = try #require(dataset.inputIndex.firstIndex(of: Int64(k)))
            let (tokens, mask) = try dataset.readExample(e)
            let targets = tokens.indices.map { t in t + 1 < tokens.count && mask[t + 1] != 0 ? tokens[t + 1] : -1 }
            let forward = try model.forward(try MicroBatch(rows: 1, length: tokens.count, tokens: tokens, targets: targets))
            let score = evaluation.stepCases[k].teacherForced
            #expect(score.targetTokens == forward.targetCount)
            #expect(abs(score.lossSum - forward.lossSum) <= 1e-4 * forward.lossSum, "example \(k)")
        }
    }

    /// With trim-chain the held-out steps of a file are fitted together; eval reads them back as prepare
    /// wrote them (it checks every example's tokens), including the steps trim-chain fitted differently.
    @Test func trimChainHeldOutStepsAreReadAsPrepared() throws {
        let text = try String(contentsOfFile: job, encoding: .utf8)
        try text.replacingOccurrences(of: "  max_seq_len: 1024\n", with: "  max_seq_len: 1024\n  fit: trim-chain\n")
            .write(toFile: job, atomically: true, encoding: .utf8)
        try prepare()
        let spec = try JobPreflight.load(job)
        let tokenizer = try Tokenizer(folder: spec.tokenizer.path)
        let cases = try EvalCases.load(job: spec, tokenizer: tokenizer, limit: nil)
        #expect(cases.steps.count == 139)
        let alone = ExampleFitter(policy: FitPolicy(maxSeqLen: 1024, mode: .trimHistory, loss: .lastAssistant), encoder: tokenizer)
        let changed = cases.steps.filter { step in
            guard case .fitted(let fitted) = alone.fit(Conversation(source: step.context!.source, queryID: nil,
                                                                     turns: step.context!.turns + [Turn(.assistant, step.gold!)],
                                                                     functionList: step.context!.functionList)) else { return true }
            return fitted.tokenized.tokens != step.tokens
        }
        #expect(!changed.isEmpty, "trim-chain fits some demo eval step otherwise than trim-history")
    }

    /// --watch scores the checkpoints that have no evaluation, oldest first, then stops at --until-step.
    @Test func watchScoresNewCheckpointsUntilTheLastStep() throws {
        try prepare()
        let checkpoints = root.appendingPathComponent("run/checkpoints")
        try FileManager.default.createDirectory(at: checkpoints, withIntermediateDirectories: true)
        for step in [3, 9] {
            try FileManager.default.copyItem(atPath: checkpoint, toPath: checkpoints.appendingPathComponent(String(format: "step-%06d.h5", step)).path)
        }
        let result = try runProcess(ToolTuneBinary.path, ["eval", job, "--watch", "--poll", "0.1", "--until-step", "9", "--limit", "1"],
                                    timeout: 300)
        #expect(result.status == 0 && !result.timedOut, "\(result.stderr)")
        #expect(result.stdout.contains("until step 9 is scored"))
        let files = try FileManager.default.contentsOfDirectory(atPath: evalFolder.path).filter { $0.hasSuffix(".json") }.sorted()
        #expect(files == ["step-000003.json", "step-000009.json"])
        // Both scored in one watch: the side-by-side table at the end.
        #expect(result.stdout.contains("step 3") && result.stdout.contains("change"))
    }

    @Test func aStaleEvalDatasetIsAnError() throws {
        try prepare()
        // Prepare again with a shorter max_seq_len into the same place, then put the job back.
        let original = try String(contentsOfFile: job, encoding: .utf8)
        try original.replacingOccurrences(of: "max_seq_len: 1024", with: "max_seq_len: 900").write(toFile: job, atomically: true, encoding: .utf8)
        try prepare()
        try original.write(toFile: job, atomically: true, encoding: .utf8)
        let result = try runProcess(ToolTuneBinary.path, ["eval", job, "--checkpoint", checkpoint, "--limit", "2"])
        #expect(result.status == 1 && result.stderr.contains("run `tooltune prepare \(job)` again"), "\(result.stderr)")
    }

    /// `tooltune eval --bfcl` runs all five categories without the job's prepared data, on one rank and
    /// on two with the same numbers, and writes its report beside (not over) the job's evaluation.
    @Test func bfclRunsEveryCategoryAndReportsIt() throws {
        let data = root.appendingPathComponent("bfcl")
        try BFCLFixture.write(to: data)
        let bfclFolder = evalFolder.appendingPathComponent("bfcl")
        let single = try runProcess(ToolTuneBinary.path, ["eval", job, "--checkpoint", checkpoint, "--bfcl", data.path], timeout: 600)
        #expect(single.status == 0, "\(single.stderr)")
        #expect(single.stdout.contains("eval evaltest: BFCL 10 entries (simple_python, multiple, parallel, parallel_multiple, irrelevance) on 1 rank(s)"),
                "\(single.stdout)")
        for category in BFCLData.categories { #expect(single.stdout.contains("BFCL accuracy, \(category)")) }
        let file = bfclFolder.appendingPathComponent("step-000007.json")
        let one = try decode(file)
        #expect(one.bfclCases?.count == 10 && one.queryCases.isEmpty && one.stepCases.isEmpty && one.settings.bfcl == data.path)
        #expect(Set(one.bfcl?.groups.keys ?? [:].keys) == Set(BFCLData.categories) && one.bfcl?.groups.values.allSatisfy { $0.entries == 2 } == true)
        let report = try String(contentsOf: bfclFolder.appendingPathComponent("report.md"), encoding: .utf8)
        #expect(report.contains("## BFCL") && report.contains("| parallel_multiple | 2 |") && report.contains("| all categories | 10 |"))
        let svg = try Data(contentsOf: bfclFolder.appendingPathComponent("charts/bfcl-bfcl_accuracy.svg"))
        #expect(XMLParser(data: svg).parse())
        #expect(!FileManager.default.fileExists(atPath: evalFolder.appendingPathComponent("step-000007.json").path))
        try FileManager.default.removeItem(at: file)

        let two = try runMPI(ranks: 2, ["eval", job, "--checkpoint", checkpoint, "--bfcl", data.path], timeout: 600)
        #expect(two.status == 0, "\(two.stderr)")
        #expect(numbers(try decode(file)) == numbers(one))

        let missing = try runProcess(ToolTuneBinary.path, ["eval", job, "--checkpoint", checkpoint, "--bfcl", root.path, "--categories", "parallel"])
        #expect(missing.status == 1 && missing.stderr.contains("no BFCL_v<N>_parallel.json"), "\(missing.stderr)")
        let unknown = try runProcess(ToolTuneBinary.path, ["eval", job, "--checkpoint", checkpoint, "--bfcl", data.path, "--categories", "simple"])
        #expect(unknown.status != 0 && unknown.stderr.contains("--categories: simple is not one of"), "\(unknown.stderr)")
    }
}
