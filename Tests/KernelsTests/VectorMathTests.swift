import Foundation
import Kernels
import Testing

@Suite struct VectorMathTests {
    @Test func expIsWithinTwoUlpsOverTheFloatRange() {
        var worst = 0.0
        var x: Float = -87
        while x < 88.72 {
            let exact = Foundation.exp(Double(x))
            worst = max(worst, abs(Double(VectorMath.exp(x)) - exact) / exact)
            x += 0.0137
        }
        #expect(worst <= 2 * 5.97e-8, "max relative error \(worst)")
        #expect(VectorMath.exp(-100) == 0 && VectorMath.exp(-Float.infinity) == 0)
        #expect(VectorMath.exp(88.73) == .infinity && VectorMath.exp(100) == .infinity && VectorMath.exp(0) == 1)
    }

    @Test func reductionsHandleRaggedLengths() {
        for count in [0, 1, 15, 16, 17, 100] {
            let a = (0..<count).map { Float($0) * 0.5 - 3 }, b = (0..<count).map { Float($0 % 7) - 2 }
            #expect(VectorMath.sum(a, count) == a.reduce(0, +))
            #expect(abs(VectorMath.dot(a, b, count) - zip(a, b).reduce(0) { $0 + $1.0 * $1.1 }) <= 1e-3)
            #expect(VectorMath.maximum(a, count) == (a.max() ?? -.infinity))
        }
    }
}

@Suite struct DropoutTests {
    @Test func dropsTheRequestedFractionReproducibly() {
        let dropout = Dropout(probability: 0.1, seed: 1, step: 2)
        var dropped = 0
        let dim = 64, positions = 1000
        for t in 0..<positions {
            for f in 0..<dim where !dropout.keeps(site: 3, sequence: 9, position: t, feature: f, dim: dim) { dropped += 1 }
        }
        let fraction = Double(dropped) / Double(dim * positions)
        #expect(abs(fraction - 0.1) < 0.005, "dropped \(fraction)")
        // The kernel uses exactly these masks, and its backward the same ones (the mask it kept); a width
        // that is neither a multiple of 64 nor of 16 takes every path.
        for dim in [64, 100] {
            let rows = 2, length = 5
            let x = [Float](repeating: 1, count: rows * length * dim), residual = [Float](repeating: 0, count: rows * length * dim)
            var out = [Float](repeating: .nan, count: x.count), dx = [Float](repeating: .nan, count: x.count)
            var mask = [UInt64](repeating: 0, count: rows * length * Dropout.words(dim: dim))
            dropout.residualAdd(x, residual: residual, into: &out, rows: rows, length: length, dim: dim, sequences: [9, 4], site: 3,
                                mask: &mask)
            dropout.backward(x, into: &dx, rows: rows, length: length, dim: dim, mask: mask)
            for n in 0..<(rows * length) {
                for f in 0..<dim {
                    let keep = dropout.keeps(site: 3, sequence: n < length ? 9 : 4, position: n % length, feature: f, dim: dim)
                    #expect(out[n * dim + f] == (keep ? 1 / Float(0.9) : 0))
                    #expect(dx[n * dim + f] == out[n * dim + f])
                }
            }
        }
        // Another step, site or sequence gives another mask.
        let other = Dropout(probability: 0.1, seed: 1, step: 3)
        let differs = (0..<dim).contains {
            other.keeps(site: 3, sequence: 9, position: 0, feature: $0, dim: dim)
                != dropout.keeps(site: 3, sequence: 9, position: 0, feature: $0, dim: dim)
        }
        #expect(differs)
    }
}
