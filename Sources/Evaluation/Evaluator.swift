import Data
import Distributed
import Foundation
import Interop
import Job
import JSON
import Kernels
import OPT
import Tokenizer
import ToolBench

/// A held-out step's scores: teacher-forced, and the generated step when there was text to prompt with.
public struct StepCaseResult: Codable, Equatable, Sendable {
    public var index: Int
    public var group: String
    public var source: String
    public var queryID: String?
    public var teacherForced: TeacherForcedScore
    public var generation: StepGeneration?
}

public struct StepGeneration: Codable, Equatable, Sendable {
    /// How the prompt was fitted; nil when it did not fit (`promptNote` says why; the output is then empty).
    public var prompt: PromptInfo?
    public var promptNote: String?
    public var gold: String
    public var output: String
    public var stopReason: StopReason?
    public var generatedTokens: Int
    public var predicted: ReactOutput
    public var expected: ReactOutput
    public var score: StepScore
}

/// Summaries of all cases and of each group.
public struct Grouped<Summary: Codable & Equatable & Sendable>: Codable, Equatable, Sendable {
    public var overall: Summary
    public var groups: [String: Summary]

    /// The summary of `group`, or of all cases for nil.
    public func summary(_ group: String?) -> Summary? { group.map { groups[$0] } ?? overall }

    init<Item>(_ items: [Item], group: (Item) -> String, summarize: ([Item]) -> Summary) {
        overall = summarize(items)
        groups = Dictionary(grouping: items, by: group).mapValues(summarize)
    }
}

public struct EvalSettings: Codable, Equatable, Sendable {
    public var generation: GenerationSettings
    public var seed: Int
    public var maxSteps: Int
    public var maxSeqLen: Int
    public var fit: String
    public var limit: Int?
    /// Where the rollouts' calls went: the tool server's address, or nil for canned observations.
    public var toolServer: String?
    /// The judge of the SoPR, when there was one.
    public var judge: JudgeInfo?
    /// The BFCL data folder, for `--bfcl`.
    public var bfcl: String?
}

public struct JudgeInfo: Codable, Equatable, Sendable {
    public var model: String
    public var baseURL: String
    public var evaluateTimes: Int
}

public struct EvalTiming: Codable, Equatable, Sendable {
    public var ranks: Int
    public var threadsPerRank: Int
    /// Wall-clock seconds of the whole evaluation (rank 0).
    public var seconds: Double
    public var generatedTokens: Int
    /// Prompt tokens run through the model (the rest came from KV caches).
    public var prefilledTokens: Int
    /// Seconds spent generating, summed over ranks.
    public var generationSeconds: Double
    /// Generated tokens per wall-clock second of generation, all ranks together.
    public var generatedTokensPerSecond: Double?
}

/// Everything `tooltune eval` finds for one checkpoint: every number, per group, and each case with its
/// generated text. Written as `<checkpoint.dir>/eval/step-NNNNNN.json`.
public struct CheckpointEvaluation: Codable, Equatable, Sendable {
    public static let formatName = "tooltune.eval"
    /// 2: rollouts keep their newest step (`context_exhausted` ends), SoPR and BFCL sections.
    public static let currentFormatVersion = 2
    public var format = CheckpointEvaluation.formatName
    public var formatVersion = CheckpointEvaluation.currentFormatVersion
    public var checkpoint: String
    public var step: Int?
    public var job: String
    public var createdUTC: String
    public var settings: EvalSettings
    public var timing: EvalTiming
    public var notes: [String]
    public var teacherForced: Grouped<TeacherForcedSummary>?
    public var steps: Grouped<StepSummary>?
    public var queries: Grouped<QuerySummary>?
    /// StableToolBench's solvable pass rate, from the judge (`eval.judge`).
    public var judged: Grouped<SoPRSummary>?
    /// BFCL accuracy per category (`--bfcl`).
    public var bfcl: Grouped<BFCLSummary>?
    public var stepCases: [StepCaseResult]
    public var queryCases: [RolloutResult]
    public var bfclCases: [BFCLCaseResult]?
}

/// Which BFCL data `tooltune eval --bfcl` scores.
public struct BFCLSelection: Sendable {
    public var folder: String
    public var categories: [String]

    public init(folder: String, categories: [String] = BFCLData.categories) {
        self.folder = folder
        self.categories = categories
    }
}

/// Progress of one rank's share of an evaluation.
public struct EvalProgress: Sendable {
    public var done: Int
    public var total: Int
    public var detail: String
}

