import Kernels
import Testing

/// The buffer conversions (eight values at a time) give exactly what the one-value conversions give;
/// those are checked against PyTorch's rounding in StorageTests (HFCheckpointFixtureTests).
@Suite struct HalfPrecisionTests {
    /// Ties, values next to ties, the largest finite values (some round to infinity), subnormals, signed
    /// zeros, infinities, NaNs with payloads, and random bit patterns; 1,000 + 37 values, so the tail
    /// after the last eight is converted one by one too.
    static let values: [Float] = {
        var special: [Float] = [0, -0, 1, -1, .infinity, -.infinity, .nan, -.nan, .greatestFiniteMagnitude,
                                -.greatestFiniteMagnitude, .leastNonzeroMagnitude, .leastNormalMagnitude, 3.0e38, 65504]
        special.append(Float(bitPattern: 0x7F80_0001))  // a signalling NaN whose payload would round into the exponent
        special.append(Float(bitPattern: 0xFFC1_2345))
        for base in [UInt32(0x3F80_0000), 0x4049_0000, 0xBF80_0000, 0x0000_8000] {
            special += [base | 0x8000, base | 0x7FFF, base | 0x8001, base | 0x1_8000].map { Float(bitPattern: $0) }
        }
        var generator = SystemRandomNumberGenerator()
        while special.count < 1037 { special.append(Float(bitPattern: UInt32.random(in: 0...UInt32.max, using: &generator))) }
        return special
    }()

    @Test func roundingAndWideningMatchTheOneValueConversions() {
        let values = HalfPrecisionTests.values
        var bits = [UInt16](repeating: 0, count: values.count)
        HalfPrecision.bfloat16(values, into: &bits, count: values.count)
        #expect(bits == values.map { HalfPrecision.bfloat16($0) })
        var widened = [Float](repeating: 0, count: values.count)
        HalfPrecision.float(fromBFloat16: bits, into: &widened, count: bits.count)
        #expect(widened.map(\.bitPattern) == bits.map { HalfPrecision.float(fromBFloat16: $0).bitPattern })
    }

    /// Rows summed in Float32 in row order, then rounded once: (bf16(a) + bf16(b)) + bf16(c), not rounded
    /// after each addition. 1 + 2^-8 + 2^-8: rounding after each addition would give 1 twice over.
    @Test func sumsAreFloat32InRowOrderRoundedOnce() {
        let rows = 3, count = 45, stride = 47
        var generator = SystemRandomNumberGenerator()
        var bits = (0..<rows * stride).map { _ in HalfPrecision.bfloat16(Float.random(in: -4...4, using: &generator)) }
        for r in 0..<rows { bits[r * stride] = HalfPrecision.bfloat16(r == 0 ? 1 : 0.00390625) }
        var sums = [UInt16](repeating: 0, count: count)
        HalfPrecision.sumBFloat16(bits, rows: rows, stride: stride, count: count, into: &sums)
        let expected = (0..<count).map { j in
            HalfPrecision.bfloat16((0..<rows).dropFirst().reduce(HalfPrecision.float(fromBFloat16: bits[j])) {
                $0 + HalfPrecision.float(fromBFloat16: bits[$1 * stride + j])
            })
        }
        #expect(sums == expected)
        #expect(HalfPrecision.float(fromBFloat16: sums[0]) == 1.0078125)
    }
}
