import ArgumentParser
import Evaluation
import Foundation
import JSON
import Kernels
import ToolBench

struct Generate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Try a checkpoint: continue a text, or roll out a ToolBench query against canned observations.",
        discussion: """
            --prompt continues the text as it is (BOS first). --query takes a ToolBench query file (instruction \
            format, a list or one query), builds ToolBench's system prompt from its api_list and runs the rollout \
            `tooltune eval` runs, printing each step.
            """)

    @Argument(help: "A model file: a ToolTune checkpoint or any .h5 with /model and model_config.")
    var checkpoint: String

    @Option(help: "Text to continue.")
    var prompt: String?

    @Option(help: ArgumentHelp("A ToolBench query file to roll out.", valueName: "FILE.json"))
    var query: String?

    @Option(parsing: .unconditional, help: ArgumentHelp("With --query: which query of the file (0-based; default 0).", valueName: "N"))
    var index: Int?

    @Option(help: ArgumentHelp("With --query: the query with this query_id.", valueName: "ID"))
    var queryID: String?

    @Option(help: ArgumentHelp("Tokenizer folder (default: the one of the job stored in the checkpoint).", valueName: "DIR"))
    var tokenizer: String?

    @Option(help: ArgumentHelp("With --query: a ToolBench toolenv/tools folder for tool descriptions.", valueName: "DIR"))
    var toolenv: String?

    @Option(parsing: .unconditional, help: "New tokens per turn.")
    var maxNewTokens = 256

    @Option(parsing: .unconditional, help: "0 = greedy.")
    var temperature = 0.0

    @Option(parsing: .unconditional, help: "Nucleus sampling mass.")
    var topP = 1.0

    @Option(parsing: .unconditional, help: "Sampling seed.")
    var seed: UInt64 = 0

    @Option(help: ArgumentHelp("A string that ends a turn besides EOS (repeatable).", valueName: "TEXT"))
    var stop: [String] = []

    @Option(parsing: .unconditional, help: "With --query: the prompt budget (prompt + new tokens), default min(2048, max_position_embeddings).")
    var maxSeqLen: Int?

    @Option(parsing: .unconditional, help: "With --query: assistant steps at most.")
    var maxSteps = 12

    @Option(parsing: .unconditional, help: "Kernel threads (default: all CPUs).")
    var threads: Int?

    @Option(help: "fp32, or bf16 (bfloat16 weights: half the bytes per token; needs bfloat16 instructions).")
    var precision: Precision = .fp32

    func validate() throws {
        guard (prompt == nil) != (query == nil) else { throw ValidationError("give --prompt or --query") }
        if index != nil && queryID != nil { throw ValidationError("give --index or --query-id, not both") }
        try OptionCheck.atLeast(1, maxNewTokens, "--max-new-tokens")
        try OptionCheck.number(temperature, "--temperature", ">= 0 (0 = greedy)") { $0 >= 0 }
        try OptionCheck.number(topP, "--top-p", "in (0, 1]") { $0 > 0 && $0 <= 1 }
        try OptionCheck.atLeast(0, index, "--index")
        try OptionCheck.atLeast(2, maxSeqLen, "--max-seq-len")
        try OptionCheck.atLeast(1, maxSteps, "--max-steps")
        try OptionCheck.threads(threads)
        if stop.contains("") { throw ValidationError("--stop needs a non-empty string") }
    }

    func run() throws {
        if let threads { useThreads(threads) }
        do {
            let settings = GenerationSettings(maxNewTokens: maxNewTokens, temperature: temperature, topP: topP, stop: stop)
            let tryModel = try TryModel(checkpoint: checkpoint, tokenizerFolder: tokenizer, settings: settings,
                                        engine: try GEMMEngine(backend: GEMMEngine.automaticBackend, precision: precision))
            if let prompt {
                let turn = try tryModel.complete(prompt, seed: seed)
                print(prompt + turn.text)
                print("--- \(turn.tokens) tokens, stopped by \(turn.stopReason.rawValue)")
                return
            }
            let file = query!
            var root = JSONField(try JSONParser.parse(contentsOf: file), file: file)
            if case .object = root.value { root = JSONField(.array([root.value]), file: file) }
            let queries = try QueryFiles.convert(root)
            let chosen: ToolBenchQuery
            if let queryID {
                guard let found = queries.first(where: { $0.queryID == queryID }) else {
                    throw ValidationError("\(file) has no query with query_id \(queryID)")
                }
                chosen = found
            } else {
                let i = index ?? 0
                guard queries.indices.contains(i) else { throw ValidationError("\(file) has \(queries.count) queries; --index \(i) is outside") }
                chosen = queries[i]
            }
            let tools = try toolenv.map { try ToolDescriptions(folder: $0) } ?? ToolDescriptions()
            let length = maxSeqLen ?? min(2048, tryModel.model.config.maxPositionEmbeddings)
            print("query \(chosen.queryID): \(chosen.query)")
            let result = try tryModel.rollout(chosen, tools: tools, maxSeqLen: length, maxSteps: maxSteps, seed: seed)
            print(TryModel.describe(result))
        } catch let error as ValidationError {
            throw error
        } catch {
            FileHandle.standardError.write(Data("\(error)\n".utf8))
            throw ExitCode(1)
        }
    }
}
