import Foundation

/// One GEMM engine checked on the node that runs it: right answers (every transpose, shapes from one
/// element to several tiles, against the exact product within the rounding-error bound), the same bits on
/// each thread count asked for, and optionally its speed on a model-sized product. `tooltune doctor` runs
/// it for every engine; `compute.gemm: auto` for oneDNN.
public struct GEMMSelfCheck: Codable, Sendable {
    public var engine: String
    /// The largest error over all cases as a fraction of its bound (right: at most 1).
    public var worstErrorOfBound: Double
    /// The thread counts whose bits were compared (all equal when `deterministic`).
    public var threads: [Int]
    public var deterministic: Bool
    /// GFLOP/s of a 2048 x 1024 x 1024 product (x · Wᵀ, as a linear layer), median of 3, when timed.
    public var gflops: Double?
    /// Everything wrong; empty when the engine can be trusted here.
    public var problems: [String]

    /// The worst-case error of one element of alpha·op(A)op(B) + beta·C relative to
    /// |alpha|·Σ|a·b| + |beta·c| (Higham §3.1): γ_(k+2) for any float32 summation order; bfloat16 inputs add
    /// 2·2^-8 + 2^-16 per product and the rounded result 2^-8.
    public static func errorBound(k: Int, precision: Precision) -> Double {
        let u = 0x1p-24, n = Double(k + 2)
        let accumulation = n * u / (1 - n * u)
        return precision == .bf16 ? accumulation + 3 * 0x1p-8 + 0x1p-16 : accumulation
    }

    public static func run(_ engine: GEMMEngine, threads: [Int], timed: Bool = false) -> GEMMSelfCheck {
        var problems: [String] = []
        var rng = SplitMix64(seed: 42)
        func random(_ count: Int) -> [Float] { (0..<count).map { _ in Float(rng.nextUniform() * 2 - 1) } }

        var worst = 0.0
        for (m, n, k) in [(1, 1, 1), (7, 5, 3), (33, 17, 65), (64, 48, 129), (300, 1100, 40)] {
            for (transposeA, transposeB) in [(false, false), (false, true), (true, false), (true, true)] {
                let a = random(m * k), b = random(k * n), c0 = random(m * n)
                var c = c0
                multiply(engine, a, b, into: &c, m: m, n: n, k: k, transposeA: transposeA, transposeB: transposeB,
                         alpha: 0.5, beta: 2)
                let read = { (v: [Float]) in engine.precision == .bf16 ? v.map { BFloat16($0).float } : v }
                let (ar, br) = (read(a), read(b))
                let bound = errorBound(k: k, precision: engine.precision)
                for i in 0..<m {
                    for j in 0..<n {
                        var exact = 0.0, size = 0.0
                        for p in 0..<k {
                            // Against the inputs as given: bfloat16's input rounding is part of the bound.
                            let x = Double(transposeA ? a[p * m + i] : a[i * k + p])
                            let y = Double(transposeB ? b[j * k + p] : b[p * n + j])
                            let xr = Double(transposeA ? ar[p * m + i] : ar[i * k + p])
                            let yr = Double(transposeB ? br[j * k + p] : br[p * n + j])
                            exact += x * y
                            size += max(abs(x * y), abs(xr * yr))
                        }
                        let target = 0.5 * exact + 2 * Double(c0[i * n + j])
                        let scale = 0.5 * size + 2 * abs(Double(c0[i * n + j]))
                        worst = max(worst, abs(Double(c[i * n + j]) - target) / max(bound * scale, 1e-300))
                    }
                }
            }
        }
        if !(worst <= 1) {
            problems.append("\(engine) GEMM is WRONG: an error of \(String(format: "%.3g", worst)) times its rounding bound")
        }

        // Several tiles each way, so that different thread counts hand them out differently.
        let (m, n, k) = (700, 1300, 300)
        let a = random(m * k), b = random(k * n)
        let saved = Parallel.threadCount
        var results: [[Float]] = []
        for count in threads {
            Parallel.threadCount = count
            var c = [Float](repeating: 0, count: m * n)
            multiply(engine, a, b, into: &c, m: m, n: n, k: k, transposeB: true)
            results.append(c)
        }
        Parallel.threadCount = saved
        let deterministic = results.allSatisfy { $0 == results[0] }
        if !deterministic {
            problems.append("\(engine) GEMM is NOT DETERMINISTIC: different bits on \(threads.map(String.init).joined(separator: ", ")) threads")
        }

        var gflops: Double?
        if timed {
            let (m, n, k) = (2048, 1024, 1024)
            let a = random(m * k), b = random(n * k)
            var c = [Float](repeating: 0, count: m * n)
            var times: [Double] = []
            for _ in 0..<4 {
                let start = DispatchTime.now().uptimeNanoseconds
                multiply(engine, a, b, into: &c, m: m, n: n, k: k, transposeB: true)
                times.append(Double(DispatchTime.now().uptimeNanoseconds - start) * 1e-9)
            }
            gflops = 2 * Double(m * n * k) / times.dropFirst().sorted()[1] / 1e9
        }
        return GEMMSelfCheck(engine: engine.description, worstErrorOfBound: worst, threads: threads,
                             deterministic: deterministic, gflops: gflops, problems: problems)
    }

    /// `engine` on float32 data, rounded to bfloat16 for a bfloat16 engine.
    private static func multiply(_ engine: GEMMEngine, _ a: [Float], _ b: [Float], into c: inout [Float], m: Int, n: Int,
                                 k: Int, transposeA: Bool = false, transposeB: Bool = false, alpha: Float = 1,
                                 beta: Float = 0) {
        switch engine.precision {
        case .fp32:
            engine.multiply(a, b, into: &c, m: m, n: n, k: k, transposeA: transposeA, transposeB: transposeB,
                            alpha: alpha, beta: beta)
        case .bf16:
            engine.multiply(a.map(BFloat16.init), b.map(BFloat16.init), into: &c, m: m, n: n, k: k,
                            transposeA: transposeA, transposeB: transposeB, alpha: alpha, beta: beta)
        }
    }
}
