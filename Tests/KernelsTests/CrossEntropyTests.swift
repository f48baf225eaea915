import Foundation
@testable import Kernels
import Testing

/// The chunked tied-head cross-entropy against a direct double-precision evaluation, with chunks narrow
/// enough to force many of them (and a ragged last chunk).
@Suite struct CrossEntropyTests {
    @Test(arguments: [16 * 7, 1 << 20])
    func matchesDirectEvaluation(width: Int) {
        let rows = 9, vocab = 1000, dim = 24
        var rng = SplitMix64(seed: 5)
        let hidden = (0..<(rows * dim)).map { _ in Float(rng.nextUniform() * 4 - 2) }
        let table = (0..<(vocab * dim)).map { _ in Float(rng.nextUniform() * 2 - 1) }
        let targets = (0..<rows).map { _ in Int32(rng.next() % UInt64(vocab)) }
        var scratch = [Float](repeating: 0, count: rows * min(width, vocab))
        var losses = [Float](repeating: 0, count: rows), lse = [Float](repeating: 0, count: rows)
        var dHidden = [Float](repeating: .nan, count: rows * dim), dTable = [Float](repeating: 1, count: vocab * dim)
        let scale: Float = 0.25
        scratch.withUnsafeMutableBufferPointer { s in
            CrossEntropy.forward(hidden: hidden, table: table, targets: targets, losses: &losses, logSumExp: &lse,
                                 rows: rows, vocab: vocab, dim: dim, scratch: s, width: width)
            CrossEntropy.backward(hidden: hidden, table: table, targets: targets, logSumExp: lse, scale: scale,
                                  dHidden: &dHidden, dTable: &dTable, rows: rows, vocab: vocab, dim: dim, scratch: s, width: width)
        }
        var expectedDHidden = [Double](repeating: 0, count: rows * dim)
        var expectedDTable = [Double](repeating: 1, count: vocab * dim)  // backward adds to what is there
        for r in 0..<rows {
            let logits = (0..<vocab).map { v in (0..<dim).reduce(0.0) { $0 + Double(hidden[r * dim + $1]) * Double(table[v * dim + $1]) } }
            let top = logits.max()!
            let logSumExp = top + Foundation.log(logits.reduce(0.0) { $0 + Foundation.exp($1 - top) })
            let loss = logSumExp - logits[Int(targets[r])]
            #expect(abs(Double(losses[r]) - loss) <= 1e-5 * max(1, loss), "row \(r): \(losses[r]) vs \(loss)")
            for v in 0..<vocab {
                let g = Double(scale) * (Foundation.exp(logits[v] - logSumExp) - (v == Int(targets[r]) ? 1 : 0))
                for d in 0..<dim {
                    expectedDHidden[r * dim + d] += g * Double(table[v * dim + d])
                    expectedDTable[v * dim + d] += g * Double(hidden[r * dim + d])
                }
            }
        }
        #expect(zip(dHidden, expectedDHidden).map { abs(Double($0) - $1) }.max()! <= 1e-5)
        #expect(zip(dTable, expectedDTable).map { abs(Double($0) - $1) }.max()! <= 1e-5)
    }

