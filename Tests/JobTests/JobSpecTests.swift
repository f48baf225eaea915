import Distributed
import Foundation
@testable import Job
import OPT
import Preflight
import Kernels
import Testing
import TestSupport

/// A folder with the files a job points at: a tokenizer (ids 0..<64) and a training-data folder.
struct JobWorkspace {
    let root: URL

    init() throws {
        root = try makeTemporaryFolder("jobspec")
        let tok = root.appendingPathComponent("tok")
        try FileManager.default.createDirectory(at: tok, withIntermediateDirectories: true)
        let vocab = Dictionary(uniqueKeysWithValues: (0..<64).map { ("t\($0)", $0) })
        try JSONSerialization.data(withJSONObject: vocab).write(to: tok.appendingPathComponent("vocab.json"))
        try Data("#version: 0.2\nt 1\n".utf8).write(to: tok.appendingPathComponent("merges.txt"))
        try FileManager.default.createDirectory(at: root.appendingPathComponent("data"), withIntermediateDirectories: true)
    }

    static let base = """
        name: t
        seed: 1
        model:
          init: random
          config: {preset: tiny, vocab_size: 64}
        tokenizer:
          path: ROOT/tok
        data:
          train: ROOT/data
          max_seq_len: 128
        train:
          micro_batch_tokens: 256
          global_batch_tokens: 1024
          optimizer:
            lr: 1.0e-3
            betas: [0.9, 0.99]
          schedule:
            name: cosine
            warmup_steps: 2
          dropout: 0.1
        checkpoint:
          dir: ROOT/runs

        """

    func text(_ yaml: String) -> String { yaml.replacingOccurrences(of: "ROOT", with: root.path) }

    func parse(_ yaml: String) throws -> JobSpec { try JobPreflight.check(text(yaml), file: "job.yaml") }

    func issues(_ yaml: String) -> [JobIssue] {
        do {
            _ = try parse(yaml)
            return []
        } catch let error as JobSpecError {
            return error.issues
        } catch {
            return [JobIssue(keyPath: "?", line: nil, column: nil, message: "\(error)")]
        }
    }
}

/// One broken job: how it differs from the valid base, and the key path its error must name.
struct BrokenJob: CustomTestStringConvertible, Sendable {
    let name: String
    let edits: [(String, String)]
    let keyPath: String
    var line: Int?
    var mentions: String?

    var testDescription: String { name }

    func apply(to base: String) -> String {
        edits.reduce(base) { text, edit in
            precondition(text.contains(edit.0), "edit '\(edit.0)' does not apply in case \(name)")
            return text.replacingOccurrences(of: edit.0, with: edit.1)
        }
    }

