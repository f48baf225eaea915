import Foundation
import Kernels
import OPT
import Testing

/// Cached decoding against transformers' `generate` (Tests/Fixtures/opt /generate) and against full
/// recomputation; the sampler's top-p rule on hand-made distributions.
@Suite struct GenerationTests {
    @Test(arguments: Fixture.names)
    func greedyTokensAndStepLogitsEqualTransformersGenerate(fixtureName: String) throws {
        let fixture = try Fixture(fixtureName)
        let model = try fixture.model()
        let prompt = try fixture.ints("generate/prompt_ids").values
        let expected = try fixture.ints("generate/greedy_ids").values
        let stepLogits = try fixture.floats("generate/step_logits")
        let vocab = model.config.vocabSize
        // transformers ran with eos_token_id=None: exactly 10 tokens, none of them a stop.
        let cache = try KVCache(config: model.config, capacity: prompt.count + expected.count)
        let generated = try model.generate(prompt: prompt, options: GenerationOptions(maxNewTokens: expected.count, stopTokens: []),
                                           cache: cache)
        #expect(generated.tokens == expected, "\(fixtureName): \(generated.tokens) vs transformers \(expected)")
        #expect(generated.stopReason == .maxNewTokens && generated.prefilledTokens == prompt.count)

        // The logits each token was chosen from, recomputed through the cache.
        let again = try KVCache(config: model.config, capacity: prompt.count + expected.count)
        var logits = try model.extend(again, with: prompt)
        for step in 0..<expected.count {
            let reference = Array(stepLogits.values[(step * vocab)..<((step + 1) * vocab)])
            let error = relativeError(logits, reference: reference)
            #expect(error <= 1e-5, "\(fixtureName) step \(step): logits relative error \(error)")
            logits = try model.extend(again, with: [expected[step]])
        }
    }

    @Test(arguments: Fixture.names)
    func cachedLogitsEqualFullRecomputationAtEveryStep(fixtureName: String) throws {
        let fixture = try Fixture(fixtureName)
        let model = try fixture.model()
        let prompt = try fixture.ints("generate/prompt_ids").values
        let continuation = try fixture.ints("generate/greedy_ids").values
        let cache = try KVCache(config: model.config, capacity: model.config.maxPositionEmbeddings)
        // Prefill in two chunks (the second attends to the cached first), then one token at a time.
        _ = try model.extend(cache, with: Array(prompt[..<2]))
        var cached = try model.extend(cache, with: Array(prompt[2...]))
        var sequence = prompt
        for token in continuation {
            let full = try fullLogits(model, sequence)
            let error = relativeError(cached, reference: full)
            #expect(error <= 1e-5, "\(fixtureName) at \(sequence.count) tokens: relative error \(error)")
            sequence.append(token)
            cached = try model.extend(cache, with: [token])
        }
        #expect(cache.tokens == sequence)
    }

    @Test func cacheAcrossAttentionTilesMatchesFullRecomputation() throws {
        // A random tiny model, long enough for several 128-query tiles with cached keys before them.
        var config = OPTConfig.presets["tiny-350m-style"]!
        config.vocabSize = 211
        config.maxPositionEmbeddings = 400
        let model = try OPTModel(config: config, seed: 5)
        var rng = SplitMix64(seed: 9)
        let tokens = (0..<330).map { _ in Int32(3 + rng.next() % 200) }
        let cache = try KVCache(config: config, capacity: 400)
        _ = try model.extend(cache, with: Array(tokens[..<150]))
        let chunked = try model.extend(cache, with: Array(tokens[150..<329]))
        let stepped = try model.extend(cache, with: [tokens[329]])
        #expect(relativeError(chunked, reference: try fullLogits(model, Array(tokens[..<329]))) <= 1e-5)
        #expect(relativeError(stepped, reference: try fullLogits(model, tokens)) <= 1e-5)

        // prefill reuses the cached prefix: only the tail after the common part runs.
        let other = Array(tokens[..<200]) + [7, 8, 9]
        let reused = cache.reusablePrefix(of: other)
        #expect(reused == 200)
        let logits = try model.prefill(other, cache: cache)
        #expect(cache.tokens == other)
        #expect(relativeError(logits, reference: try fullLogits(model, other)) <= 1e-5)
    }

    /// Teacher-forced scores through the cache equal the training forward's, and the predictions are
    /// the argmax of transformers' logits at the target positions.
    @Test(arguments: Fixture.names)
    func teacherForcedThroughTheCacheEqualsTheTrainingForward(fixtureName: String) throws {
        let fixture = try Fixture(fixtureName)
        let model = try fixture.model()
        let batch = try fixture.microBatch("batch")
        let n = batch.length, vocab = model.config.vocabSize
        let tokens = Array(batch.tokens[..<n]), targets = Array(batch.targets[..<n])
        let reference = try model.forward(try MicroBatch(rows: 1, length: n, tokens: tokens, targets: targets), predictions: true)
        let cached = try model.teacherForced(tokens, targets: targets, cache: try KVCache(config: model.config, capacity: n))
        #expect(cached.targetCount == reference.targetCount && cached.targetPredictions == reference.targetPredictions)
        #expect(relativeError(cached.targetLosses, reference: reference.targetLosses) <= 1e-5)
        let logits = try fixture.floats("cases/batch/logits").values
        let argmax = targets.indices.filter { targets[$0] >= 0 }.map { t in
            TokenSampler.argmax(Array(logits[(t * vocab)..<((t + 1) * vocab)]))
        }
        #expect(cached.targetPredictions == argmax)
    }

