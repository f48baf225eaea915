import Foundation
import OPT
import Tokenizer
import ToolBench

/// One generated assistant turn.
public struct GeneratedTurn: Sendable {
    /// The text after "Assistant: ", up to (not including) EOS or the stop string.
    public var text: String
    public var tokens: Int
    public var stopReason: StopReason
    /// Prompt tokens that had to be run (the rest came from the cache).
    public var prefilledTokens: Int

    public init(text: String, tokens: Int, stopReason: StopReason, prefilledTokens: Int = 0) {
        self.text = text
        self.tokens = tokens
        self.stopReason = stopReason
        self.prefilledTokens = prefilledTokens
    }

    /// Ended by EOS or a stop string, not cut off by the budget or the context.
    public var endedCleanly: Bool { stopReason == .stopToken || stopReason == .stopSequence }
}

/// Writes the next assistant turn after a prompt. The model does it in evaluation; tests script it.
public protocol TurnGenerator {
    /// `seed` seeds sampling for this turn (ignored when greedy).
    func generate(_ prompt: FittedPrompt, seed: UInt64) throws -> GeneratedTurn
    /// Called before each new case: nothing carries over from one case to the next, so a case gives the
    /// same output whichever rank and order it runs in.
    func startCase()
}

/// Generation settings from the job's `eval` section.
public struct GenerationSettings: Codable, Equatable, Sendable {
    public var maxNewTokens: Int
    public var temperature: Double
    public var topP: Double
    public var stop: [String]

    public init(maxNewTokens: Int, temperature: Double = 0, topP: Double = 1, stop: [String] = []) {
        self.maxNewTokens = maxNewTokens
        self.temperature = temperature
        self.topP = topP
        self.stop = stop
    }
}

/// An OPT model with a tokenizer and a KV cache kept across the turns of one case (a rollout's prompts
/// share their beginning, which then runs once).
public final class ModelTurnGenerator: TurnGenerator {
    public let model: OPTModel
    public let tokenizer: Tokenizer
    public let settings: GenerationSettings
    let cache: KVCache
    let stopBytes: [[UInt8]]

    /// `contextTokens`: the longest prompt + output to plan the cache for (at most max_position_embeddings).
    public init(model: OPTModel, tokenizer: Tokenizer, settings: GenerationSettings, contextTokens: Int) throws {
        self.model = model
        self.tokenizer = tokenizer
        self.settings = settings
        cache = try KVCache(for: model, capacity: min(contextTokens, model.config.maxPositionEmbeddings))
        stopBytes = settings.stop.map { Array($0.utf8) }
    }

    public func startCase() { cache.truncate(to: 0) }

    public func generate(_ prompt: FittedPrompt, seed: UInt64) throws -> GeneratedTurn {
        let options = GenerationOptions(maxNewTokens: settings.maxNewTokens,
                                        sampling: SamplingOptions(temperature: settings.temperature, topP: settings.topP, seed: seed),
                                        stopTokens: [tokenizer.eosID])
        var bytes: [UInt8] = []
        var cut: Int?
        let longestStop = stopBytes.map(\.count).max() ?? 0
        let result = try model.generate(prompt: prompt.tokens, options: options, cache: cache) { tokens in
            guard longestStop > 0, let piece = try? tokenizer.decodeBytes([tokens.last!]) else { return false }
            // Only a stop string that ends in the newest token's bytes can be new.
            let searchFrom = max(0, bytes.count - longestStop + 1)
            bytes += piece
            for stop in stopBytes {
                if let at = firstRange(of: stop, in: bytes, from: searchFrom) {
                    cut = at
                    return true
                }
            }
            return false
        }
        var text = try tokenizer.decodeBytes(result.tokens)
        if let cut { text = Array(text[..<cut]) }
        return GeneratedTurn(text: String(decoding: text, as: UTF8.self), tokens: result.tokens.count,
                             stopReason: result.stopReason, prefilledTokens: result.prefilledTokens)
    }

    func firstRange(of needle: [UInt8], in haystack: [UInt8], from start: Int) -> Int? {
        guard needle.count <= haystack.count, start <= haystack.count - needle.count else { return nil }
        for i in start...(haystack.count - needle.count) where haystack[i..<(i + needle.count)].elementsEqual(needle) { return i }
        return nil
    }
}