    static let all: [BrokenJob] = [
        BrokenJob(name: "YAML syntax error", edits: [("  dropout: 0.1", "  dropout: [0.1")], keyPath: "", line: 21,
                  mentions: "syntax"),
        BrokenJob(name: "tab indentation", edits: [("  max_seq_len: 128", "\tmax_seq_len: 128")], keyPath: "",
                  mentions: "syntax"),
        BrokenJob(name: "unknown top-level key", edits: [("seed: 1", "sed: 1")], keyPath: "sed", line: 2,
                  mentions: "did you mean 'seed'"),
        BrokenJob(name: "unknown nested key", edits: [("    lr: 1.0e-3", "    learning_rate: 1.0e-3")],
                  keyPath: "train.optimizer.learning_rate", line: 15),
        BrokenJob(name: "duplicate key", edits: [("seed: 1\n", "seed: 1\nseed: 2\n")], keyPath: "seed"),
        BrokenJob(name: "missing name", edits: [("name: t\n", "")], keyPath: "name", mentions: "missing"),
        BrokenJob(name: "missing model", edits: [("model:\n  init: random\n  config: {preset: tiny, vocab_size: 64}\n", "")],
                  keyPath: "model", mentions: "missing"),
        BrokenJob(name: "missing data.train", edits: [("  train: ROOT/data\n", "")], keyPath: "data.train"),
        BrokenJob(name: "seed is not a number", edits: [("seed: 1", "seed: one")], keyPath: "seed", line: 2,
                  mentions: "found one"),
        BrokenJob(name: "quoted number", edits: [("lr: 1.0e-3", "lr: \"1.0e-3\"")], keyPath: "train.optimizer.lr",
                  mentions: "the string \"1.0e-3\""),
        BrokenJob(name: "negative learning rate", edits: [("lr: 1.0e-3", "lr: -1.0e-3")], keyPath: "train.optimizer.lr",
                  line: 15, mentions: "> 0"),
        BrokenJob(name: "betas of the wrong length", edits: [("[0.9, 0.99]", "[0.9]")], keyPath: "train.optimizer.betas"),
        BrokenJob(name: "beta of one", edits: [("[0.9, 0.99]", "[0.9, 1.0]")], keyPath: "train.optimizer.betas[1]"),
        BrokenJob(name: "unknown init", edits: [("init: random", "init: pretrained")], keyPath: "model.init",
                  mentions: "one of random, hf, checkpoint"),
        BrokenJob(name: "unknown preset", edits: [("preset: tiny", "preset: opt-7b")], keyPath: "model.config.preset"),
        BrokenJob(name: "heads do not divide hidden", edits: [("vocab_size: 64}", "vocab_size: 64, num_attention_heads: 5}")],
                  keyPath: "model.config", mentions: "not divisible"),
        BrokenJob(name: "random init without config", edits: [("  config: {preset: tiny, vocab_size: 64}\n", "")],
                  keyPath: "model.config"),
        BrokenJob(name: "hf init without config.json", edits: [("  init: random\n  config: {preset: tiny, vocab_size: 64}",
                                                                "  init: hf\n  path: ROOT/data")],
                  keyPath: "model.path", mentions: "config.json"),
        BrokenJob(name: "max_seq_len over positions", edits: [("max_seq_len: 128", "max_seq_len: 4096")],
                  keyPath: "data.max_seq_len", mentions: "1024"),
        BrokenJob(name: "micro batch smaller than a sequence", edits: [("micro_batch_tokens: 256", "micro_batch_tokens: 100")],
                  keyPath: "train.micro_batch_tokens"),
        BrokenJob(name: "global batch smaller than micro", edits: [("global_batch_tokens: 1024", "global_batch_tokens: 200")],
                  keyPath: "train.global_batch_tokens"),
        BrokenJob(name: "warmup given twice", edits: [("    warmup_steps: 2", "    warmup_steps: 2\n    warmup_ratio: 0.1")],
                  keyPath: "train.schedule.warmup_steps"),
        BrokenJob(name: "unknown schedule", edits: [("name: cosine", "name: exponential")], keyPath: "train.schedule.name",
                  mentions: "linear, cosine, constant"),
        BrokenJob(name: "dropout of one", edits: [("dropout: 0.1", "dropout: 1")], keyPath: "train.dropout"),
        BrokenJob(name: "packing yes", edits: [("  max_seq_len: 128", "  max_seq_len: 128\n  packing: yes")],
                  keyPath: "data.packing", mentions: "true or false"),
        BrokenJob(name: "shared prefixes with every-assistant",
                  edits: [("  max_seq_len: 128", "  max_seq_len: 128\n  loss_turns: every-assistant\n  share_prefixes: true")],
                  keyPath: "data.share_prefixes", line: 12, mentions: "needs data.loss_turns: last-assistant"),
        BrokenJob(name: "unknown fit", edits: [("  max_seq_len: 128", "  max_seq_len: 128\n  fit: trim-all")],
                  keyPath: "data.fit", line: 11, mentions: "one of trim-history, trim-chain, drop"),
        BrokenJob(name: "unknown loss turns", edits: [("  max_seq_len: 128", "  max_seq_len: 128\n  loss_turns: all")],
                  keyPath: "data.loss_turns", line: 11, mentions: "one of last-assistant, every-assistant"),
        BrokenJob(name: "missing test-id file", edits: [("  max_seq_len: 128", "  max_seq_len: 128\n  test_query_ids: ROOT/ids.json")],
                  keyPath: "data.test_query_ids", line: 11, mentions: "ids.json"),
        BrokenJob(name: "missing test-id file in a list",
                  edits: [("  max_seq_len: 128", "  max_seq_len: 128\n  test_query_ids: [ROOT/data, ROOT/gone.json]")],
                  keyPath: "data.test_query_ids[1]", mentions: "gone.json"),
        BrokenJob(name: "test ids as a mapping", edits: [("  max_seq_len: 128", "  max_seq_len: 128\n  test_query_ids: {a: 1}")],
                  keyPath: "data.test_query_ids", mentions: "found a mapping"),
        BrokenJob(name: "unreadable data path", edits: [("train: ROOT/data", "train: ROOT/nowhere")], keyPath: "data.train",
                  mentions: "nowhere"),
        BrokenJob(name: "tokenizer without merges", edits: [("path: ROOT/tok", "path: ROOT/data")], keyPath: "tokenizer.path",
                  mentions: "merges.txt"),
        BrokenJob(name: "tokenizer larger than the model vocabulary", edits: [("vocab_size: 64", "vocab_size: 50")],
                  keyPath: "tokenizer.path", mentions: "vocab_size is 50"),
        BrokenJob(name: "section is a list", edits: [("checkpoint:\n  dir: ROOT/runs", "checkpoint:\n  - ROOT/runs")],
                  keyPath: "checkpoint", mentions: "found a list"),
        BrokenJob(name: "zero checkpoint interval", edits: [("  dir: ROOT/runs", "  dir: ROOT/runs\n  every_steps: 0")],
                  keyPath: "checkpoint.every_steps"),
        BrokenJob(name: "zero threads", edits: [("checkpoint:", "distributed: {threads_per_rank: 0}\ncheckpoint:")],
                  keyPath: "distributed.threads_per_rank"),
        BrokenJob(name: "name with spaces", edits: [("name: t", "name: my job")], keyPath: "name"),
        BrokenJob(name: "unknown allreduce", edits: [("checkpoint:", "distributed: {allreduce: ring}\ncheckpoint:")],
                  keyPath: "distributed.allreduce", mentions: "one of flat, hierarchical"),
        BrokenJob(name: "unknown allreduce dtype", edits: [("checkpoint:", "distributed: {allreduce_dtype: fp16}\ncheckpoint:")],
                  keyPath: "distributed.allreduce_dtype", mentions: "one of fp32, bf16"),
        BrokenJob(name: "unknown precision", edits: [("dropout: 0.1", "dropout: 0.1\n  precision: fp16")], keyPath: "train.precision",
                  mentions: "one of fp32, bf16"),
        BrokenJob(name: "unknown GEMM backend", edits: [("checkpoint:", "compute: {gemm: mkl}\ncheckpoint:")], keyPath: "compute.gemm",
                  mentions: "one of auto, openblas, onednn"),
    ]
}

