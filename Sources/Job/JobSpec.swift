import Distributed
import Foundation
import Kernels
import OPT
import ToolBench
import Yams

/// A training job as described by its YAML file (`jobs/*.yaml`), with every default filled in.
/// Relative paths in the file are resolved against the current directory, as `mpirun` keeps it.
///
/// Reading the text touches no file (`parse`); whether the files it names are there is the preflight's
/// question (`Preflight.JobPreflight`), asked by `validate`, `prepare`, `train` and `eval`.
public struct JobSpec: Sendable {
    public var name: String
    public var seed: Int
    public var model: ModelSpec
    public var tokenizer: TokenizerSpec
    public var data: DataSpec
    public var train: TrainSpec
    public var checkpoint: CheckpointSpec
    public var distributed: DistributedSpec
    public var eval: EvalSpec
    public var compute: ComputeSpec
    /// The file it was read from and its exact text (stored in every checkpoint).
    public var file: String
    public var text: String

    public struct ModelSpec: Sendable {
        public enum Initialization: String, Sendable, CaseIterable { case random, hf, checkpoint }
        public var initialization: Initialization
        /// A Hugging Face model folder (init hf) or a ToolTune checkpoint (init checkpoint).
        public var path: String?
        /// The preset the config started from, if any.
        public var preset: String?
        /// The architecture: from `config` (init random) or read from `path`.
        public var config: OPTConfig
    }

    public struct TokenizerSpec: Sendable {
        /// A folder with vocab.json and merges.txt.
        public var path: String
    }

    public struct DataSpec: Sendable {
        public typealias Format = InputFormat
        public typealias Fit = FitMode
        public var train: String
        public var eval: String?
        public var format: Format
        public var maxSeqLen: Int
        /// Keep system + query + target and trim the history (`trim-history`), or drop what does not fit.
        public var fit: Fit
        public var packing: Bool
        /// Chain the examples of one source file whose tokens are a prefix of a longer one's into one sequence
        /// (`PrefixSharing`); the default with `last-assistant`, impossible with `every-assistant`.
        public var sharePrefixes: Bool
        /// Keep the assistant thoughts that ToolBench's preprocessing drops (off: as ToolLLaMA trained).
        public var keepThoughts: Bool
        /// The loss on the last assistant turn (ToolLLaMA) or on every assistant turn.
        public var lossTurns: LossTurns
        /// Files or folders of StableToolBench-style test ids (`{"<qid>": 0}`): training examples of these
        /// queries are dropped (and counted).
        public var testQueryIDs: [String]
    }

    public struct TrainSpec: Sendable {
        public var epochs: Int
        /// Stop after this many optimizer steps even if epochs remain (for smoke runs).
        public var maxSteps: Int?
        public var microBatchTokens: Int
        public var globalBatchTokens: Int
        public var optimizer: OptimizerSpec
        public var schedule: ScheduleSpec
        /// 0 turns clipping off.
        public var maxGradNorm: Double
        public var dropout: Double
        /// Skip (and count) steps whose loss or gradient is not finite, instead of stopping.
        public var skipNonfinite: Bool
        /// fp32, or bf16 mixed precision (torch.autocast's semantics; needs a CPU with bfloat16 instructions).
        public var precision: Precision = .fp32

        /// A job's `train` section when it sets nothing.
        public static let defaults = TrainSpec(
            epochs: 1, maxSteps: nil, microBatchTokens: 4096, globalBatchTokens: 65536,
            optimizer: OptimizerSpec(name: "adamw", lr: 2e-5, betas: (0.9, 0.999), eps: 1e-8, weightDecay: 0),
            schedule: ScheduleSpec(name: .linear, warmupRatio: 0.03, warmupSteps: nil),
            maxGradNorm: 1.0, dropout: 0.1, skipNonfinite: false)
    }

    public struct OptimizerSpec: Sendable {
        public var name: String
        public var lr: Double
        public var betas: (Double, Double)
        public var eps: Double
        public var weightDecay: Double
    }

