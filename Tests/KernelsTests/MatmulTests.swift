import Kernels
import Testing

/// The exact product in double precision, reading A and B as `matmul` documents them.
private func naiveProduct(_ a: [Float], _ b: [Float], m: Int, n: Int, k: Int, transposeA: Bool, transposeB: Bool,
                          lda: Int, ldb: Int) -> [Double] {
    var c = [Double](repeating: 0, count: m * n)
    for i in 0..<m {
        for j in 0..<n {
            var sum = 0.0
            for p in 0..<k {
                let x = Double(transposeA ? a[p * lda + i] : a[i * lda + p])
                let y = Double(transposeB ? b[j * ldb + p] : b[p * ldb + j])
                sum += x * y
            }
            c[i * n + j] = sum
        }
    }
    return c
}

private func randomMatrix(_ count: Int, _ rng: inout SplitMix64) -> [Float] {
    (0..<count).map { _ in Float(rng.nextUniform() * 2 - 1) }
}

@Suite struct MatmulTests {
    static let shapes = [(1, 1, 1), (1, 7, 3), (5, 1, 9), (3, 5, 7), (17, 13, 11), (64, 33, 129), (100, 71, 1)]

    @Test(arguments: [(false, false), (false, true), (true, false), (true, true)])
    func matchesNaiveProduct(transposeA: Bool, transposeB: Bool) {
        var rng = SplitMix64(seed: 7)
        for (m, n, k) in Self.shapes {
            let a = randomMatrix(m * k, &rng), b = randomMatrix(k * n, &rng)
            var c = [Float](repeating: .nan, count: m * n)
            matmulReproducible(a, b, into: &c, m: m, n: n, k: k, transposeA: transposeA, transposeB: transposeB)
            let expected = naiveProduct(a, b, m: m, n: n, k: k, transposeA: transposeA, transposeB: transposeB,
                                        lda: transposeA ? m : k, ldb: transposeB ? k : n)
            for i in 0..<(m * n) {
                #expect(abs(Double(c[i]) - expected[i]) <= 1e-5 * Double(k), "m=\(m) n=\(n) k=\(k) at \(i)")
            }
        }
    }

    @Test func alphaBetaAccumulate() {
        var rng = SplitMix64(seed: 8)
        let (m, n, k) = (6, 5, 4)
        let a = randomMatrix(m * k, &rng), b = randomMatrix(k * n, &rng)
        let start = randomMatrix(m * n, &rng)
        var c = start
        matmul(a, b, into: &c, m: m, n: n, k: k, alpha: 0.5, beta: 2)
        let product = naiveProduct(a, b, m: m, n: n, k: k, transposeA: false, transposeB: false, lda: k, ldb: n)
        for i in 0..<(m * n) {
            #expect(abs(Double(c[i]) - (0.5 * product[i] + 2 * Double(start[i]))) < 1e-5)
        }
    }

    /// A column block of a wider matrix, as attention reads one head out of [T, 3*hidden].
    @Test func leadingDimensionsAddressSubmatrices() {
        var rng = SplitMix64(seed: 9)
        let (m, n, k, width) = (7, 6, 4, 12)
        let wide = randomMatrix(m * width, &rng)  // A is columns 4..<8 of a [7, 12] matrix
        let b = randomMatrix(k * n, &rng)
        var c = [Float](repeating: 0, count: m * (n + 3))  // C is columns 0..<6 of a [7, 9] matrix
        wide.withUnsafeBufferPointer { w in
            matmul(w.baseAddress! + 4, b, into: &c, m: m, n: n, k: k, lda: width, ldc: n + 3)
        }
        for i in 0..<m {
            for j in 0..<n {
                let exact = (0..<k).reduce(0.0) { $0 + Double(wide[i * width + 4 + $1]) * Double(b[$1 * n + j]) }
                #expect(abs(Double(c[i * (n + 3) + j]) - exact) < 1e-5)
            }
            for j in n..<(n + 3) { #expect(c[i * (n + 3) + j] == 0, "wrote outside the block") }
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

@Suite(.serialized) struct ReproducibleMatmulTests {
    /// k = 600 is a size OpenBLAS blocks differently on 1 and 2 threads; the blocked product must not.
    @Test(arguments: [(false, false), (true, false), (false, true)])
    func sameBitsOnAnyThreadCountAndRightValues(transposeA: Bool, transposeB: Bool) {
        let (m, n, k) = (96, 40, 600)
        var rng = SplitMix64(seed: 9)
        let a = randomMatrix(m * k, &rng), b = randomMatrix(k * n, &rng), c0 = randomMatrix(m * n, &rng)
        let previous = BLAS.threadCount
        defer { BLAS.threadCount = previous }
        var results: [[Float]] = []
        for threads in [1, 2] {
            BLAS.threadCount = threads
            var c = c0
            matmulReproducible(a, b, into: &c, m: m, n: n, k: k, transposeA: transposeA, transposeB: transposeB,
                               alpha: 0.5, beta: 1)
            results.append(c)
        }
        #expect(results[0] == results[1])
        let exact = naiveProduct(a, b, m: m, n: n, k: k, transposeA: transposeA, transposeB: transposeB,
                                 lda: transposeA ? m : k, ldb: transposeB ? k : n)
        for i in 0..<(m * n) { #expect(abs(Double(results[0][i]) - (0.5 * exact[i] + Double(c0[i]))) <= 1e-3) }
    }
}