@Suite struct JobSpecTests {
    let workspace: JobWorkspace

    init() throws { workspace = try JobWorkspace() }

    @Test func baseJobIsValidWithDefaults() throws {
        let job = try workspace.parse(JobWorkspace.base)
        #expect(job.name == "t" && job.seed == 1)
        #expect(job.model.config.hiddenSize == 64 && job.model.config.vocabSize == 64)
        #expect(job.data.format == .auto && job.data.fit == .trimHistory && job.data.packing && !job.data.keepThoughts)
        // Shared prefixes by default with the last-assistant loss (not with every-assistant: the spans overlap).
        #expect(job.data.sharePrefixes && job.data.lossTurns == .lastAssistant)
        #expect(job.data.lossTurns == .lastAssistant && job.data.testQueryIDs.isEmpty)
        #expect(job.train.optimizer.lr == 1e-3 && job.train.optimizer.betas == (0.9, 0.99))
        #expect(job.train.optimizer.eps == 1e-8 && job.train.optimizer.weightDecay == 0)
        #expect(job.train.schedule.name == .cosine && job.train.schedule.warmupSteps == 2)
        #expect(job.train.epochs == 1 && job.train.maxGradNorm == 1.0)
        #expect(job.checkpoint.everySteps == 100 && job.checkpoint.keepLast == 3 && job.checkpoint.resume == .auto)
        #expect(job.distributed.threadsPerRank == 1 && job.distributed.bucketMB == 25)
        #expect(job.distributed.reduction == GradientReduction(topology: .flat, wire: .fp32))
    }

    @Test func allreduceSettingsAreReadAndWrittenBack() throws {
        let yaml = JobWorkspace.base.replacingOccurrences(
            of: "checkpoint:", with: "distributed: {allreduce: hierarchical, allreduce_dtype: bf16}\ncheckpoint:")
        let job = try workspace.parse(yaml)
        #expect(job.distributed.reduction == GradientReduction(topology: .hierarchical, wire: .bf16))
        let resolved = try job.resolvedYAML()
        #expect(resolved.contains("allreduce: hierarchical") && resolved.contains("allreduce_dtype: bf16"))
        #expect(try JobSpec.parse(resolved, file: "resolved.yaml").distributed.reduction == job.distributed.reduction)
    }

