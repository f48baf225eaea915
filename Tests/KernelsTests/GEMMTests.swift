import Kernels
import Testing

/// The exact product in double precision and Σ|a·b| (what rounding errors scale with), reading A and B
/// as `GEMMEngine.multiply` documents them.
private func naiveProduct(_ a: [Float], _ b: [Float], m: Int, n: Int, k: Int, transposeA: Bool, transposeB: Bool,
                          lda: Int, ldb: Int) -> (values: [Double], magnitudes: [Double]) {
    var c = [Double](repeating: 0, count: m * n), size = [Double](repeating: 0, count: m * n)
    for i in 0..<m {
        for j in 0..<n {
            var sum = 0.0, magnitude = 0.0
            for p in 0..<k {
                let x = Double(transposeA ? a[p * lda + i] : a[i * lda + p])
                let y = Double(transposeB ? b[j * ldb + p] : b[p * ldb + j])
                sum += x * y
                magnitude += abs(x * y)
            }
            c[i * n + j] = sum
            size[i * n + j] = magnitude
        }
    }
    return (c, size)
}

private func randomMatrix(_ count: Int, _ rng: inout SplitMix64) -> [Float] {
    (0..<count).map { _ in Float(rng.nextUniform() * 2 - 1) }
}

/// The rounding-error bound of one element (`GEMMSelfCheck.errorBound`: Higham's γ_(k+2), plus bfloat16's
/// input and output roundings).
func gemmErrorBound(k: Int, precision: Precision) -> Double { GEMMSelfCheck.errorBound(k: k, precision: precision) }

/// `values` rounded as the engine reads its inputs (bfloat16 engines: to bfloat16), for exact references.
private func asRead(_ values: [Float], by engine: GEMMEngine) -> [Float] {
    engine.precision == .bf16 ? values.map { BFloat16($0).float } : values
}

/// Runs `engine` on float32 data (converted to bfloat16 for bfloat16 engines).
func multiply(_ engine: GEMMEngine, _ a: [Float], _ b: [Float], into c: inout [Float], m: Int, n: Int, k: Int,
              transposeA: Bool = false, transposeB: Bool = false, alpha: Float = 1, beta: Float = 0,
              lda: Int? = nil, ldb: Int? = nil, ldc: Int? = nil, aOffset: Int = 0) {
    c.withUnsafeMutableBufferPointer { c in
        switch engine.precision {
        case .fp32:
            a.withUnsafeBufferPointer { a in
                engine.multiply(a.baseAddress! + aOffset, b, into: c.baseAddress!, m: m, n: n, k: k, transposeA: transposeA,
                                transposeB: transposeB, alpha: alpha, beta: beta, lda: lda, ldb: ldb, ldc: ldc)
            }
        case .bf16:
            let a16 = a.map(BFloat16.init), b16 = b.map(BFloat16.init)
            a16.withUnsafeBufferPointer { a in
                engine.multiply(a.baseAddress! + aOffset, b16, into: c.baseAddress!, m: m, n: n, k: k, transposeA: transposeA,
                                transposeB: transposeB, alpha: alpha, beta: beta, lda: lda, ldb: ldb, ldc: ldc)
            }
        }
    }
}

/// Every engine this machine runs (bf16 only where the CPU has bfloat16 instructions).
let engines = GEMMEngine.available

@Suite struct GEMMTests {
    /// Shapes from one element to several tiles each way, with ragged edges.
    static let shapes = [(1, 1, 1), (1, 7, 3), (5, 1, 9), (3, 5, 7), (17, 13, 11), (64, 33, 129), (100, 71, 1),
                         (300, 1100, 40), (520, 70, 600)]
    static let cases = engines.flatMap { e in [(false, false), (false, true), (true, false), (true, true)].map { (e, $0.0, $0.1) } }