/// Scores checkpoints of one job on its held-out steps and queries, sharded over MPI ranks: case i goes
/// to rank i mod size, each case starts from an empty KV cache with its own seed, so the numbers do not
/// depend on the rank count; rank 0 gathers and summarizes.
public final class Evaluator {
    public let job: JobSpec
    public let tokenizer: Tokenizer
    public let cases: EvalCases
    public let limit: Int?
    public let settings: GenerationSettings
    /// eval.precision on compute.gemm's backend.
    public let engine: GEMMEngine
    /// Answers the rollouts' calls; nil: canned observations.
    public let toolServer: ToolServer?
    public let judge: (any AnswerJudge)?
    let judgeInfo: JudgeInfo?

    /// The BFCL data scored instead of the job's held-out steps and queries, when given.
    public let bfcl: BFCLSelection?

    /// The tool server and the judge come from `eval.toolserver` and `eval.judge` (their key variables are
    /// checked before anything runs). With `bfcl`, the cases are that BFCL data instead of the job's
    /// held-out steps and queries, and neither is used.
    public init(job: JobSpec, tokenizer: Tokenizer, limit: Int?, bfcl: BFCLSelection? = nil) throws {
        self.job = job
        self.tokenizer = tokenizer
        self.limit = limit
        engine = try job.compute.engine(job.eval.precision, field: "\(job.file): eval.precision")
        let rollouts = bfcl == nil
        toolServer = rollouts ? try job.eval.toolServer.map { try ToolServer($0) } : nil
        let spec = rollouts ? job.eval.judge : nil
        judge = try spec.map { try OpenAIJudge($0) }
        judgeInfo = spec.map { JudgeInfo(model: $0.model, baseURL: $0.baseURL, evaluateTimes: $0.evaluateTimes) }
        settings = GenerationSettings(maxNewTokens: job.eval.maxNewTokens, temperature: job.eval.temperature,
                                      topP: job.eval.topP, stop: job.eval.stop)
        guard job.eval.maxNewTokens < job.data.maxSeqLen else {
            throw EvalError("\(job.file): eval.max_new_tokens \(job.eval.maxNewTokens) leaves no room for a prompt in data.max_seq_len \(job.data.maxSeqLen)")
        }
        self.bfcl = bfcl
        if let bfcl {
            var cases = EvalCases()
            cases.bfcl = try BFCLData.load(folder: bfcl.folder, categories: bfcl.categories, limit: limit)
            self.cases = cases
        } else {
            cases = try EvalCases.load(job: job, tokenizer: tokenizer, limit: limit)
        }
    }

    /// Evaluates `checkpoint` on every rank of `comm`; rank 0 returns the result, the others nil.
    public func evaluate(checkpoint path: String, comm: Communicator,
                         progress: ((EvalProgress) -> Void)? = nil) throws -> CheckpointEvaluation? {
        let started = Date()
        let info = try CheckpointInfo.read(path)
        if let sha = info.tokenizerSHA256, sha != tokenizer.sha256 {
            throw EvalError("\(path) was trained with tokenizer \(sha), but \(job.file)'s tokenizer (\(job.tokenizer.path)) is \(tokenizer.sha256)")
        }
        let model = try ModelCheckpoint.load(path)
        model.use(engine)
        guard job.data.maxSeqLen <= model.config.maxPositionEmbeddings else {
            throw EvalError("\(path): data.max_seq_len \(job.data.maxSeqLen) exceeds the model's max_position_embeddings \(model.config.maxPositionEmbeddings)")
        }
        let generator = try ModelTurnGenerator(model: model, tokenizer: tokenizer, settings: settings,
                                               contextTokens: job.data.maxSeqLen)
        let shard = try run(model: model, generator: generator, rank: comm.rank, size: comm.size, progress: progress)
        let gathered = try comm.gather(Array(try JSONEncoder().encode(shard)))
        guard comm.rank == 0 else { return nil }
        let shards = try gathered.map { try JSONDecoder().decode(Shard.self, from: Data($0)) }
        var evaluation = summarize(shards, info: info, seconds: Date().timeIntervalSince(started), ranks: comm.size)
        if let judge, let judgeInfo, !evaluation.queryCases.isEmpty {
            try judgeRollouts(&evaluation, judge: judge, info: judgeInfo, progress: progress)
        }
        evaluation.timing.seconds = Date().timeIntervalSince(started)
        return evaluation
    }

    /// The converted answer (StableToolBench's format) of each rollout, in case order.
    public func convertedAnswers(_ evaluation: CheckpointEvaluation) -> [JSONValue] {
        zip(evaluation.queryCases, cases.queries).map { StableToolBenchAnswers.answer($0, prompt: $1.prompt) }
    }

