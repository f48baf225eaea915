import Foundation
import Kernels

/// How the next token is chosen from the logits.
public struct SamplingOptions: Sendable, Equatable, Codable {
    /// 0 = greedy (argmax); otherwise the logits are divided by it before the softmax.
    public var temperature: Double
    /// Nucleus sampling: keep the most probable tokens until their mass reaches top_p (1 = all).
    public var topP: Double
    public var seed: UInt64

    public init(temperature: Double = 0, topP: Double = 1, seed: UInt64 = 0) {
        self.temperature = temperature
        self.topP = topP
        self.seed = seed
    }

    public var isGreedy: Bool { temperature <= 0 }
}

/// Picks tokens as transformers' `generate` does: greedy is `argmax` (the first of equal maxima, as
/// torch.argmax); sampling divides by the temperature, keeps the top-p nucleus (TopPLogitsWarper: a
/// token stays when the probability mass ranked above it is below top_p, so at least one stays) and
/// draws from the renormalized probabilities with a seeded SplitMix64 (the same draws on every machine,
/// not torch's).
public struct TokenSampler: Sendable {
    public let options: SamplingOptions
    private var rng: SplitMix64

    public init(_ options: SamplingOptions) {
        self.options = options
        rng = SplitMix64(seed: options.seed)
    }

    public mutating func next(_ logits: [Float]) -> Int32 {
        precondition(!logits.isEmpty, "TokenSampler: empty logits")
        if options.isGreedy { return Self.argmax(logits) }
        let scaled = logits.map { Double($0) / options.temperature }
        let top = scaled.max()!
        let weights = scaled.map { Foundation.exp($0 - top) }
        let total = weights.reduce(0, +)
        let order = weights.indices.sorted { weights[$0] != weights[$1] ? weights[$0] > weights[$1] : $0 < $1 }
        var kept: [Int] = [], above = 0.0
        for i in order {
            if !kept.isEmpty && above / total >= options.topP { break }
            kept.append(i)
            above += weights[i]
        }
        var u = rng.nextUniform() * above
        for i in kept {
            u -= weights[i]
            if u < 0 { return Int32(i) }
        }
        return Int32(kept.last!)
    }

    /// The index of the largest logit, the first one on ties.
    public static func argmax(_ logits: [Float]) -> Int32 {
        var best = 0
        for i in 1..<logits.count where logits[i] > logits[best] { best = i }
        return Int32(best)
    }
}

public struct GenerationOptions: Sendable {
    public var maxNewTokens: Int
    public var sampling: SamplingOptions
    /// Token ids that end generation (normally EOS); the stop token is not part of the output.
    public var stopTokens: Set<Int32>

    public init(maxNewTokens: Int, sampling: SamplingOptions = SamplingOptions(), stopTokens: Set<Int32>) {
        self.maxNewTokens = maxNewTokens
        self.sampling = sampling
        self.stopTokens = stopTokens
    }
}

/// Why generation ended.
public enum StopReason: String, Sendable, Codable {
    /// A stop token (EOS) was generated.
    case stopToken = "eos"
    /// The caller's `shouldStop` said so (a stop string appeared).
    case stopSequence = "stop_string"
    case maxNewTokens = "max_new_tokens"
    /// The sequence reached the cache's capacity (max_position_embeddings).
    case contextFull = "context_full"
}

public struct GeneratedTokens: Sendable {
    /// The new tokens, without the stop token.
    public var tokens: [Int32]
    public var stopReason: StopReason
    /// Prompt tokens that had to be run (those not already in the cache).
    public var prefilledTokens: Int
}

extension OPTModel {
    /// Generates after `prompt` with cached decoding: prefill, then one token at a time, until a stop
    /// token, `shouldStop(tokensSoFar)`, `maxNewTokens` or the end of the cache. `cache` (by default a
    /// new one sized for the prompt and the budget) keeps the prompt and output afterwards; a cache that
    /// already holds a prefix of the prompt only runs the rest.
    public func generate(prompt: [Int32], options: GenerationOptions, cache: KVCache? = nil,
                         shouldStop: ([Int32]) -> Bool = { _ in false }) throws -> GeneratedTokens {
        guard options.maxNewTokens >= 1 else { throw OPTModelError(message: "max_new_tokens must be at least 1") }
        let cache = try cache ?? KVCache(for: self, capacity: min(config.maxPositionEmbeddings,
                                                                   prompt.count + options.maxNewTokens))
        guard prompt.count <= cache.capacity else {
            throw OPTModelError(message: "prompt of \(prompt.count) tokens does not fit the KV cache of \(cache.capacity) (max_position_embeddings \(config.maxPositionEmbeddings))")
        }
        let prefilled = prompt.count - cache.reusablePrefix(of: prompt)
        var logits = try prefill(prompt, cache: cache)
        var sampler = TokenSampler(options.sampling)
        var output: [Int32] = []
        while true {
            let token = sampler.next(logits)
            if options.stopTokens.contains(token) { return GeneratedTokens(tokens: output, stopReason: .stopToken, prefilledTokens: prefilled) }
            output.append(token)
            if shouldStop(output) { return GeneratedTokens(tokens: output, stopReason: .stopSequence, prefilledTokens: prefilled) }
            if output.count >= options.maxNewTokens {
                return GeneratedTokens(tokens: output, stopReason: .maxNewTokens, prefilledTokens: prefilled)
            }
            if cache.count >= cache.capacity {
                return GeneratedTokens(tokens: output, stopReason: .contextFull, prefilledTokens: prefilled)
            }
            logits = try extend(cache, with: [token])
        }
    }
}
