import Kernels
@testable import OPT
import Testing

/// Same inputs, same bits: run after run, and on any number of threads, with every GEMM engine.
@Suite(.serialized) struct DeterminismTests {
    struct Outcome: Equatable {
        let losses: [Float]
        let gradients: [Float]
    }

    static func run(_ model: OPTModel, _ batch: MicroBatch, threads: Int) throws -> Outcome {
        let saved = Parallel.threadCount
        Parallel.threadCount = threads
        defer { Parallel.threadCount = saved }
        model.zeroGradients()
        let result = try model.forward(batch, dropout: Dropout(probability: 0.1, seed: 5, step: 2))
        model.backward(scale: 1 / Float(result.targetCount))
        return Outcome(losses: result.targetLosses, gradients: model.gradients.array)
    }

    /// Every backend and precision this machine runs, pre-LN and post-LN (opt-350m's shape).
    static let cases = [TestModels.smallPreLN, TestModels.smallPostLN].flatMap { c in GEMMEngine.available.map { (c, $0) } }

    @Test(arguments: cases)
    func bitIdenticalAcrossRunsAndThreadCounts(config: OPTConfig, engine: GEMMEngine) throws {
        let model = try OPTModel(config: config, seed: 8)
        model.use(engine)
        var rng = SplitMix64(seed: 21)
        let length = 170  // 2 rows: 340 tokens (more than OpenBLAS's k block) in 2 attention tiles
        let tokens = (0..<(2 * length)).map { _ in Int32(rng.next() % 211) }
        // Row 0: two packed examples; row 1: left padding then one example.
        let segments = (0..<(2 * length)).map { Int32($0 < 100 ? 0 : $0 < length ? 1 : 2) }
        let mask = (0..<(2 * length)).map { $0 < length || $0 >= length + 20 }
        let positions = (0..<(2 * length)).map { i -> Int32 in
            i < 100 ? Int32(i) : i < length ? Int32(i - 100) : i < length + 20 ? -1 : Int32(i - length - 20)
        }
        let targets = (0..<(2 * length)).map { i -> Int32 in mask[i] && i % 3 != 0 ? tokens[(i + 1) % (2 * length)] : -1 }
        let batch = try MicroBatch(rows: 2, length: length, tokens: tokens, positions: positions, segments: segments,
                                   attentionMask: mask, targets: targets, sequenceIDs: [3, 4])
        let first = try Self.run(model, batch, threads: 2)
        #expect(try Self.run(model, batch, threads: 2) == first)
        #expect(try Self.run(model, batch, threads: 1) == first)
        #expect(try Self.run(model, batch, threads: 3) == first)
        #expect(first.gradients.contains { $0 != 0 })
    }

    /// A micro-batch of fewer rows or shorter rows reuses the planned workspace and gives the bits of a
    /// fresh model; a larger one makes a plan that holds both.
    @Test(arguments: [TestModels.smallPreLN, TestModels.smallPostLN])
    func smallerBatchesReuseTheWorkspaceWithTheSameBits(config: OPTConfig) throws {
        var rng = SplitMix64(seed: 4)
        func batch(rows: Int, length: Int = 64) throws -> MicroBatch {
            let n = rows * length
            let tokens = (0..<n).map { _ in Int32(rng.next() % 211) }
            let targets = (0..<n).map { i in i % length == length - 1 ? -1 : tokens[i + 1] }
            return try MicroBatch(rows: rows, length: length, tokens: tokens, positions: (0..<n).map { Int32($0 % length) },
                                  segments: (0..<n).map { Int32($0 / length) }, attentionMask: [Bool](repeating: true, count: n),
                                  targets: targets, sequenceIDs: (0..<rows).map(UInt64.init))
        }
        let three = try batch(rows: 3), one = try batch(rows: 1), short = try batch(rows: 2, length: 37)
        let used = try OPTModel(config: config, seed: 8)
        _ = try Self.run(used, three, threads: 2)
        let planned = try #require(used.workspace.map(ObjectIdentifier.init))
        for smaller in [one, short] {
            let reused = try Self.run(used, smaller, threads: 2)
            #expect(used.workspace.map(ObjectIdentifier.init) == planned)
            #expect(try Self.run(OPTModel(config: config, seed: 8), smaller, threads: 2) == reused)
        }
        #expect(try Self.run(used, three, threads: 2) == Self.run(OPTModel(config: config, seed: 8), three, threads: 2))
        // Longer rows than planned: a new plan, for the longer rows and the most tokens.
        let long = try batch(rows: 1, length: 100)
        #expect(try Self.run(used, long, threads: 2) == Self.run(OPTModel(config: config, seed: 8), long, threads: 2))
        #expect(used.workspace.map { ($0.capacityTokens, $0.capacityLength) } ?? (0, 0) == (192, 100))
    }

    @Test func randomInitIsReproducibleAndHuggingFaceShaped() throws {
        let config = TestModels.smallPostLN
        let a = try OPTModel(config: config, seed: 42), b = try OPTModel(config: config, seed: 42)
        #expect(a.parameters.array == b.parameters.array)
        #expect(try OPTModel(config: config, seed: 43).parameters.array != a.parameters.array)
        let embed = a.parameter("model.decoder.embed_tokens.weight")!
        let e = config.wordEmbedProjDim
        #expect(embed[(config.padTokenId * e)..<((config.padTokenId + 1) * e)].allSatisfy { $0 == 0 })
        #expect(a.parameter("model.decoder.layers.1.fc1.bias")!.allSatisfy { $0 == 0 })
        #expect(a.parameter("model.decoder.layers.0.final_layer_norm.weight")!.allSatisfy { $0 == 1 })
        let weights = Array(a.parameter("model.decoder.layers.0.fc1.weight")!)
        let mean = weights.reduce(0.0) { $0 + Double($1) } / Double(weights.count)
        let std = (weights.reduce(0.0) { $0 + Double($1) * Double($1) } / Double(weights.count)).squareRoot()
        #expect(abs(mean) < 0.01 && abs(std - config.initStd) < 0.01 * config.initStd * 10)
    }
}