    /// Judges every rollout `evaluateTimes` times (rank 0, one request at a time) and adds the SoPR.
    func judgeRollouts(_ evaluation: inout CheckpointEvaluation, judge: any AnswerJudge, info: JudgeInfo,
                       progress: ((EvalProgress) -> Void)?) throws {
        let converted = convertedAnswers(evaluation)
        let total = converted.count * info.evaluateTimes
        for (q, answer) in converted.enumerated() {
            var runs: [Judgement] = []
            for r in 0..<info.evaluateTimes {
                runs.append(try SoPR.judge(answer, judge: judge))
                let done = q * info.evaluateTimes + r + 1
                progress?(EvalProgress(done: done, total: total, detail: "judging \(done)/\(total)"))
            }
            evaluation.queryCases[q].judgements = runs
        }
        evaluation.judged = Grouped(evaluation.queryCases, group: \.group) { results in
            SoPRSummary(results.map { $0.judgements! }, judgeModel: info.model, evaluateTimes: info.evaluateTimes)
        }
    }

    /// One rank's results.
    struct Shard: Codable {
        var steps: [StepCaseResult] = []
        var queries: [Int: RolloutResult] = [:]
        var bfcl: [Int: BFCLCaseResult] = [:]
        var generatedTokens = 0
        var prefilledTokens = 0
        var generationSeconds = 0.0
    }

    /// A generator that times the model's turns and counts tokens.
    final class Timed: TurnGenerator {
        let base: TurnGenerator
        var generated = 0, prefilled = 0, seconds = 0.0
        init(_ base: TurnGenerator) { self.base = base }
        func startCase() { base.startCase() }
        func generate(_ prompt: FittedPrompt, seed: UInt64) throws -> GeneratedTurn {
            let start = DispatchTime.now().uptimeNanoseconds
            let turn = try base.generate(prompt, seed: seed)
            seconds += Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
            generated += turn.tokens
            prefilled += turn.prefilledTokens
            return turn
        }
    }

    func run(model: OPTModel, generator: ModelTurnGenerator, rank: Int, size: Int,
             progress: ((EvalProgress) -> Void)?) throws -> Shard {
        let timed = Timed(generator)
        let fitter = ExampleFitter(policy: FitPolicy(maxSeqLen: job.data.maxSeqLen, mode: job.data.fit, loss: job.data.lossTurns),
                                   encoder: tokenizer)
        let myQueries = cases.queries.filter { $0.index % size == rank }
        let mySteps = cases.steps.filter { $0.index % size == rank }
        let myBFCL = cases.bfcl.indices.filter { $0 % size == rank }
        let total = myQueries.count + mySteps.count + myBFCL.count
        var shard = Shard()
        for (i, step) in mySteps.enumerated() {
            generator.startCase()
            let n = step.tokens.count
            let targets = (0..<n).map { t in t + 1 < n && step.lossMask[t + 1] != 0 ? step.tokens[t + 1] : -1 }
            let forward = try model.teacherForced(step.tokens, targets: targets, cache: generator.cache)
            let correct = zip(forward.targetPredictions, targets.filter { $0 >= 0 }).filter { $0 == $1 }.count
            var result = StepCaseResult(index: step.index, group: step.group, source: step.source, queryID: step.queryID,
                                        teacherForced: TeacherForcedScore(targetTokens: forward.targetCount, lossSum: forward.lossSum,
                                                                          correct: correct))
            if let context = step.context, let gold = step.gold {
                result.generation = try generate(step, context: context, gold: gold, generator: timed, fitter: fitter)
            }
            shard.steps.append(result)
            progress?(EvalProgress(done: i + 1, total: total, detail: "steps \(i + 1)/\(mySteps.count)"))
        }
        for (i, query) in myQueries.enumerated() {
            let rollout = Rollout(prompt: query.prompt, group: query.group, maxSteps: job.eval.maxSteps)
            shard.queries[query.index] = try rollout.run(generator: timed, fitter: fitter, reserve: settings.maxNewTokens,
                                                         seed: caseSeed("query \(query.group) \(query.prompt.query.queryID)"),
                                                         environment: toolServer.map { ToolServerEnvironment(prompt: query.prompt, server: $0) })
            progress?(EvalProgress(done: mySteps.count + i + 1, total: total, detail: "queries \(i + 1)/\(myQueries.count)"))
        }
        for (i, index) in myBFCL.enumerated() {
            let entry = cases.bfcl[index]
            shard.bfcl[index] = try BFCLRollout(prompt: BFCLPrompt(entry), maxSteps: job.eval.maxSteps)
                .run(generator: timed, fitter: fitter, reserve: settings.maxNewTokens, seed: caseSeed("bfcl \(entry.id)"))
            progress?(EvalProgress(done: mySteps.count + myQueries.count + i + 1, total: total, detail: "bfcl \(i + 1)/\(myBFCL.count)"))
        }
        shard.generatedTokens = timed.generated
        shard.prefilledTokens = timed.prefilled
        shard.generationSeconds = timed.seconds
        return shard
    }

