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
