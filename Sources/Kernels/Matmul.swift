import COpenBLAS

/// C = alpha * op(A) * op(B) + beta * C for row-major float matrices, on `cblas_sgemm`.
///
/// Shapes: op(A) is [m, k], op(B) is [k, n], C is [m, n]. With `transposeA`, A is stored as [k, m];
/// with `transposeB`, B is stored as [n, k]. Leading dimensions default to packed rows and can be
/// widened to address a column block of a larger matrix (e.g. one head inside [T, 3*hidden]).
@inlinable
public func matmul(
    _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, into c: UnsafeMutablePointer<Float>,
    m: Int, n: Int, k: Int,
    transposeA: Bool = false, transposeB: Bool = false,
    alpha: Float = 1, beta: Float = 0,
    lda: Int? = nil, ldb: Int? = nil, ldc: Int? = nil
) {
    precondition(m >= 0 && n >= 0 && k >= 0, "matmul: negative dimension m=\(m) n=\(n) k=\(k)")
    if m == 0 || n == 0 { return }
    cblas_sgemm(
        CblasRowMajor,
        transposeA ? CblasTrans : CblasNoTrans,
        transposeB ? CblasTrans : CblasNoTrans,
        Int32(m), Int32(n), Int32(k), alpha,
        a, Int32(lda ?? (transposeA ? m : k)),
        b, Int32(ldb ?? (transposeB ? k : n)),
        beta, c, Int32(ldc ?? n))
}

/// `matmul` for products whose inner dimension k is a data-dependent count (tokens, targets, vocabulary
/// chunk): k is cut into blocks of `reproducibleBlock` accumulated in order. OpenBLAS's threaded and
/// single-threaded drivers split a long k differently for some sizes (e.g. k = 600), which changes the
/// rounding with the thread count; blocks of this size are never split further, so results are the
/// same bits on any number of BLAS threads.
@inlinable
public func matmulReproducible(
    _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, into c: UnsafeMutablePointer<Float>,
    m: Int, n: Int, k: Int,
    transposeA: Bool = false, transposeB: Bool = false,
    alpha: Float = 1, beta: Float = 0,
    lda: Int? = nil, ldb: Int? = nil, ldc: Int? = nil
) {
    let lda = lda ?? (transposeA ? m : k), ldb = ldb ?? (transposeB ? k : n)
    if k == 0 {
        matmul(a, b, into: c, m: m, n: n, k: 0, alpha: alpha, beta: beta, lda: lda, ldb: ldb, ldc: ldc)
        return
    }
    for k0 in stride(from: 0, to: k, by: reproducibleBlock) {
        let kb = min(reproducibleBlock, k - k0)
        // Block k0 of op(A) is columns k0..< of A, or rows k0..< when A is stored transposed; same for B.
        let aBlock = transposeA ? a + k0 * lda : a + k0
        let bBlock = transposeB ? b + k0 : b + k0 * ldb
        matmul(aBlock, bBlock, into: c, m: m, n: n, k: kb, transposeA: transposeA, transposeB: transposeB,
               alpha: alpha, beta: k0 == 0 ? beta : 1, lda: lda, ldb: ldb, ldc: ldc)
    }
}

/// The k block of `matmulReproducible` (OpenBLAS's sgemm k blocking is larger on every x86 and ARM target).
public let reproducibleBlock = 256

/// y = alpha * A x + beta * y for a row-major A [rows, columns] (leading dimension `lda`), or
/// y = alpha * A^T x + beta * y with `transpose`, on `cblas_sgemv`. One token through a layer is a
/// matrix-vector product, which sgemm does several times slower than sgemv (decoding, one token a step).
@inlinable
public func matvec(
    _ a: UnsafePointer<Float>, _ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>,
    rows: Int, columns: Int, transpose: Bool = false, alpha: Float = 1, beta: Float = 0, lda: Int? = nil
) {
    precondition(rows >= 0 && columns >= 0, "matvec: negative dimension rows=\(rows) columns=\(columns)")
    if rows == 0 || columns == 0 { return }
    cblas_sgemv(CblasRowMajor, transpose ? CblasTrans : CblasNoTrans, Int32(rows), Int32(columns), alpha,
                a, Int32(lda ?? columns), x, 1, beta, y, 1)
}
