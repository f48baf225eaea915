import Kernels
import OPT
import Testing

/// Packed rows (several examples per row, attention kept within each) against the same examples run alone.
@Suite struct PackingTests {
    /// A per-example run: the example's tokens and targets (from the packed arrays) as a row of its own.
    struct Run {
        let losses: [Float]
        let logits: [Float]
        let gradients: [Float]
    }

    static func runAlone(_ model: OPTModel, tokens: [Int32], targets: [Int32], sequenceID: UInt64 = 0,
                         dropout: Dropout? = nil, scale: Float) throws -> Run {
        let batch = try MicroBatch(rows: 1, length: tokens.count, tokens: tokens, targets: targets, sequenceIDs: [sequenceID])
        let logits = dropout == nil ? try model.logits(batch) : []
        model.zeroGradients()
        let result = try model.forward(batch, dropout: dropout)
        model.backward(scale: scale)
        return Run(losses: result.targetLosses, logits: logits, gradients: model.gradients.array)
    }

    static func sum(_ runs: [[Float]]) -> [Float] {
        runs.dropFirst().reduce(runs[0]) { zip($0, $1).map { $0 + $1 } }
    }

    @Test(arguments: Fixture.names)
    func packedRowEqualsExamplesRunOneByOne(fixtureName: String) throws {
        let fixture = try Fixture(fixtureName)
        let model = try fixture.model()
        let packed = try fixture.microBatch("packed")
        let scale = 1 / Float(packed.targetCount)
        let packedLogits = try model.logits(packed)
        model.zeroGradients()
        let packedResult = try model.forward(packed)
        model.backward(scale: scale)
        let packedGradients = model.gradients.array

        var runs: [Run] = []
        var start = 0
        while start < packed.length {
            var end = start + 1
            while end < packed.length && packed.segments[end] == packed.segments[start] { end += 1 }
            runs.append(try Self.runAlone(model, tokens: Array(packed.tokens[start..<end]),
                                          targets: Array(packed.targets[start..<end]), scale: scale))
            start = end
        }
        #expect(runs.count == 3)
        #expect(maxAbsDifference(packedResult.targetLosses, runs.flatMap(\.losses)) <= 1e-6)
        #expect(maxAbsDifference(packedLogits, runs.flatMap(\.logits)) <= 1e-5)
        #expect(relativeError(packedGradients, reference: Self.sum(runs.map(\.gradients))) <= 1e-5)
    }

    /// Two rows: examples A and B packed in row 0; example C then padding in row 1 (the padding is its own
    /// segment, not attended to; its queries see nothing and attend uniformly, with no effect on anything).
    @Test func paddedMultiRowPackingEqualsSeparateRuns() throws {
        let model = try OPTModel(config: TestModels.smallPostLN, seed: 5)
        var rng = SplitMix64(seed: 11)
        func tokens(_ n: Int) -> [Int32] { [2] + (1..<n).map { _ in Int32(3 + rng.next() % 200) } }
        func targets(_ t: [Int32]) -> [Int32] { (0..<t.count).map { $0 + 1 < t.count ? t[$0 + 1] : -1 } }
        let a = tokens(70), b = tokens(150), c = tokens(90)
        let length = a.count + b.count, pad = length - c.count
        let batch = try MicroBatch(
            rows: 2, length: length,
            tokens: a + b + c + [Int32](repeating: 1, count: pad),
            positions: (0..<a.count).map(Int32.init) + (0..<b.count).map(Int32.init) + (0..<c.count).map(Int32.init)
                + [Int32](repeating: 0, count: pad),
            segments: [Int32](repeating: 0, count: a.count) + [Int32](repeating: 1, count: b.count)
                + [Int32](repeating: 0, count: c.count) + [Int32](repeating: -1, count: pad),
            attentionMask: [Bool](repeating: true, count: length + c.count) + [Bool](repeating: false, count: pad),
            targets: targets(a) + targets(b) + targets(c) + [Int32](repeating: -1, count: pad),
            sequenceIDs: [40, 41])
        let scale = 1 / Float(batch.targetCount)
        model.zeroGradients()
        let packed = try model.forward(batch)
        model.backward(scale: scale)
        let packedGradients = model.gradients.array
        let runs = try [a, b, c].map { try Self.runAlone(model, tokens: $0, targets: targets($0), scale: scale) }
        #expect(maxAbsDifference(packed.targetLosses, runs.flatMap(\.losses)) <= 1e-5)
        #expect(relativeError(packedGradients, reference: Self.sum(runs.map(\.gradients))) <= 1e-5)
    }

    /// Dropout masks follow the sequence id and the position, so regrouping sequences into micro-batches
    /// changes nothing; a different id gives different masks.
    @Test func dropoutMasksDoNotDependOnHowSequencesAreBatched() throws {
        let model = try OPTModel(config: TestModels.smallPreLN, seed: 6)
        var rng = SplitMix64(seed: 12)
        let length = 140
        let rows = (0..<2).map { _ in [Int32(2)] + (1..<length).map { _ in Int32(3 + rng.next() % 200) } }
        func targets(_ t: [Int32]) -> [Int32] { (0..<t.count).map { $0 + 1 < t.count ? t[$0 + 1] : -1 } }
        let dropout = Dropout(probability: 0.1, seed: 1234, step: 3)
        let both = try MicroBatch(rows: 2, length: length, tokens: rows[0] + rows[1],
                                  targets: targets(rows[0]) + targets(rows[1]), sequenceIDs: [7, 9])
        let scale = 1 / Float(both.targetCount)
        model.zeroGradients()
        let together = try model.forward(both, dropout: dropout)
        model.backward(scale: scale)
        let togetherGradients = model.gradients.array
        let alone = try [(rows[0], UInt64(7)), (rows[1], UInt64(9))].map {
            try Self.runAlone(model, tokens: $0.0, targets: targets($0.0), sequenceID: $0.1, dropout: dropout, scale: scale)
        }
        #expect(maxAbsDifference(together.targetLosses, alone.flatMap(\.losses)) <= 1e-5)
        #expect(relativeError(togetherGradients, reference: Self.sum(alone.map(\.gradients))) <= 1e-5)

        let renamed = try Self.runAlone(model, tokens: rows[0], targets: targets(rows[0]), sequenceID: 8, dropout: dropout, scale: scale)
        let withoutDropout = try Self.runAlone(model, tokens: rows[0], targets: targets(rows[0]), scale: scale)
        #expect(maxAbsDifference(renamed.losses, alone[0].losses) > 1e-3)
        #expect(maxAbsDifference(withoutDropout.losses, alone[0].losses) > 1e-3)
    }
}

/// Small random architectures for tests that need longer sequences than the fixtures (several attention
/// tiles) while staying fast in debug builds.
enum TestModels {
    static let smallPreLN: OPTConfig = {
        var c = OPTConfig.make(hidden: 32, layers: 2, heads: 2, ffn: 64, vocab: 211, positions: 512)
        c.initStd = 0.1
        return c
    }()
    static let smallPostLN: OPTConfig = {
        var c = OPTConfig.make(hidden: 32, layers: 2, heads: 2, ffn: 64, embedDim: 24, preLN: false, vocab: 211, positions: 512)
        c.initStd = 0.1
        return c
    }()
}