    @Test(arguments: BrokenJob.all)
    func brokenJobNamesTheKey(_ broken: BrokenJob) throws {
        let issues = workspace.issues(broken.apply(to: JobWorkspace.base))
        let match = issues.first { $0.keyPath == broken.keyPath }
        #expect(match != nil, "expected an error at '\(broken.keyPath)', got \(issues)")
        if let line = broken.line { #expect(match?.line == line, "\(issues)") }
        if let text = broken.mentions { #expect(match?.message.contains(text) == true, "\(issues)") }
        #expect(match?.line != nil, "every error should carry a line: \(issues)")
    }

    @Test func atLeastFifteenBrokenCases() { #expect(BrokenJob.all.count >= 15) }

    @Test func everyProblemIsReportedAtOnce() throws {
        let yaml = JobWorkspace.base.replacingOccurrences(of: "seed: 1", with: "seed: -5")
            .replacingOccurrences(of: "lr: 1.0e-3", with: "lr: 0")
            .replacingOccurrences(of: "dropout: 0.1", with: "dropot: 0.1")
        let error = #expect(throws: JobSpecError.self) { try workspace.parse(yaml) }
        #expect(Set(error?.issues.map(\.keyPath) ?? []) == ["seed", "train.optimizer.lr", "train.dropot"])
        let text = error?.description ?? ""
        #expect(text.contains("job.yaml: 3 problems"))
        #expect(text.contains("job.yaml:2:7: seed: expected a whole number >= 0, found -5"), "\(text)")
    }

    @Test func evalSectionIsReadAndEveryProblemNamed() throws {
        let defaults = try workspace.parse(JobWorkspace.base).eval
        // max_seq_len 128: the default budget shrinks to leave room for a prompt.
        #expect(defaults.maxNewTokens == 112 && defaults.maxSteps == 12 && defaults.temperature == 0 && defaults.topP == 1)
        #expect(defaults.queries.isEmpty && defaults.toolenv == nil && defaults.stop.isEmpty && defaults.everyCheckpoint)
        let good = JobWorkspace.base + """
            eval:
              max_new_tokens: 64
              queries: [ROOT/data]
              toolenv: ROOT/data
              max_steps: 5
              temperature: 0.7
              top_p: 0.9
              stop: "\\nFunction:"

            """
        let eval = try workspace.parse(good).eval
        #expect(eval.maxNewTokens == 64 && eval.queries == [workspace.root.path + "/data"] && eval.toolenv == workspace.root.path + "/data")
        #expect(eval.maxSteps == 5 && eval.temperature == 0.7 && eval.topP == 0.9 && eval.stop == ["\nFunction:"])
        let bad = JobWorkspace.base + """
            eval:
              max_new_tokens: 120
              queries: [ROOT/missing]
              temperature: -1
              top_p: 0
              stop: ["x", ""]
              max_step: 3

            """
        let issues = workspace.issues(bad)
        #expect(Set(issues.map(\.keyPath)) == ["eval.max_new_tokens", "eval.queries[0]", "eval.temperature", "eval.top_p",
                                               "eval.stop[1]", "eval.max_step"], "\(issues)")
        #expect(issues.first { $0.keyPath == "eval.max_new_tokens" }?.message.contains("data.max_seq_len - 16 (112)") == true)
    }

    /// compute.gemm (auto by default), train.precision and eval.precision (fp32 by default).
    @Test func computeSettings() throws {
        let plain = try workspace.parse(JobWorkspace.base)
        #expect(plain.compute.gemm == nil && plain.train.precision == .fp32 && plain.eval.precision == .fp32)
        let yaml = JobWorkspace.base.replacingOccurrences(of: "dropout: 0.1", with: "dropout: 0.1\n  precision: bf16")
            .replacingOccurrences(of: "checkpoint:", with: "compute: {gemm: openblas}\neval: {precision: bf16}\ncheckpoint:")
        let job = try workspace.parse(yaml)
        #expect(job.compute.gemm == .openblas && job.train.precision == .bf16 && job.eval.precision == .bf16)
        // bf16 needs oneDNN: the engine names the field and the backend.
        #expect(throws: GEMMEngineError.self) { try job.compute.engine(.bf16, field: "train.precision") }
        let resolved = try job.resolvedYAML()
        #expect(resolved.contains("gemm: openblas") && resolved.contains("precision: bf16"))
    }

    @Test func resolvedYAMLParsesBackToTheSameJob() throws {
        let job = try workspace.parse(JobWorkspace.base)
        let resolved = try job.resolvedYAML()
        let again = try JobSpec.parse(resolved, file: "resolved.yaml")
        #expect(try again.resolvedYAML() == resolved)
        #expect(again.model.config == job.model.config)
        #expect(resolved.contains("warmup_steps: 2") && resolved.contains("lr: 0.001") && resolved.contains("dropout: 0.1\n"))
    }

    @Test func configMappingOverridesAPreset() throws {
        let yaml = JobWorkspace.base.replacingOccurrences(
            of: "{preset: tiny, vocab_size: 64}", with: "{preset: tiny-350m-style, vocab_size: 64, num_hidden_layers: 3}")
        let config = try workspace.parse(yaml).model.config
        #expect(config.numHiddenLayers == 3 && config.vocabSize == 64)
        #expect(config.wordEmbedProjDim == 32 && !config.doLayerNormBefore)
    }

    @Test func hfInitReadsTheArchitectureFromConfigJSON() throws {
        let model = workspace.root.appendingPathComponent("hf")
        try FileManager.default.createDirectory(at: model, withIntermediateDirectories: true)
        let config = #"{"architectures": ["OPTForCausalLM"], "model_type": "opt", "hidden_size": 32, "ffn_dim": 64, "num_hidden_layers": 2, "num_attention_heads": 4, "vocab_size": 64, "max_position_embeddings": 256, "torch_dtype": "float16"}"#
        try Data(config.utf8).write(to: model.appendingPathComponent("config.json"))
        let yaml = JobWorkspace.base.replacingOccurrences(of: "  init: random\n  config: {preset: tiny, vocab_size: 64}",
                                                          with: "  init: hf\n  path: ROOT/hf")
        let job = try workspace.parse(yaml)
        #expect(job.model.config.hiddenSize == 32 && job.model.config.wordEmbedProjDim == 32)
        #expect(job.model.config.maxPositionEmbeddings == 256)
    }
}

/// Reading a job opens nothing it names; the preflight does, and reports what is missing at its key.
@Suite struct JobReadingTests {
    let workspace: JobWorkspace