    /// The bfloat16 head. Inputs are multiples of 1/2 in [-1, 1], so every logit (a sum of 24 products,
    /// multiples of 1/4 up to 24) is exact in float32 and in bfloat16 and the rounding of the logits
    /// changes nothing: the loss must match to float32 accuracy, and the gradients, whose g is rounded to
    /// bfloat16 before its two products, to the bfloat16 GEMM bound.
    @Test(arguments: engines.filter { $0.precision == .bf16 })
    func bfloat16MatchesTheRoundedInputs(engine: GEMMEngine) {
        let rows = 9, vocab = 1000, dim = 24, width = 16 * 7
        var rng = SplitMix64(seed: 5)
        let halves = { BFloat16(Float(Int(rng.next() % 5) - 2) / 2) }
        let hidden = (0..<(rows * dim)).map { _ in halves() }
        let table = (0..<(vocab * dim)).map { _ in halves() }
        let targets = (0..<rows).map { _ in Int32(rng.next() % UInt64(vocab)) }
        var scratch = [Float](repeating: 0, count: rows * width)
        var rounded = [BFloat16](repeating: BFloat16(bitPattern: 0), count: rows * width)
        var losses = [Float](repeating: 0, count: rows), lse = [Float](repeating: 0, count: rows)
        var dHidden = [Float](repeating: .nan, count: rows * dim), dTable = [Float](repeating: 0, count: vocab * dim)
        scratch.withUnsafeMutableBufferPointer { s in
            CrossEntropy.forward(hidden: hidden, table: table, targets: targets, losses: &losses, logSumExp: &lse,
                                 rows: rows, vocab: vocab, dim: dim, scratch: s, width: width, engine: engine)
            CrossEntropy.backward(hidden: hidden, table: table, targets: targets, logSumExp: lse, scale: 1,
                                  dHidden: &dHidden, dTable: &dTable, rows: rows, vocab: vocab, dim: dim, scratch: s,
                                  rounded: &rounded, width: width, engine: engine)
        }
        let h = hidden.map { Double($0.float) }, t = table.map { Double($0.float) }
        var expected = [Double](repeating: 0, count: rows * dim), size = [Double](repeating: 0, count: rows * dim)
        for r in 0..<rows {
            let logits = (0..<vocab).map { v in (0..<dim).reduce(0.0) { $0 + h[r * dim + $1] * t[v * dim + $1] } }
            let top = logits.max()!
            let logSumExp = top + Foundation.log(logits.reduce(0.0) { $0 + Foundation.exp($1 - top) })
            let loss = logSumExp - logits[Int(targets[r])]
            #expect(abs(Double(losses[r]) - loss) <= 1e-5 * max(1, loss), "row \(r): \(losses[r]) vs \(loss)")
            for v in 0..<vocab {
                let g = Foundation.exp(logits[v] - logSumExp) - (v == Int(targets[r]) ? 1 : 0)
                for d in 0..<dim {
                    expected[r * dim + d] += g * t[v * dim + d]
                    size[r * dim + d] += abs(g * t[v * dim + d])
                }
            }
        }
        let bound = gemmErrorBound(k: vocab, precision: .bf16)
        #expect((0..<(rows * dim)).allSatisfy { abs(Double(dHidden[$0]) - expected[$0]) <= bound * size[$0] })
    }

    /// `predictions` is the argmax of each row's logits across chunks, the first of equal maxima.
    @Test(arguments: [16 * 3, 1 << 20])
    func predictionsAreTheArgmaxAcrossChunks(width: Int) {
        let rows = 5, vocab = 200, dim = 8
        var rng = SplitMix64(seed: 11)
        let hidden = (0..<(rows * dim)).map { _ in Float(rng.nextUniform() * 4 - 2) }
        var table = (0..<(vocab * dim)).map { _ in Float(rng.nextUniform() * 2 - 1) }
        // Row 150 repeats row 20: their logits tie for every hidden vector; make them the maximum.
        for d in 0..<dim { table[20 * dim + d] = 3 * hidden[d]; table[150 * dim + d] = 3 * hidden[d] }
        var scratch = [Float](repeating: 0, count: rows * min(width, vocab))
        var losses = [Float](repeating: 0, count: rows), lse = [Float](repeating: 0, count: rows)
        var predictions = [Int32](repeating: -1, count: rows)
        scratch.withUnsafeMutableBufferPointer { s in
            CrossEntropy.forward(hidden: hidden, table: table, targets: [Int32](repeating: 0, count: rows), losses: &losses,
                                 logSumExp: &lse, rows: rows, vocab: vocab, dim: dim, scratch: s, width: width, predictions: &predictions)
        }
        for r in 0..<rows {
            let logits = (0..<vocab).map { v in (0..<dim).reduce(Float(0)) { $0 + hidden[r * dim + $1] * table[v * dim + $1] } }
            let top = logits.max()!
            let expected = logits.firstIndex { abs($0 - top) <= 1e-5 * max(1, abs(top)) }!
            #expect(Int(predictions[r]) == expected, "row \(r)")
        }
        #expect(predictions[0] == 20)
    }

    /// A scratch planned for `rows` rows holds the chunks of every smaller pass, whose width depends on
    /// its own row count only (a workspace planned for more rows gives the same bits).
    @Test(arguments: [64, 4096, 50272])
    func scratchForManyRowsServesEveryFewer(vocab: Int) {
        for rows in [1, 2, 63, 64, 65, 1000, 2048, 3000, 4095, 8192, 65_537, 200_000] {
            let planned = CrossEntropy.scratchCount(rows: rows, vocab: vocab)
            let worst = stride(from: 1, through: rows, by: max(1, rows / 5000)).map { $0 * CrossEntropy.chunkWidth(rows: $0, vocab: vocab) }.max()!
            #expect(worst <= planned, "vocab \(vocab), \(rows) rows: a smaller pass needs \(worst) > \(planned)")
        }
    }
}