    @Test func cacheRejectsOverflowAndForeignModels() throws {
        let model = try OPTModel(config: OPTConfig.presets["tiny"]!, seed: 1)
        let cache = try KVCache(config: model.config, capacity: 4)
        _ = try model.extend(cache, with: [2, 5, 6])
        #expect(throws: OPTModelError.self) { try model.extend(cache, with: [7, 8]) }
        #expect(throws: OPTModelError.self) { try KVCache(config: model.config, capacity: model.config.maxPositionEmbeddings + 1) }
        var other = model.config
        other.numHiddenLayers = 1
        #expect(throws: OPTModelError.self) { try model.extend(try KVCache(config: other, capacity: 4), with: [2]) }
        #expect(throws: MicroBatchError.self) { try model.extend(try KVCache(config: model.config, capacity: 4), with: [-1]) }
    }

    @Test func generationStopsAtStopTokensCallbacksAndTheContextEnd() throws {
        let fixture = try Fixture("tiny-preln")
        let model = try fixture.model()
        let prompt = try fixture.ints("generate/prompt_ids").values
        let greedy = try fixture.ints("generate/greedy_ids").values
        // The last greedy token as a stop token: the tokens before its first appearance come out, without it.
        let first = greedy.firstIndex(of: greedy[9])!
        let stopped = try model.generate(prompt: prompt, options: GenerationOptions(maxNewTokens: 10, stopTokens: [greedy[9]]))
        #expect(stopped.tokens == Array(greedy[..<first]) && stopped.stopReason == .stopToken)
        let byCallback = try model.generate(prompt: prompt, options: GenerationOptions(maxNewTokens: 10, stopTokens: [])) { $0.count == 4 }
        #expect(byCallback.tokens == Array(greedy[..<4]) && byCallback.stopReason == .stopSequence)
        let full = try model.generate(prompt: prompt, options: GenerationOptions(maxNewTokens: 10, stopTokens: []),
                                      cache: try KVCache(config: model.config, capacity: prompt.count + 3))
        // Three tokens fill the cache after the prompt; the fourth is chosen from the last cached position.
        #expect(full.tokens == Array(greedy[..<4]) && full.stopReason == .contextFull)
    }

    @Test func greedyPicksTheFirstOfEqualMaxima() {
        #expect(TokenSampler.argmax([0, 3, 1, 3]) == 1)
        var sampler = TokenSampler(SamplingOptions())
        #expect(sampler.next([-1, 2, 2]) == 1)
    }

    @Test func topPKeepsTheTokensWhoseHigherRankedMassIsBelowTopP() {
        // Probabilities 0.5, 0.3, 0.2 (token order 2, 0, 1 by logit).
        let logits = [log(0.3), log(0.2), log(0.5)].map(Float.init)
        func frequencies(_ topP: Double, draws: Int = 20000) -> [Double] {
            var sampler = TokenSampler(SamplingOptions(temperature: 1, topP: topP, seed: 42))
            var counts = [0, 0, 0]
            for _ in 0..<draws { counts[Int(sampler.next(logits))] += 1 }
            return counts.map { Double($0) / Double(draws) }
        }
        // top_p 0.5: token 2 alone reaches it (transformers' TopPLogitsWarper removes the rest).
        #expect(frequencies(0.5) == [0, 0, 1])
        // top_p 0.6: tokens 2 and 0 (mass above token 0 is 0.5 < 0.6), renormalized 0.625 / 0.375.
        let two = frequencies(0.6)
        #expect(abs(two[2] - 0.625) < 0.02 && abs(two[0] - 0.375) < 0.02 && two[1] == 0)
        // top_p 1: the full distribution.
        let all = frequencies(1)
        #expect(abs(all[2] - 0.5) < 0.02 && abs(all[0] - 0.3) < 0.02 && abs(all[1] - 0.2) < 0.02)
        // Temperature 2 flattens: p ∝ sqrt(p).
        var hot = TokenSampler(SamplingOptions(temperature: 2, topP: 1, seed: 1))
        var counts = [0, 0, 0]
        for _ in 0..<20000 { counts[Int(hot.next(logits))] += 1 }
        let roots = [0.3, 0.2, 0.5].map { $0.squareRoot() }, total = roots.reduce(0, +)
        for i in 0..<3 { #expect(abs(Double(counts[i]) / 20000 - roots[i] / total) < 0.02) }
    }

    @Test func samplingIsReproducibleForASeed() {
        let logits: [Float] = (0..<50).map { Float($0 % 7) * 0.3 }
        func draws(_ seed: UInt64) -> [Int32] {
            var sampler = TokenSampler(SamplingOptions(temperature: 0.8, topP: 0.9, seed: seed))
            return (0..<40).map { _ in sampler.next(logits) }
        }
        #expect(draws(3) == draws(3))
        #expect(draws(3) != draws(4))
    }

    /// The last position's logits of `tokens` run as one sequence by the training forward.
    func fullLogits(_ model: OPTModel, _ tokens: [Int32]) throws -> [Float] {
        let batch = try MicroBatch(rows: 1, length: tokens.count, tokens: tokens,
                                   targets: [Int32](repeating: -1, count: tokens.count))
        let all = try model.logits(batch)
        let vocab = model.config.vocabSize
        return Array(all[((tokens.count - 1) * vocab)...])
    }
}
