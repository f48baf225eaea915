import Kernels
import Testing

/// `BFloat16.sum`, the gradient reducer's sum of bfloat16 pieces.
@Suite struct BFloat16SumTests {
    /// Rows summed in float32 in row order, then rounded once: (bf16(a) + bf16(b)) + bf16(c), not rounded
    /// after each addition. 1 + 2^-8 + 2^-8: rounding after each addition would give 1 twice over. 4,500
    /// values per row: two whole accumulator blocks, and a tail that is not a multiple of 16.
    @Test func sumsAreFloat32InRowOrderRoundedOnce() {
        let rows = 3, count = 4500, stride = 4503
        var rng = SplitMix64(seed: 3)
        var values = (0..<rows * stride).map { _ in BFloat16(Float(rng.nextUniform() * 8 - 4)) }
        for r in 0..<rows { values[r * stride] = BFloat16(r == 0 ? 1 : 0.00390625) }
        var sums = [BFloat16](repeating: BFloat16(bitPattern: 0x7FC0), count: count)
        BFloat16.sum(values, rows: rows, stride: stride, count: count, into: &sums)
        let expected = (0..<count).map { j in
            BFloat16((1..<rows).reduce(values[j].float) { $0 + values[$1 * stride + j].float })
        }
        #expect(sums == expected)
        #expect(sums[0].float == 1.0078125)
    }
}