    init() throws { workspace = try JobWorkspace() }

    /// init hf with every path gone: the text alone still gives the job, with the architecture the caller has.
    var movedJob: String {
        workspace.text(JobWorkspace.base
            .replacingOccurrences(of: "  init: random\n  config: {preset: tiny, vocab_size: 64}", with: "  init: hf\n  path: ROOT/gone-model")
            .replacingOccurrences(of: "path: ROOT/tok", with: "path: ROOT/gone-tok")
            .replacingOccurrences(of: "train: ROOT/data", with: "train: ROOT/gone-data"))
    }

    @Test func parsingReadsTheTextAlone() throws {
        var asked: [JobSpec.ModelFile] = []
        let architecture = try #require(OPTConfig.presets["tiny"])
        let reading = JobSpec.read(movedJob, file: "job.yaml", architecture: { asked.append($0); return architecture })
        #expect(reading.issues.isEmpty, "\(reading.issues)")
        #expect(asked == [.huggingFace(folder: workspace.root.path + "/gone-model")])
        let job = try #require(reading.job)
        #expect(job.model.config == architecture && job.tokenizer.path == workspace.root.path + "/gone-tok")
        #expect(reading.paths.map(\.keyPath) == ["tokenizer.path", "data.train"])
        #expect(reading.paths.first?.kind == .tokenizer(vocabSize: architecture.vocabSize) && reading.paths.first?.line == 7)
    }

    @Test func aModelNamedByPathNeedsAnArchitecture() throws {
        let error = #expect(throws: JobSpecError.self) { try JobSpec.parse(movedJob, file: "job.yaml") }
        #expect(error?.issues.map(\.keyPath) == ["model.path"], "\(error?.issues ?? [])")
    }