    public struct ScheduleSpec: Sendable {
        public enum Name: String, Sendable, CaseIterable { case linear, cosine, constant }
        public var name: Name
        /// Warmup as a fraction of all steps, or as a step count (at most one of the two is set).
        public var warmupRatio: Double
        public var warmupSteps: Int?
    }

    public struct CheckpointSpec: Sendable {
        public enum Resume: Sendable, Equatable {
            /// Continue from `dir/LATEST` when it exists.
            case auto
            /// Always start fresh (refuses to overwrite existing checkpoints).
            case never
            /// Continue from this checkpoint file.
            case from(String)
        }
        public var dir: String
        public var everySteps: Int
        /// How many checkpoints to keep; 0 keeps all.
        public var keepLast: Int
        public var resume: Resume
    }

    public struct DistributedSpec: Sendable {
        /// The rank count the job was planned for; `mpirun -n` must match when set.
        public var ranks: Int?
        public var threadsPerRank: Int
        public var bucketMB: Double
        /// How gradients are summed: `allreduce` (flat, hierarchical) and `allreduce_dtype` (fp32, bf16).
        public var reduction: GradientReduction

        /// A job's `distributed` section when it sets nothing.
        public static let defaults = DistributedSpec(ranks: nil, threadsPerRank: 1, bucketMB: 25, reduction: GradientReduction())
    }

    public struct EvalSpec: Sendable {
        public var maxNewTokens: Int
        /// `tooltune eval --watch`: score every new checkpoint (true) or only the newest of those waiting.
        public var everyCheckpoint: Bool
        /// ToolBench query files or folders (instruction format, e.g. StableToolBench's solvable queries)
        /// for query-level rollouts; none: no rollouts.
        public var queries: [String]
        /// A ToolBench `toolenv/tools` folder for the tool descriptions of the rollouts' system prompts.
        public var toolenv: String?
        /// Assistant steps per rollout.
        public var maxSteps: Int
        /// 0: greedy.
        public var temperature: Double
        public var topP: Double
        /// Strings that end a generated turn besides EOS.
        public var stop: [String]
        /// fp32, or bf16 (bfloat16 weights halve the bytes decoding reads).
        public var precision: Precision
        /// A StableToolBench tool server answering the rollouts' calls; none: canned observations.
        public var toolServer: ToolServerSpec?
        /// An OpenAI-compatible judge for StableToolBench's solvable pass rate (SoPR); none: no judged metric.
        public var judge: JudgeSpec?
    }

    public struct ComputeSpec: Sendable {
        /// The GEMM backend: nil is `auto` (`GEMMEngine.automaticBackend` on the node that runs).
        public var gemm: GEMMBackend?

        public init(gemm: GEMMBackend?) { self.gemm = gemm }

        /// The engine for `precision` on this node; throws when the node cannot run it (bf16 without
        /// bfloat16 instructions, or with OpenBLAS), naming `field`.
        public func engine(_ precision: Precision, field: String) throws -> GEMMEngine {
            do {
                return try GEMMEngine(backend: gemm ?? GEMMEngine.automaticBackend, precision: precision)
            } catch let error as GEMMEngineError {
                throw GEMMEngineError("\(field): \(precision.rawValue) with compute.gemm \(gemm?.rawValue ?? "auto"): \(error.message)")
            }
        }
    }

    /// `eval.toolserver`.
    public struct ToolServerSpec: Sendable, Equatable {
        /// The server's address; requests go to `<url>/virtual` (a URL already ending in `/virtual` is used
        /// as it is, as StableToolBench's SERVICE_URL is written).
        public var url: String
        /// The environment variable holding the `toolbench_key`; none: an empty key.
        public var keyEnv: String?
        /// Seconds to wait for one answer.
        public var timeoutSeconds: Double
        /// Extra attempts after a timeout, a refused connection or an HTTP 429/5xx.
        public var retries: Int

        public init(url: String, keyEnv: String? = nil, timeoutSeconds: Double = 60, retries: Int = 2) {
            self.url = url
            self.keyEnv = keyEnv
            self.timeoutSeconds = timeoutSeconds
            self.retries = retries
        }
    }

