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

/// y = alpha * A x + beta * y for a row-major A [rows, columns] (leading dimension `lda`), or
/// y = alpha * A^T x + beta * y with `transpose`. One token through a layer is a matrix-vector product,
/// which sgemm does several times slower than sgemv (decoding, one token a step). The outputs are cut into
/// fixed blocks of `matvecBlock`, each one single-threaded cblas_sgemv call on the pool, so the bits do
/// not depend on the thread count.
public func matvec(
    _ a: UnsafePointer<Float>, _ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>,
    rows: Int, columns: Int, transpose: Bool = false, alpha: Float = 1, beta: Float = 0, lda: Int? = nil
) {
    precondition(rows >= 0 && columns >= 0, "matvec: negative dimension rows=\(rows) columns=\(columns)")
    if rows == 0 || columns == 0 { return }
    GEMMEngine.prepareLibraries
    let lda = lda ?? columns
    let outputs = transpose ? columns : rows, inputs = transpose ? rows : columns
    let blocks = (outputs + matvecBlock - 1) / matvecBlock
    Parallel.forEachItem(blocks, slots: blocks) { block, _ in
        let start = block * matvecBlock, count = min(matvecBlock, outputs - start)
        // Outputs start..<start+count are rows of A, or columns when transposed.
        cblas_sgemv(CblasRowMajor, transpose ? CblasTrans : CblasNoTrans,
                    Int32(transpose ? inputs : count), Int32(transpose ? count : inputs), alpha,
                    a + (transpose ? start : start * lda), Int32(lda), x, 1, beta, y + start, 1)
    }
}

/// Outputs per single-threaded sgemv call in `matvec`.
public let matvecBlock = 512