    /// Within the rounding-error bound of the inputs as the engine reads them, for every shape and
    /// transpose, alpha and beta included.
    @Test(arguments: cases)
    func withinTheRoundingBoundOfTheExactProduct(engine: GEMMEngine, transposeA: Bool, transposeB: Bool) {
        var rng = SplitMix64(seed: 7)
        for (m, n, k) in Self.shapes {
            let a = randomMatrix(m * k, &rng), b = randomMatrix(k * n, &rng), c0 = randomMatrix(m * n, &rng)
            var c = c0
            multiply(engine, a, b, into: &c, m: m, n: n, k: k, transposeA: transposeA, transposeB: transposeB,
                     alpha: 0.5, beta: 2)
            let (exact, size) = naiveProduct(a, b, m: m, n: n, k: k, transposeA: transposeA, transposeB: transposeB,
                                             lda: transposeA ? m : k, ldb: transposeB ? k : n)
            let bound = gemmErrorBound(k: k, precision: engine.precision)
            var worst = 0.0
            for i in 0..<(m * n) {
                let error = abs(Double(c[i]) - (0.5 * exact[i] + 2 * Double(c0[i])))
                worst = max(worst, error / (bound * (0.5 * size[i] + 2 * abs(Double(c0[i])))))
            }
            #expect(worst <= 1, "\(engine) m=\(m) n=\(n) k=\(k): error is \(worst) of the bound")
        }
    }

    /// bf16 engines multiply the rounded inputs exactly as float32 would: against the exact product of
    /// the bfloat16 values, only the float32 accumulation bound remains (`rounding: false`). Rounded, the
    /// result is that float32 sum rounded to bfloat16, written as float32 or bfloat16, or added to C.
    @Test(arguments: engines.filter { $0.precision == .bf16 })
    func bfloat16ProductsAreExactProductsOfTheRoundedInputs(engine: GEMMEngine) {
        var rng = SplitMix64(seed: 3)
        let (m, n, k) = (37, 1300, 515)
        let a = randomMatrix(m * k, &rng).map(BFloat16.init), b = randomMatrix(k * n, &rng).map(BFloat16.init)
        let bias = randomMatrix(n, &rng).map(BFloat16.init), c0 = randomMatrix(m * n, &rng)
        var sums = [Float](repeating: .nan, count: m * n)
        engine.multiply(a, b, into: &sums, m: m, n: n, k: k, transposeB: true, rounding: false)
        let (exact, size) = naiveProduct(a.map(\.float), b.map(\.float), m: m, n: n, k: k, transposeA: false,
                                         transposeB: true, lda: k, ldb: k)
        let bound = gemmErrorBound(k: k, precision: .fp32)
        #expect((0..<(m * n)).allSatisfy { abs(Double(sums[$0]) - exact[$0]) <= bound * size[$0] })

        var rounded = [Float](repeating: .nan, count: m * n), halves = [BFloat16](repeating: BFloat16(bitPattern: 0), count: m * n)
        var accumulated = c0, biased = [Float](repeating: .nan, count: m * n)
        engine.multiply(a, b, into: &rounded, m: m, n: n, k: k, transposeB: true)
        engine.multiply(a, b, into: &halves, m: m, n: n, k: k, transposeB: true)
        engine.multiply(a, b, into: &accumulated, m: m, n: n, k: k, transposeB: true, beta: 1)
        engine.multiply(a, b, into: &biased, m: m, n: n, k: k, transposeB: true, bias: bias)
        #expect(zip(sums, rounded).allSatisfy { BFloat16($0).float == $1 })
        #expect(zip(sums, halves).allSatisfy { BFloat16($0) == $1 })
        #expect((0..<(m * n)).allSatisfy { accumulated[$0] == c0[$0] + BFloat16(sums[$0]).float })
        // The bias joins the float32 sum before the rounding (one rounding of sum + bias).
        #expect((0..<(m * n)).allSatisfy { abs(biased[$0] - BFloat16(sums[$0] + bias[$0 % n].float).float) <= abs(biased[$0]) * 0x1p-7 })
    }