    /// `eval.judge`.
    public struct JudgeSpec: Sendable, Equatable {
        /// The API's base URL, e.g. `http://localhost:8000/v1`; requests go to `<base_url>/chat/completions`.
        public var baseURL: String
        public var model: String
        /// The environment variable holding the API key (sent as `Authorization: Bearer <key>`); none: no key.
        public var keyEnv: String?
        /// Judgements per query (StableToolBench's `--evaluate_times`; its scripts use 3).
        public var evaluateTimes: Int
        public var timeoutSeconds: Double
        /// Extra attempts after a timeout, a refused connection, an HTTP 429/5xx or a reply without a verdict.
        public var retries: Int

        public init(baseURL: String, model: String, keyEnv: String? = nil, evaluateTimes: Int = 3, timeoutSeconds: Double = 120,
                    retries: Int = 2) {
            self.baseURL = baseURL
            self.model = model
            self.keyEnv = keyEnv
            self.evaluateTimes = evaluateTimes
            self.timeoutSeconds = timeoutSeconds
            self.retries = retries
        }
    }
}

extension JobSpec {
    static let topKeys = ["name", "seed", "model", "tokenizer", "data", "train", "checkpoint", "distributed", "eval", "compute"]
    static let modelKeys = ["init", "path", "config"]
    static let dataKeys = ["train", "eval", "format", "max_seq_len", "fit", "packing", "share_prefixes", "keep_thoughts",
                           "loss_turns", "test_query_ids"]
    static let trainKeys = ["epochs", "max_steps", "micro_batch_tokens", "global_batch_tokens", "optimizer", "schedule",
                            "max_grad_norm", "dropout", "skip_nonfinite", "precision"]
    static let optimizerKeys = ["name", "lr", "betas", "eps", "weight_decay"]
    static let scheduleKeys = ["name", "warmup_ratio", "warmup_steps"]
    static let checkpointKeys = ["dir", "every_steps", "keep_last", "resume"]
    static let distributedKeys = ["ranks", "threads_per_rank", "bucket_mb", "allreduce", "allreduce_dtype"]
    static let evalKeys = ["max_new_tokens", "every_checkpoint", "queries", "toolenv", "max_steps", "temperature", "top_p", "stop",
                           "precision", "toolserver", "judge"]
    static let computeKeys = ["gemm"]
    static let toolServerKeys = ["url", "key_env", "timeout_s", "retries"]
    static let judgeKeys = ["base_url", "model", "key_env", "evaluate_times", "timeout_s", "retries"]
    static let configKeys = ["preset"] + OPTConfig.CodingKeys.allCases.map(\.rawValue)

    /// Where the architecture of a model the job names by path comes from: `JobPreflight` reads the files;
    /// a checkpoint re-reading the job it stores has the model at hand.
    public typealias ArchitectureSource = (ModelFile) throws -> OPTConfig

    /// A model named by `model.path`, whose architecture only its files hold.
    public enum ModelFile: Sendable, Equatable {
        /// A Hugging Face model folder (init hf): its config.json.
        case huggingFace(folder: String)
        /// A ToolTune model file (init checkpoint): its `model_config` attribute.
        case checkpoint(String)
    }

    /// What reading a job's text found, without touching the file system.
    public struct Reading: Sendable {
        /// The job, when the text has no problem.
        public var job: JobSpec?
        /// Every problem, in the order the schema reads the keys.
        public var issues: [JobIssue]
        /// Every path the job names, with where (model.path aside: `architecture` reads it), for the preflight.
        public var paths: [NamedPath]
    }

    /// Validates job YAML text; `file` names it in errors. Pure: a job that names its model by path
    /// (init hf or checkpoint) takes the architecture from `architecture` (without one, that is a problem).
    public static func parse(_ text: String, file: String, architecture: ArchitectureSource? = nil) throws -> JobSpec {
        let reading = read(text, file: file, architecture: architecture)
        if let job = reading.job, reading.issues.isEmpty { return job }
        throw JobSpecError(file: file, issues: reading.issues)
    }

