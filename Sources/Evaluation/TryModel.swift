import Foundation
import Interop
import Job
import Kernels
import OPT
import Storage
import Tokenizer
import ToolBench

/// `tooltune generate`: a checkpoint continuing a text, or rolling out one ToolBench query against the
/// canned environment, for a person to read.
public struct TryModel {
    public let model: OPTModel
    public let tokenizer: Tokenizer
    public let settings: GenerationSettings

    /// `tokenizerFolder` nil: the tokenizer of the job stored in the checkpoint (its `job` attribute). The
    /// model runs on `engine` (fp32 or bf16).
    public init(checkpoint: String, tokenizerFolder: String?, settings: GenerationSettings,
                engine: GEMMEngine = .float32) throws {
        model = try ModelCheckpoint.load(checkpoint)
        model.use(engine)
        let folder: String
        if let tokenizerFolder {
            folder = tokenizerFolder
        } else {
            let root = try HDF5File(checkpoint, mode: .readOnly).root
            guard root.hasAttribute("job") else {
                throw EvalError("\(checkpoint) has no job attribute naming its tokenizer; give --tokenizer")
            }
            do {
                // The job's model is this checkpoint's: reading it opens none of the files it names.
                let model = self.model
                folder = try JobSpec.parse(try root.stringAttribute("job"), file: "\(checkpoint) (job attribute)",
                                           architecture: { _ in model.config }).tokenizer.path
            } catch {
                throw EvalError("\(checkpoint): cannot read the tokenizer from its job attribute (\(error)); give --tokenizer")
            }
        }
        tokenizer = try Tokenizer(folder: folder)
        guard tokenizer.vocabularySize <= model.config.vocabSize else {
            throw EvalError("tokenizer \(folder) has \(tokenizer.vocabularySize) tokens, more than the model's vocab_size \(model.config.vocabSize)")
        }
        self.settings = settings
    }

    /// The model's continuation of `text` (BOS first, as in training).
    public func complete(_ text: String, seed: UInt64) throws -> GeneratedTurn {
        let tokens = tokenizer.encode(text, addBOS: true)
        let generator = try ModelTurnGenerator(model: model, tokenizer: tokenizer, settings: settings,
                                               contextTokens: min(model.config.maxPositionEmbeddings, tokens.count + settings.maxNewTokens))
        let prompt = FittedPrompt(turns: [], text: text, tokens: tokens, originalLength: tokens.count, actions: FitActions())
        return try generator.generate(prompt, seed: seed)
    }

    /// One rollout of `query` as `tooltune eval` runs it, prompts fitted into `maxSeqLen - max_new_tokens`.
    public func rollout(_ query: ToolBenchQuery, tools: ToolDescriptions, maxSeqLen: Int, maxSteps: Int,
                        seed: UInt64) throws -> RolloutResult {
        guard settings.maxNewTokens < maxSeqLen, maxSeqLen <= model.config.maxPositionEmbeddings else {
            throw EvalError("max_seq_len \(maxSeqLen) must exceed max_new_tokens \(settings.maxNewTokens) and be at most max_position_embeddings \(model.config.maxPositionEmbeddings)")
        }
        let generator = try ModelTurnGenerator(model: model, tokenizer: tokenizer, settings: settings, contextTokens: maxSeqLen)
        let fitter = ExampleFitter(policy: FitPolicy(maxSeqLen: maxSeqLen, mode: .trimHistory, loss: .lastAssistant), encoder: tokenizer)
        return try Rollout(prompt: QueryPrompt(query, tools: tools), group: "query", maxSteps: maxSteps)
            .run(generator: generator, fitter: fitter, reserve: settings.maxNewTokens, seed: seed)
    }

    /// A rollout as text: each step's output and observation, then how it ended and its scores.
    public static func describe(_ result: RolloutResult) -> String {
        var lines: [String] = []
        for (i, step) in result.steps.enumerated() {
            lines.append("--- step \(i + 1) (prompt \(step.prompt.tokens) tokens, \(step.generatedTokens) generated, \(step.stopReason.rawValue))")
            lines.append("Assistant: " + step.output)
            lines.append("Function: " + step.observation)
        }
        let s = result.score
        lines.append("--- ended: \(result.end.rawValue)" + (result.finalAnswer.map { "; final answer: \($0)" } ?? ""))
        lines.append("relevant APIs \(result.relevant); first call relevant \(s.firstCallRelevant), hallucination-free \(s.hallucinationFree.map(String.init(describing:)) ?? "n/a"), "
                     + "API calls \(s.apiCalls) (\(s.validCalls) with valid arguments), proxy pass \(s.proxyPass)")
        return lines.joined(separator: "\n")
    }
}
