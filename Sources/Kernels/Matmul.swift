import COpenBLAS

/// C = alpha * op(A) * op(B) + beta * C for row-major float32 matrices, on the process's GEMM backend
/// (`GEMMBackend.current`) through `GEMMEngine.multiply`: tiled, the same bits on any thread count.
///
/// Shapes: op(A) is [m, k], op(B) is [k, n], C is [m, n]. With `transposeA`, A is stored as [k, m];
/// with `transposeB`, B is stored as [n, k]. Leading dimensions default to packed rows and can be
/// widened to address a column block of a larger matrix (e.g. one head inside [T, 3*hidden]).
/// `parallel: false` runs the tiles on the calling thread (for callers that are pool workers).
public func matmul(
    _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, into c: UnsafeMutablePointer<Float>,
    m: Int, n: Int, k: Int,
    transposeA: Bool = false, transposeB: Bool = false,
    alpha: Float = 1, beta: Float = 0,
    lda: Int? = nil, ldb: Int? = nil, ldc: Int? = nil, parallel: Bool = true
) {
    GEMMEngine.float32.multiply(a, b, into: c, m: m, n: n, k: k, transposeA: transposeA, transposeB: transposeB,
                                alpha: alpha, beta: beta, lda: lda, ldb: ldb, ldc: ldc, parallel: parallel)
}

/// y = A x + beta * y in float32 on the process's backend: `GEMMEngine.multiplyVector`.
public func matvec(_ a: UnsafePointer<Float>, _ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>,
                   rows: Int, columns: Int, beta: Float = 0, lda: Int? = nil) {
    GEMMEngine.float32.multiplyVector(a, x, into: y, rows: rows, columns: columns, beta: beta, lda: lda)
}

extension GEMMEngine {
    /// y[rows] = A x + beta * y for a row-major A [rows, columns] (leading dimension `lda`) and x in the
    /// engine's precision, y in float32: one token through a layer, which a GEMM does several times slower
    /// (decoding is bound by the bytes of A, which bfloat16 halves). bfloat16 products are exact in float32
    /// and accumulated there, as a bfloat16 GEMM does. The rows are cut into fixed blocks of `matvecBlock`,
    /// each computed on one thread of the pool, so the bits do not depend on the thread count.
    @_specialize(exported: true, where Element == Float)
    @_specialize(exported: true, where Element == BFloat16)
    public func multiplyVector<Element: GEMMElement>(
        _ a: UnsafePointer<Element>, _ x: UnsafePointer<Element>, into y: UnsafeMutablePointer<Float>,
        rows: Int, columns: Int, beta: Float = 0, lda: Int? = nil
    ) {
        precondition(rows >= 0 && columns >= 0, "matvec: negative dimension rows=\(rows) columns=\(columns)")
        precondition(Element.precision == precision, "matvec: \(Element.precision.rawValue) matrix on a \(self) engine")
        if rows == 0 { return }
        GEMMEngine.prepareLibraries
        let lda = lda ?? columns
        let blocks = (rows + matvecBlock - 1) / matvecBlock
        switch precision {
        case .fp32:
            let a = UnsafeRawPointer(a).assumingMemoryBound(to: Float.self)
            let x = UnsafeRawPointer(x).assumingMemoryBound(to: Float.self)
            Parallel.forEachItem(blocks, slots: blocks) { block, _ in
                let start = block * matvecBlock, count = min(matvecBlock, rows - start)
                cblas_sgemv(CblasRowMajor, CblasNoTrans, Int32(count), Int32(columns), 1, a + start * lda, Int32(lda),
                            x, 1, beta, y + start, 1)
            }
        case .bf16:
            let a = UnsafeRawPointer(a).assumingMemoryBound(to: BFloat16.self)
            let widened = (0..<columns).map { x[$0].floatValue }
            widened.withUnsafeBufferPointer { xr in
                let xr = xr.baseAddress!
                Parallel.forEachItem(blocks, slots: blocks) { block, _ in
                    let start = block * matvecBlock
                    for r in start..<min(start + matvecBlock, rows) {
                        let dot = Self.dot(a + r * lda, xr, columns)
                        y[r] = beta == 0 ? dot : dot + beta * y[r]
                    }
                }
            }
        }
    }

    /// Σ w[i] * x[i] for bfloat16 w and float32 x, 16 lanes in a fixed order.
    @inline(__always)
    static func dot(_ w: UnsafePointer<BFloat16>, _ x: UnsafePointer<Float>, _ count: Int) -> Float {
        let raw = UnsafeRawPointer(w)
        var acc = SIMD16<Float>(), i = 0
        while i + 16 <= count {
            let halves = (raw + 2 * i).loadUnaligned(as: SIMD16<UInt16>.self)
            let widened = unsafeBitCast(SIMD16<UInt32>(truncatingIfNeeded: halves) &<< 16, to: SIMD16<Float>.self)
            acc += widened * UnsafeRawPointer(x + i).loadUnaligned(as: SIMD16<Float>.self)
            i += 16
        }
        var total = acc.sum()
        while i < count { total += w[i].float * x[i]; i += 1 }
        return total
    }
}

/// Rows per block of `GEMMEngine.multiplyVector`.
public let matvecBlock = 512