    /// Reads job YAML text into the job, every problem in it and every path it names.
    public static func read(_ text: String, file: String, architecture: ArchitectureSource?) -> Reading {
        let root: Node
        do {
            guard let node = try Yams.compose(yaml: text) else {
                return Reading(job: nil, issues: [JobIssue(keyPath: "", line: nil, column: nil,
                                                           message: "empty file; expected a job mapping")], paths: [])
            }
            root = node
        } catch let error as YamlError {
            return Reading(job: nil, issues: syntaxIssues(error), paths: [])
        } catch {
            return Reading(job: nil, issues: [JobIssue(keyPath: "", line: nil, column: nil, message: "YAML error: \(error)")], paths: [])
        }
        let fields = YAMLFields()
        let job = read(root, fields: fields, file: file, text: text, architecture: architecture)
        return Reading(job: fields.issues.isEmpty ? job : nil, issues: fields.issues, paths: fields.paths)
    }

    static func syntaxIssues(_ error: YamlError) -> [JobIssue] {
        switch error {
        case .scanner(let context, let problem, let mark, _), .parser(let context, let problem, let mark, _),
             .composer(let context, let problem, let mark, _):
            let where_ = context.map { " \($0.text)" } ?? ""
            return [JobIssue(keyPath: "", line: mark.line, column: mark.column, message: "YAML syntax error: \(problem)\(where_)")]
        case .duplicatedKeysInMapping(let duplicates, let context):
            return duplicates.sorted().map {
                JobIssue(keyPath: $0, line: context.mark.line, column: context.mark.column,
                         message: "duplicate key in the mapping that starts here")
            }
        default:
            return [JobIssue(keyPath: "", line: nil, column: nil, message: "YAML error: \(error)")]
        }
    }