    /// A column block of a wider matrix, as attention reads one head out of [T, 3*hidden].
    @Test(arguments: engines)
    func leadingDimensionsAddressSubmatrices(engine: GEMMEngine) {
        var rng = SplitMix64(seed: 9)
        let (m, n, k, width) = (7, 6, 4, 12)
        let wide = randomMatrix(m * width, &rng)  // A is columns 4..<8 of a [7, 12] matrix
        let b = randomMatrix(k * n, &rng)
        var c = [Float](repeating: 0, count: m * (n + 3))  // C is columns 0..<6 of a [7, 9] matrix
        multiply(engine, wide, b, into: &c, m: m, n: n, k: k, lda: width, ldc: n + 3, aOffset: 4)
        let read = asRead(wide, by: engine), readB = asRead(b, by: engine)
        for i in 0..<m {
            for j in 0..<n {
                let exact = (0..<k).reduce(0.0) { $0 + Double(read[i * width + 4 + $1]) * Double(readB[$1 * n + j]) }
                // bf16 engines round the result: within half a bfloat16 ulp (2^-9 relative) of the sum.
                let rounding = engine.precision == .bf16 ? abs(exact) * 0x1p-8 : 0
                #expect(abs(Double(c[i * (n + 3) + j]) - exact) < 1e-5 + rounding)
            }
            for j in n..<(n + 3) { #expect(c[i * (n + 3) + j] == 0, "wrote outside the block") }
        }
    }

    @Test func bfloat16NeedsOneDNN() {
        #expect(throws: GEMMEngineError.self) { try GEMMEngine(backend: .openblas, precision: .bf16) }
    }

    /// Tile shapes depend on the product's shape only; large products get many tiles, small ones one.
    @Test func tilePlans() {
        #expect(TilePlan(m: 2048, n: 3072) == TilePlan(m: 2048, n: 3072))
        #expect(TilePlan(m: 2048, n: 4096).count(m: 2048, n: 4096) >= 8)
        #expect(TilePlan(m: 512, n: 1024).count(m: 512, n: 1024) >= 8)
        #expect(TilePlan(m: 3, n: 5).count(m: 3, n: 5) == 1)
    }
}

/// Same bits on 1, 2 and 3 threads for every engine: the tiles are fixed by the shape, each one a
/// single-threaded library call. k = 600 is a size OpenBLAS's own threading once split differently on
/// 1 and 2 threads; 40 columns and 600 make narrow and wide panels.
@Suite(.serialized) struct GEMMDeterminismTests {
    static let cases = engines.flatMap { e in [(false, false), (true, false), (false, true)].map { (e, $0.0, $0.1) } }

    @Test(arguments: cases)
    func sameBitsOnAnyThreadCount(engine: GEMMEngine, transposeA: Bool, transposeB: Bool) {
        var rng = SplitMix64(seed: 9)
        for (m, n, k) in [(96, 40, 600), (700, 1300, 300), (2048, 520, 64)] {
            let a = randomMatrix(m * k, &rng), b = randomMatrix(k * n, &rng), c0 = randomMatrix(m * n, &rng)
            let saved = Parallel.threadCount
            defer { Parallel.threadCount = saved }
            var results: [[Float]] = []
            for threads in [1, 2, 3] {
                Parallel.threadCount = threads
                var c = c0
                multiply(engine, a, b, into: &c, m: m, n: n, k: k, transposeA: transposeA, transposeB: transposeB, beta: 1)
                results.append(c)
            }
            #expect(results[1] == results[0] && results[2] == results[0], "\(engine) \(m)x\(n)x\(k)")
        }
    }
}

@Suite(.serialized) struct ParallelTests {
    @Test(arguments: [1, 2, 3, 8])
    func coversEveryIndexOnce(threads: Int) {
        let saved = Parallel.threadCount
        defer { Parallel.threadCount = saved }
        Parallel.threadCount = threads
        for count in [0, 1, 2, 7, 1000] {
            var hits = [Int](repeating: 0, count: count)
            hits.withUnsafeMutableBufferPointer { buffer in
                Parallel.forEach(count) { range in
                    for i in range { buffer[i] += 1 }
                }
            }
            #expect(hits.allSatisfy { $0 == 1 }, "threads=\(threads) count=\(count)")
        }
    }

    @Test func minimumChunkKeepsSmallLoopsOnOneWorker() {
        let saved = Parallel.threadCount
        defer { Parallel.threadCount = saved }
        Parallel.threadCount = 4
        var calls = 0
        Parallel.forEach(10, minimumChunk: 100) { _ in calls += 1 }
        #expect(calls == 1)
    }

    @Test func threadCountIsAtLeastOne() {
        let saved = Parallel.threadCount
        defer { Parallel.threadCount = saved }
        Parallel.threadCount = 0
        #expect(Parallel.threadCount == 1)
    }
}
