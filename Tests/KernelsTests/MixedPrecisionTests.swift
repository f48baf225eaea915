import Foundation
@testable import Kernels
import Testing

/// bfloat16 rounding, and the kernels that read or write bfloat16 for mixed precision.
@Suite struct MixedPrecisionTests {
    /// c10's round_to_nearest_even (what `Tensor.to(torch.bfloat16)` does): ties go to the even neighbour,
    /// NaN becomes 0x7FC0, infinities and zeros keep their sign, the largest floats overflow to infinity,
    /// subnormals round like any other value.
    @Test func roundsToNearestEvenAsPyTorch() {
        let cases: [(UInt32, UInt16)] = [
            (0x3F80_0000, 0x3F80),  // 1
            (0x3F80_8000, 0x3F80),  // 1 + 2^-8: a tie, down to the even 0x3F80
            (0x3F81_8000, 0x3F82),  // a tie, up to the even 0x3F82
            (0x3F80_8001, 0x3F81),  // just above the tie
            (0x3F80_7FFF, 0x3F80),  // just below it
            (0xBF80_8000, 0xBF80),  // -1 - 2^-8
            (0x7F80_0000, 0x7F80), (0xFF80_0000, 0xFF80),  // ±inf
            (0x7F7F_FFFF, 0x7F80),  // the largest float rounds up to inf
            (0x7FC0_0001, 0x7FC0), (0xFFFF_FFFF, 0x7FC0), (0x7F80_0001, 0x7FC0),  // NaNs
            (0x0000_0000, 0x0000), (0x8000_0000, 0x8000),  // ±0
            (0x0000_8000, 0x0000), (0x0001_8000, 0x0002), (0x0000_8001, 0x0001),  // subnormals
        ]
        for (bits, expected) in cases {
            #expect(BFloat16(Float(bitPattern: bits)).bitPattern == expected, "0x\(String(bits, radix: 16))")
        }
        // The 16-lane path rounds as the scalar one, on the cases and on random bit patterns.
        var rng = SplitMix64(seed: 1)
        let values = cases.map { Float(bitPattern: $0.0) } + (0..<4000).map { _ in Float(bitPattern: UInt32(truncatingIfNeeded: rng.next())) }
        var converted = [BFloat16](repeating: BFloat16(bitPattern: 0x1234), count: values.count)
        BFloat16.convert(values, into: &converted, count: values.count)
        #expect(zip(values, converted).allSatisfy { BFloat16($0).bitPattern == $1.bitPattern })
        var widened = [Float](repeating: 0, count: values.count)
        BFloat16.widen(converted, into: &widened, count: values.count)
        #expect(zip(converted, widened).allSatisfy { $0.float.bitPattern == $1.bitPattern })
    }

    /// The optimizer's bfloat16 copy is every updated parameter rounded, and the update itself does not
    /// change with it.
    @Test func adamWRefreshesTheRoundedCopy() {
        var rng = SplitMix64(seed: 2)
        let count = 1000
        let start = (0..<count).map { _ in Float(rng.nextUniform() - 0.5) }
        let gradients = (0..<count).map { _ in Float(rng.nextUniform() - 0.5) * 1e-3 }
        let groups = [AdamW.Group(ranges: [0..<400, 400..<count], weightDecay: 0.1)]
        var plain = start, mixed = start
        var copy = [BFloat16](repeating: BFloat16(bitPattern: 0), count: count)
        let a = AdamW(parameterCount: count, hyperparameters: .init(learningRate: 1e-2))
        let b = AdamW(parameterCount: count, hyperparameters: .init(learningRate: 1e-2))
        for _ in 0..<3 {
            a.update(parameters: &plain, gradients: gradients, groups: groups)
            b.update(parameters: &mixed, gradients: gradients, groups: groups, rounded: &copy)
        }
        #expect(plain == mixed)
        #expect(zip(mixed, copy).allSatisfy { BFloat16($0) == $1 })
    }

    /// Matrix-vector products in both precisions: within the float32 accumulation bound of the exact
    /// product of the values as read (bfloat16: plus the rounding of the result), and the same bits on 1,
    /// 2 and 3 threads.
    @Test(arguments: engines)
    func matrixVectorProducts(engine: GEMMEngine) {
        var rng = SplitMix64(seed: 4)
        let (rows, columns) = (1300, 300)
        let a = (0..<(rows * columns)).map { _ in Float(rng.nextUniform() * 2 - 1) }
        let x = (0..<columns).map { _ in Float(rng.nextUniform() * 2 - 1) }
        let read = { (v: [Float]) -> [Float] in engine.precision == .bf16 ? v.map { BFloat16($0).float } : v }
        let bias = read((0..<rows).map { _ in Float(rng.nextUniform()) })
        let (ar, xr) = (read(a), read(x))
        let saved = Parallel.threadCount
        defer { Parallel.threadCount = saved }
        var results: [[Float]] = []
        for threads in [1, 2, 3] {
            Parallel.threadCount = threads
            var y = [Float](repeating: .nan, count: rows)
            switch engine.precision {
            case .fp32: engine.multiplyVector(a, x, into: &y, rows: rows, columns: columns, bias: bias)
            case .bf16: engine.multiplyVector(a.map(BFloat16.init), x.map(BFloat16.init), into: &y, rows: rows, columns: columns,
                                              bias: bias.map(BFloat16.init))
            }
            results.append(y)
        }
        #expect(results[1] == results[0] && results[2] == results[0])
        let bound = gemmErrorBound(k: columns, precision: .fp32) + (engine.precision == .bf16 ? 0x1p-8 : 0)
        for r in 0..<rows {
            var exact = Double(bias[r]), size = Double(bias[r])
            for c in 0..<columns {
                let product = Double(ar[r * columns + c]) * Double(xr[c])
                exact += product
                size += abs(product)
            }
            #expect(abs(Double(results[0][r]) - exact) <= bound * size, "row \(r)")
        }
    }

    /// Column sums of bfloat16 rows (bias gradients from bfloat16 output gradients) add the exact values.
    @Test func columnSumsOfBFloat16() {
        var rng = SplitMix64(seed: 6)
        let (rows, columns) = (37, 530)
        let values = (0..<(rows * columns)).map { _ in BFloat16(Float(rng.nextUniform() * 2 - 1)) }
        var sums = [Float](repeating: 1, count: columns)
        VectorMath.addColumnSums(values, rows: rows, columns: columns, into: &sums)
        for c in 0..<columns {
            let exact = (0..<rows).reduce(1.0) { $0 + Double(values[$1 * columns + c].float) }
            #expect(abs(Double(sums[c]) - exact) <= gemmErrorBound(k: rows, precision: .fp32) * Double(rows + 1))
        }
    }
}