    // swiftlint:disable:next function_body_length
    static func read(_ root: Node, fields f: YAMLFields, file: String, text: String, architecture: ArchitectureSource?) -> JobSpec? {
        guard let top = f.table(root, path: "", allowed: topKeys) else { return nil }

        let name = f.string(top, "name", required: true, allowed: "a name of letters, digits, '.', '_' or '-'",
                            check: { !$0.isEmpty && $0.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || "._-".contains($0)) } })
        let seed = f.int(top, "seed", range: 0...Int.max) ?? 1234

        let model = readModel(top, f, architecture: architecture)

        var tokenizerPath: String?
        if let t = f.table(top, "tokenizer", allowed: ["path"], required: true) {
            tokenizerPath = f.string(t, "path", required: true, allowed: "a folder with vocab.json and merges.txt")
            if let p = tokenizerPath { f.name(p, .tokenizer(vocabSize: model?.config.vocabSize), keyPath: t.keyPath("path"), mark: t.entries["path"]?.mark) }
        }

        let data = readData(top, f, modelPositions: model?.config.maxPositionEmbeddings)
        let train = readTrain(top, f, maxSeqLen: data?.maxSeqLen)
        let checkpoint = readCheckpoint(top, f, jobName: name ?? "job")

        var distributed = DistributedSpec.defaults
        if let d = f.table(top, "distributed", allowed: distributedKeys) {
            distributed.ranks = f.int(d, "ranks", range: 1...1_000_000)
            distributed.threadsPerRank = f.int(d, "threads_per_rank", range: 1...1024) ?? distributed.threadsPerRank
            distributed.bucketMB = f.double(d, "bucket_mb", range: 0...4096, openLower: true) ?? distributed.bucketMB
            if let topology = f.choice(d, "allreduce", GradientReduction.Topology.allCases.map(\.rawValue)) {
                distributed.reduction.topology = GradientReduction.Topology(rawValue: topology)!
            }
            if let wire = f.choice(d, "allreduce_dtype", GradientReduction.Wire.allCases.map(\.rawValue)) {
                distributed.reduction.wire = GradientReduction.Wire(rawValue: wire)!
            }
        }

        let eval = readEval(top, f, maxSeqLen: data?.maxSeqLen)

        var compute = ComputeSpec(gemm: nil)
        if let c = f.table(top, "compute", allowed: computeKeys) {
            let choices = ["auto"] + GEMMBackend.allCases.map(\.rawValue)
            compute.gemm = f.choice(c, "gemm", choices).flatMap(GEMMBackend.init)
        }

        guard let name, let model, let tokenizerPath, let data, let train, let checkpoint, let eval else { return nil }
        return JobSpec(name: name, seed: seed, model: model, tokenizer: TokenizerSpec(path: tokenizerPath), data: data,
                       train: train, checkpoint: checkpoint, distributed: distributed, eval: eval, compute: compute,
                       file: file, text: text)
    }

    static func readModel(_ top: YAMLTable, _ f: YAMLFields, architecture: ArchitectureSource?) -> ModelSpec? {
        guard let m = f.table(top, "model", allowed: modelKeys, required: true) else { return nil }
        guard let initName = f.choice(m, "init", ModelSpec.Initialization.allCases.map(\.rawValue), required: true),
              let initialization = ModelSpec.Initialization(rawValue: initName)
        else { return nil }
        let path = f.string(m, "path")
        switch initialization {
        case .random:
            if m.has("path") { f.report(m.keyPath("path"), m.entries["path"]?.mark, "only used with init hf or checkpoint; remove it") }
            guard let node = m.entries["config"] else {
                f.report(m.keyPath("config"), m.mark,
                         "missing; init random needs a preset (\(OPTConfig.presets.keys.sorted().joined(separator: ", "))) or a mapping of config.json keys")
                return nil
            }
            guard let (preset, config) = readConfig(node, keyPath: m.keyPath("config"), f) else { return nil }
            return ModelSpec(initialization: .random, path: nil, preset: preset, config: config)
        case .hf, .checkpoint:
            if m.has("config") { f.report(m.keyPath("config"), m.entries["config"]?.mark, "only used with init random; the architecture comes from path") }
            guard let path else {
                if !m.has("path") { f.report(m.keyPath("path"), m.mark, "missing; init \(initName) needs a path") }
                return nil
            }
            let mark = m.entries["path"]?.mark
            guard let architecture else {
                f.report(m.keyPath("path"), mark, "init \(initName) takes the architecture from \(path), which reading the job alone does not open")
                return nil
            }
            let config: OPTConfig
            do {
                config = try architecture(initialization == .hf ? .huggingFace(folder: path) : .checkpoint(path))
            } catch {
                f.report(m.keyPath("path"), mark, "\(error)")
                return nil
            }
            return ModelSpec(initialization: initialization, path: path, preset: nil, config: config)
        }
    }

    /// `config: opt-125m` or `config: {preset: tiny, vocab_size: 5000, ...}`.
    static func readConfig(_ node: Node, keyPath: String, _ f: YAMLFields) -> (String?, OPTConfig)? {
        let presetNames = OPTConfig.presets.keys.sorted()
        if case .scalar(let s) = node {
            guard let config = OPTConfig.presets[s.string] else {
                f.report(keyPath, s.mark, "expected a preset (one of \(presetNames.joined(separator: ", "))) or a mapping, found \(YAMLFields.describe(node))")
                return nil
            }
            return (s.string, config)
        }
        guard let t = f.table(node, path: keyPath, allowed: configKeys) else { return nil }
        var config = OPTConfig()
        let preset = f.choice(t, "preset", presetNames)
        if let preset, let base = OPTConfig.presets[preset] { config = base }
        // Overrides go through JSON so the HF key names and types are the decoder's own.
        var overrides: [String: Any] = [:]
        for key in OPTConfig.CodingKeys.allCases where t.has(key.rawValue) {
            let name = key.rawValue
            switch key {
            case .doLayerNormBefore, .removeFinalLayerNorm, .enableBias, .layerNormElementwiseAffine, .tieWordEmbeddings:
                if let b = f.bool(t, name) { overrides[name] = b }
            case .dropout, .attentionDropout, .layerdrop, .initStd:
                if let d = f.double(t, name, range: 0...1) { overrides[name] = d }
            case .activationFunction:
                if let s = f.string(t, name) { overrides[name] = s }
            default:
                if let i = f.int(t, name, range: 0...Int(Int32.max)) { overrides[name] = i }
            }
        }
        if !t.has("preset") && overrides.isEmpty { f.report(keyPath, node.mark, "empty config; give a preset or config.json keys") }
        do {
            var merged = try JSONSerialization.jsonObject(with: JSONEncoder().encode(config)) as? [String: Any] ?? [:]
            merged.merge(overrides) { $1 }
            if overrides["hidden_size"] != nil, overrides["word_embed_proj_dim"] == nil, !config.hasProjections {
                merged["word_embed_proj_dim"] = overrides["hidden_size"]
            }
            config = try JSONDecoder().decode(OPTConfig.self, from: JSONSerialization.data(withJSONObject: merged))
        } catch {
            f.report(keyPath, node.mark, "cannot build the config: \(error)")
            return nil
        }
        for problem in config.problems { f.report(keyPath, node.mark, problem) }
        return config.problems.isEmpty ? (preset, config) : nil
    }

    static func readData(_ top: YAMLTable, _ f: YAMLFields, modelPositions: Int?) -> DataSpec? {
        guard let d = f.table(top, "data", allowed: dataKeys, required: true) else { return nil }
        let train = f.string(d, "train", required: true, allowed: "a file or folder of training data")
        if let train { f.name(train, .readable, keyPath: d.keyPath("train"), mark: d.entries["train"]?.mark) }
        let eval = f.string(d, "eval", allowed: "a file or folder of evaluation data")
        if let eval { f.name(eval, .readable, keyPath: d.keyPath("eval"), mark: d.entries["eval"]?.mark) }
        let format = f.choice(d, "format", DataSpec.Format.allCases.map(\.rawValue)).flatMap(DataSpec.Format.init) ?? .auto
        let positions = modelPositions ?? 2048
        let maxSeqLen = f.int(d, "max_seq_len", range: 16...positions,
                              what: "a whole number from 16 to the model's max_position_embeddings (\(positions))")
        if d.has("max_seq_len") && maxSeqLen == nil { return nil }
        let fit = f.choice(d, "fit", DataSpec.Fit.allCases.map(\.rawValue)).flatMap(DataSpec.Fit.init) ?? .trimHistory
        let packing = f.bool(d, "packing") ?? true
        let keepThoughts = f.bool(d, "keep_thoughts") ?? false
        let lossTurns = f.choice(d, "loss_turns", LossTurns.allCases.map(\.rawValue)).flatMap(LossTurns.init) ?? .lastAssistant
        let sharePrefixes = f.bool(d, "share_prefixes") ?? (lossTurns == .lastAssistant)
        if sharePrefixes && lossTurns == .everyAssistant {
            // A longer example trains the shorter one's assistant turns too: a position would need two labels.
            f.report(d.keyPath("share_prefixes"), d.entries["share_prefixes"]?.mark,
                     "true needs data.loss_turns: last-assistant; with every-assistant the examples' target spans overlap")
        }
        let testQueryIDs = f.strings(d, "test_query_ids", allowed: "a file or folder of test query ids ({\"<qid>\": 0, ...}) or a list of them")
        for item in testQueryIDs { f.name(item.value, .readable, keyPath: item.keyPath, mark: item.mark) }
        guard let train else { return nil }
        return DataSpec(train: train, eval: eval, format: format, maxSeqLen: maxSeqLen ?? min(2048, positions), fit: fit,
                        packing: packing, sharePrefixes: sharePrefixes, keepThoughts: keepThoughts, lossTurns: lossTurns, testQueryIDs: testQueryIDs.map(\.value))
    }

    static func readTrain(_ top: YAMLTable, _ f: YAMLFields, maxSeqLen: Int?) -> TrainSpec? {
        var train = TrainSpec.defaults
        guard let t = f.table(top, "train", allowed: trainKeys) else { return top.has("train") ? nil : train }
        let before = f.issues.count
        train.epochs = f.int(t, "epochs", range: 1...1_000_000) ?? train.epochs
        train.maxSteps = f.int(t, "max_steps", range: 1...Int.max)
        train.microBatchTokens = f.int(t, "micro_batch_tokens", range: 1...Int.max) ?? train.microBatchTokens
        train.globalBatchTokens = f.int(t, "global_batch_tokens", range: 1...Int.max) ?? train.globalBatchTokens
        if let maxSeqLen, train.microBatchTokens < maxSeqLen, f.issues.count == before {
            f.report(t.keyPath("micro_batch_tokens"), t.entries["micro_batch_tokens"]?.mark ?? t.mark,
                     "expected at least data.max_seq_len (\(maxSeqLen)) so one packed sequence fits, found \(train.microBatchTokens)")
        }
        if train.globalBatchTokens < train.microBatchTokens, f.issues.count == before {
            f.report(t.keyPath("global_batch_tokens"), t.entries["global_batch_tokens"]?.mark ?? t.mark,
                     "expected at least micro_batch_tokens (\(train.microBatchTokens)), found \(train.globalBatchTokens)")
        }
        if let o = f.table(t, "optimizer", allowed: optimizerKeys) {
            train.optimizer.name = f.choice(o, "name", ["adamw"]) ?? "adamw"
            train.optimizer.lr = f.double(o, "lr", range: 0...1, openLower: true) ?? train.optimizer.lr
            if let betas = f.numbers(o, "betas", count: 2, range: 0...1, openUpper: true) { train.optimizer.betas = (betas[0], betas[1]) }
            train.optimizer.eps = f.double(o, "eps", range: 0...1, openLower: true) ?? train.optimizer.eps
            train.optimizer.weightDecay = f.double(o, "weight_decay", range: 0...1) ?? train.optimizer.weightDecay
        }
        if let s = f.table(t, "schedule", allowed: scheduleKeys) {
            train.schedule.name = f.choice(s, "name", ScheduleSpec.Name.allCases.map(\.rawValue)).flatMap(ScheduleSpec.Name.init) ?? .linear
            if s.has("warmup_ratio") && s.has("warmup_steps") {
                f.report(s.keyPath("warmup_steps"), s.entries["warmup_steps"]?.mark, "give warmup_ratio or warmup_steps, not both")
            }
            train.schedule.warmupRatio = f.double(s, "warmup_ratio", range: 0...1) ?? (s.has("warmup_steps") ? 0 : 0.03)
            train.schedule.warmupSteps = f.int(s, "warmup_steps", range: 0...Int.max)
        }
        train.maxGradNorm = f.double(t, "max_grad_norm", range: 0...Double.greatestFiniteMagnitude,
                                     what: "a number >= 0 (0 turns clipping off)") ?? train.maxGradNorm
        train.dropout = f.double(t, "dropout", range: 0...1, openUpper: true) ?? train.dropout
        train.skipNonfinite = f.bool(t, "skip_nonfinite") ?? false
        train.precision = f.choice(t, "precision", Precision.allCases.map(\.rawValue)).flatMap(Precision.init) ?? .fp32
        return train
    }

    static func readEval(_ top: YAMLTable, _ f: YAMLFields, maxSeqLen: Int?) -> EvalSpec? {
        // A prompt needs room: the budget is at most max_seq_len - 16 (and 256 by default).
        let budget = maxSeqLen.map { max(1, $0 - 16) } ?? 1_000_000
        var eval = EvalSpec(maxNewTokens: min(256, budget), everyCheckpoint: true, queries: [], toolenv: nil, maxSteps: 12,
                            temperature: 0, topP: 1, stop: [], precision: .fp32, toolServer: nil, judge: nil)
        guard let e = f.table(top, "eval", allowed: evalKeys) else { return top.has("eval") ? nil : eval }
        let before = f.issues.count
        eval.maxNewTokens = f.int(e, "max_new_tokens", range: 1...budget,
                                  what: "a whole number from 1 to data.max_seq_len - 16 (\(budget)), so a prompt still fits") ?? eval.maxNewTokens
        eval.everyCheckpoint = f.bool(e, "every_checkpoint") ?? true
        let queries = f.strings(e, "queries", allowed: "a ToolBench query file or folder (instruction format) or a list of them")
        for item in queries { f.name(item.value, .readable, keyPath: item.keyPath, mark: item.mark) }
        eval.queries = queries.map(\.value)
        eval.toolenv = f.string(e, "toolenv", allowed: "a ToolBench toolenv/tools folder")
        if let toolenv = eval.toolenv { f.name(toolenv, .readable, keyPath: e.keyPath("toolenv"), mark: e.entries["toolenv"]?.mark) }
        eval.maxSteps = f.int(e, "max_steps", range: 1...1000) ?? 12
        eval.temperature = f.double(e, "temperature", range: 0...100, what: "a number >= 0 (0 = greedy)") ?? 0
        eval.topP = f.double(e, "top_p", range: 0...1, openLower: true) ?? 1
        let stop = f.strings(e, "stop", allowed: "a non-empty string or a list of them")
        for item in stop where item.value.isEmpty { f.report(item.keyPath, item.mark, "expected a non-empty string, found an empty one") }
        eval.stop = stop.map(\.value)
        eval.precision = f.choice(e, "precision", Precision.allCases.map(\.rawValue)).flatMap(Precision.init) ?? .fp32
        if let t = f.table(e, "toolserver", allowed: toolServerKeys) {
            let url = f.string(t, "url", required: true, allowed: "an http:// or https:// address", check: isWebAddress)
            var server = ToolServerSpec(url: url ?? "")
            server.keyEnv = f.string(t, "key_env", allowed: "an environment variable name", check: isVariableName)
            server.timeoutSeconds = f.double(t, "timeout_s", range: 0...86_400, openLower: true) ?? server.timeoutSeconds
            server.retries = f.int(t, "retries", range: 0...100) ?? server.retries
            eval.toolServer = server
        }
        if let t = f.table(e, "judge", allowed: judgeKeys) {
            let base = f.string(t, "base_url", required: true, allowed: "an http:// or https:// address", check: isWebAddress)
            let model = f.string(t, "model", required: true, allowed: "the judge model's name", check: { !$0.isEmpty })
            var judge = JudgeSpec(baseURL: base ?? "", model: model ?? "")
            judge.keyEnv = f.string(t, "key_env", allowed: "an environment variable name", check: isVariableName)
            judge.evaluateTimes = f.int(t, "evaluate_times", range: 1...100) ?? judge.evaluateTimes
            judge.timeoutSeconds = f.double(t, "timeout_s", range: 0...86_400, openLower: true) ?? judge.timeoutSeconds
            judge.retries = f.int(t, "retries", range: 0...100) ?? judge.retries
            eval.judge = judge
        }
        return f.issues.count == before ? eval : nil
    }

    static func isWebAddress(_ text: String) -> Bool {
        guard let url = URL(string: text), let scheme = url.scheme?.lowercased() else { return false }
        return ["http", "https"].contains(scheme) && !(url.host ?? "").isEmpty
    }

    static func isVariableName(_ text: String) -> Bool {
        guard let first = text.unicodeScalars.first, !("0"..."9").contains(first) else { return false }
        return text.unicodeScalars.allSatisfy { $0 == "_" || ("a"..."z").contains($0) || ("A"..."Z").contains($0) || ("0"..."9").contains($0) }
    }

    static func readCheckpoint(_ top: YAMLTable, _ f: YAMLFields, jobName: String) -> CheckpointSpec? {
        var spec = CheckpointSpec(dir: "runs/\(jobName)", everySteps: 100, keepLast: 3, resume: .auto)
        guard let c = f.table(top, "checkpoint", allowed: checkpointKeys) else { return top.has("checkpoint") ? nil : spec }
        spec.dir = f.string(c, "dir", allowed: "a folder for this run's checkpoints and logs") ?? spec.dir
        spec.everySteps = f.int(c, "every_steps", range: 1...Int.max) ?? spec.everySteps
        spec.keepLast = f.int(c, "keep_last", range: 0...Int.max, what: "a whole number >= 0 (0 keeps all)") ?? spec.keepLast
        if let resume = f.string(c, "resume", allowed: "auto, never, or the path of a checkpoint file") {
            switch resume {
            case "auto": spec.resume = .auto
            case "never": spec.resume = .never
            default:
                f.name(resume, .readable, keyPath: c.keyPath("resume"), mark: c.entries["resume"]?.mark)
                spec.resume = .from(resume)
            }
        }
        return spec
    }
}
