import Foundation
import Interop
import Job
import Kernels
import OPT
import Reporting

/// Times greedy generation the way scripts/bench_generate.py times transformers' `generate`: the same
/// model file, the same prompt ids (BOS, then `3 + (i * 7919) % (vocab - 3)`), the same thread count, no
/// early stop; medians over the timed runs. The JSON keys are the script's.
public enum GenerationBenchmark {
    public struct Options: Sendable {
        public var model: String
        public var promptTokens: Int
        public var newTokens: Int
        public var repeats: Int
        public var warmup: Int
        public var threads: Int
        public var precision: Precision
        /// nil: `compute.gemm: auto`.
        public var gemm: GEMMBackend?

        public init(model: String, promptTokens: Int, newTokens: Int, repeats: Int, warmup: Int, threads: Int,
                    precision: Precision = .fp32, gemm: GEMMBackend? = nil) {
            self.model = model
            self.promptTokens = promptTokens
            self.newTokens = newTokens
            self.repeats = repeats
            self.warmup = warmup
            self.threads = threads
            self.precision = precision
            self.gemm = gemm
        }
    }

    public struct Result: Codable, Sendable {
        public var framework = "tooltune"
        public var model: String
        public var params: Int
        public var promptTokens: Int
        public var newTokens: Int
        public var threads: Int
        public var repeats: Int
        /// The prompt through the model once (filling the KV cache).
        public var prefillSeconds: Double
        /// Prefill and every new token.
        public var totalSeconds: Double
        /// new tokens / total seconds.
        public var generatedTokensPerSecond: Double
        /// (new tokens - 1) / (total - prefill): the one-token-at-a-time rate.
        public var decodeTokensPerSecond: Double
        public var tokens: [Int32]
        /// fp32 or bf16, and the GEMM backend.
        public var precision: String
        public var gemm: String

        enum CodingKeys: String, CodingKey {
            case framework, model, params, threads, repeats, tokens, precision, gemm
            case promptTokens = "prompt_tokens"
            case newTokens = "new_tokens"
            case prefillSeconds = "prefill_s"
            case totalSeconds = "total_s"
            case generatedTokensPerSecond = "generated_tokens_per_s"
            case decodeTokensPerSecond = "decode_tokens_per_s"
        }
    }

    /// BOS and then the benchmark's deterministic ids.
    public static func prompt(count: Int, vocab: Int) -> [Int32] {
        [2] + (1..<max(1, count)).map { Int32(3 + ($0 * 7919) % (vocab - 3)) }
    }

    public static func run(_ options: Options) throws -> Result {
        guard options.promptTokens >= 1, options.newTokens >= 2, options.repeats >= 1, options.warmup >= 0 else {
            throw BenchmarkOptionError(message: "bench generate: need --prompt-tokens >= 1, --new-tokens >= 2, --repeats >= 1, --warmup >= 0")
        }
        useThreads(options.threads)
        let engine = try JobSpec.ComputeSpec(gemm: options.gemm).engine(options.precision, field: "--precision")
        let model = try ModelCheckpoint.load(options.model)
        model.use(engine)
        let prompt = self.prompt(count: options.promptTokens, vocab: model.config.vocabSize)
        guard prompt.count + options.newTokens <= model.config.maxPositionEmbeddings else {
            throw BenchmarkOptionError(message: "bench generate: \(prompt.count) + \(options.newTokens) tokens exceed max_position_embeddings \(model.config.maxPositionEmbeddings)")
        }
        let cache = try KVCache(for: model, capacity: prompt.count + options.newTokens)
        var prefills: [Double] = [], totals: [Double] = []
        var tokens: [Int32] = []
        for run in 0..<(options.warmup + options.repeats) {
            cache.truncate(to: 0)
            let start = DispatchTime.now().uptimeNanoseconds
            var logits = try model.extend(cache, with: prompt)
            let prefilled = DispatchTime.now().uptimeNanoseconds
            tokens = []
            while true {
                tokens.append(TokenSampler.argmax(logits))
                if tokens.count == options.newTokens { break }
                logits = try model.extend(cache, with: [tokens.last!])
            }
            let end = DispatchTime.now().uptimeNanoseconds
            if run >= options.warmup {
                prefills.append(Double(prefilled - start) / 1e9)
                totals.append(Double(end - start) / 1e9)
            }
        }
        let prefill = prefills.median, total = totals.median
        return Result(model: options.model, params: model.config.parameterCount, promptTokens: prompt.count,
                      newTokens: options.newTokens, threads: options.threads, repeats: options.repeats, prefillSeconds: prefill,
                      totalSeconds: total, generatedTokensPerSecond: Double(options.newTokens) / total,
                      decodeTokensPerSecond: Double(options.newTokens - 1) / (total - prefill), tokens: tokens,
                      precision: engine.precision.rawValue, gemm: engine.backend.rawValue)
    }

    /// The human-readable summary.
    public static func report(_ r: Result) -> [String] {
        [String(format: "%@ on %@, prompt %d + %d new tokens on %d threads: prefill %.3f s, total %.3f s, %.1f generated tokens/s, %.1f tokens/s decoding",
                r.precision, r.gemm, r.promptTokens, r.newTokens, r.threads, r.prefillSeconds, r.totalSeconds,
                r.generatedTokensPerSecond, r.decodeTokensPerSecond)]
    }
}