    @Test func thePreflightNamesEveryMissingFile() throws {
        let error = #expect(throws: JobSpecError.self) { try JobPreflight.check(movedJob, file: "job.yaml") }
        #expect(Set(error?.issues.map(\.keyPath) ?? []) == ["model.path", "tokenizer.path", "data.train"], "\(error?.issues ?? [])")
        #expect(error?.issues.allSatisfy { $0.line != nil } == true)
    }
}

@Suite struct PresetTests {
    @Test func parameterCountsEqualHuggingFace() {
        #expect(OPTConfig.presets["opt-125m"]?.parameterCount == 125_239_296)
        #expect(OPTConfig.presets["opt-350m"]?.parameterCount == 331_196_416)
        #expect(OPTConfig.presets["opt-1.3b"]?.parameterCount == 1_315_758_080)
    }

    @Test func configJSONDefaultsFollowTransformers() throws {
        let config = try JSONDecoder().decode(OPTConfig.self, from: Data(#"{"hidden_size": 960, "unknown": 1}"#.utf8))
        #expect(config.wordEmbedProjDim == 960, "word_embed_proj_dim follows hidden_size when absent")
        #expect(config.vocabSize == 50272 && config.doLayerNormBefore && config.problems.isEmpty)
    }
}

/// The jobs shipped in jobs/ must validate through the real CLI.
@Suite struct ShippedJobTests {
    @Test func demoJobValidates() throws {
        let result = try runProcess(ToolTuneBinary.path, ["validate", "jobs/demo.yaml"], cwd: ToolTuneBinary.projectRoot)
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("name: demo"))
    }

    /// The real job points at files a cluster has (opt-350m, ToolBench); without them the errors
    /// name exactly those paths, and with stand-ins at those paths it validates.
    @Test func realJobValidatesWhenItsFilesExist() throws {
        let root = try makeTemporaryFolder("realjob")
        let job = ToolTuneBinary.projectRoot.appendingPathComponent("jobs/opt350m-toolbench.yaml").path
        let missing = try runProcess(ToolTuneBinary.path, ["validate", job], cwd: root)
        #expect(missing.status == 1)
        for key in ["model.path", "tokenizer.path", "data.train", "data.test_query_ids"] {
            #expect(missing.stderr.contains(": \(key): "), "\(missing.stderr)")
        }

        let model = root.appendingPathComponent("models/opt-350m")
        let files = FileManager.default
        try files.createDirectory(at: model, withIntermediateDirectories: true)
        // facebook/opt-350m's config.json as the hub has it.
        let config = """
            {"_name_or_path": "facebook/opt-350m", "activation_dropout": 0.0, "activation_function": "relu",
             "architectures": ["OPTForCausalLM"], "attention_dropout": 0.0, "bos_token_id": 2,
             "do_layer_norm_before": false, "dropout": 0.1, "eos_token_id": 2, "ffn_dim": 4096, "hidden_size": 1024,
             "init_std": 0.02, "layerdrop": 0.0, "max_position_embeddings": 2048, "model_type": "opt",
             "num_attention_heads": 16, "num_hidden_layers": 24, "pad_token_id": 1, "prefix": "</s>",
             "torch_dtype": "float16", "transformers_version": "4.20.0.dev0", "use_cache": true, "vocab_size": 50272,
             "word_embed_proj_dim": 512}
            """
        try Data(config.utf8).write(to: model.appendingPathComponent("config.json"))
        try Data(#"{"<s>": 0, "<pad>": 1, "</s>": 2, "<unk>": 3, "Ġthe": 50264}"#.utf8).write(to: model.appendingPathComponent("vocab.json"))
        try Data("#version: 0.2\nĠ t\n".utf8).write(to: model.appendingPathComponent("merges.txt"))
        for folder in ["data/toolbench/answer", "data/toolbench/eval", "data/toolbench/test_query_ids",
                       "data/toolbench/solvable_queries/test_instruction"] {
            try files.createDirectory(at: root.appendingPathComponent(folder), withIntermediateDirectories: true)
        }
        let valid = try runProcess(ToolTuneBinary.path, ["validate", job], cwd: root)
        #expect(valid.status == 0, "\(valid.stderr)")
        #expect(valid.stdout.contains("331,196,416 parameters"), "\(valid.stdout)")
        #expect(valid.stdout.contains("do_layer_norm_before: false"))
    }
}