    func generate(_ step: StepCase, context: Conversation, gold: String, generator: TurnGenerator,
                  fitter: ExampleFitter) throws -> StepGeneration {
        let expected = ReactOutput.parse(gold)
        switch fitter.fitPrompt(context, reserve: settings.maxNewTokens) {
        case .fitted(let prompt):
            let turn = try generator.generate(prompt, seed: caseSeed("step \(step.source)"))
            let predicted = ReactOutput.parse(turn.text)
            return StepGeneration(prompt: PromptInfo(prompt), promptNote: nil, gold: gold, output: turn.text,
                                  stopReason: turn.stopReason, generatedTokens: turn.tokens, predicted: predicted,
                                  expected: expected,
                                  score: StepScore.score(predicted, endedCleanly: turn.endedCleanly, gold: expected,
                                                         functions: step.functionNames))
        case .tooLong(_, let reason):
            let predicted = ReactOutput.parse("")
            return StepGeneration(prompt: nil, promptNote: reason, gold: gold, output: "", stopReason: nil, generatedTokens: 0,
                                  predicted: predicted, expected: expected,
                                  score: StepScore.score(predicted, endedCleanly: false, gold: expected, functions: step.functionNames))
        }
    }

    /// The sampling seed of a case: the job's seed mixed with a hash of the case's name, so a case draws
    /// the same numbers on any rank.
    func caseSeed(_ name: String) -> UInt64 {
        var hash: UInt64 = 0xCBF2_9CE4_8422_2325  // FNV-1a
        for byte in name.utf8 { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01B3 }
        return UInt64(job.seed) ^ hash
    }

    func summarize(_ shards: [Shard], info: CheckpointInfo, seconds: Double, ranks: Int) -> CheckpointEvaluation {
        let steps = shards.flatMap(\.steps).sorted { $0.index < $1.index }
        let queries = shards.flatMap(\.queries).sorted { $0.key < $1.key }.map(\.value)
        let bfclCases = shards.flatMap(\.bfcl).sorted { $0.key < $1.key }.map(\.value)
        let generated = shards.reduce(0) { $0 + $1.generatedTokens }
        let generationSeconds = shards.reduce(0.0) { $0 + $1.generationSeconds }
        let generating = steps.contains { $0.generation != nil }
        let timing = EvalTiming(ranks: ranks, threadsPerRank: job.distributed.threadsPerRank, seconds: seconds,
                                generatedTokens: generated, prefilledTokens: shards.reduce(0) { $0 + $1.prefilledTokens },
                                generationSeconds: generationSeconds,
                                generatedTokensPerSecond: generationSeconds > 0 ? Double(generated) / (generationSeconds / Double(ranks)) : nil)
        let formatter = ISO8601DateFormatter()
        return CheckpointEvaluation(
            checkpoint: info.path, step: info.step, job: job.name, createdUTC: formatter.string(from: Date()),
            settings: EvalSettings(generation: settings, seed: job.seed, maxSteps: job.eval.maxSteps, maxSeqLen: job.data.maxSeqLen,
                                   fit: job.data.fit.rawValue, limit: limit, toolServer: toolServer?.endpoint.absoluteString,
                                   judge: judgeInfo, bfcl: bfcl?.folder),
            timing: timing, notes: cases.notes,
            teacherForced: steps.isEmpty ? nil : Grouped(steps, group: \.group) { TeacherForcedSummary($0.map(\.teacherForced)) },
            steps: generating ? Grouped(steps.filter { $0.generation != nil }, group: \.group) { items in
                StepSummary(items.map { $0.generation!.score }, generatedTokens: items.map { $0.generation!.generatedTokens })
            } : nil,
            queries: queries.isEmpty ? nil : Grouped(queries, group: \.group) { QuerySummary($0) }, judged: nil,
            bfcl: bfclCases.isEmpty ? nil : Grouped(bfclCases, group: \.category) { BFCLSummary($0) },
            stepCases: steps, queryCases: queries, bfclCases: bfclCases.isEmpty ? nil : bfclCases)
    }
}
