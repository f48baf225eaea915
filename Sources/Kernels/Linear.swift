/// A fully connected layer in Hugging Face's `nn.Linear` orientation: the weight is [out, in].
public enum Linear {
    /// y[n, out] = x[n, in] · W[out, in]^T + b[out] (no bias term when `bias` is nil). One row (a
    /// decoding step) is a matrix-vector product.
    public static func forward(_ x: UnsafePointer<Float>, weight: UnsafePointer<Float>, bias: UnsafePointer<Float>?,
                               into y: UnsafeMutablePointer<Float>, rows n: Int, inFeatures: Int, outFeatures: Int) {
        if n == 1 {
            if let bias { y.update(from: bias, count: outFeatures) }
            matvec(weight, x, into: y, rows: outFeatures, columns: inFeatures, beta: bias == nil ? 0 : 1)
            return
        }
        if let bias {
            Parallel.forEach(n, minimumChunk: 64) { range in
                for r in range { (y + r * outFeatures).update(from: bias, count: outFeatures) }
            }
        }
        matmul(x, weight, into: y, m: n, n: outFeatures, k: inFeatures, transposeB: true, beta: bias == nil ? 0 : 1)
    }

    /// Gradients of `forward`, given dy[n, out] and the forward input x[n, in]:
    /// dW[out, in] += dy^T · x; db[out] += Σ_n dy[n, :]; dx[n, in] = dy · W (or += with `accumulateInput`).
    /// Pass nil for `dx` when the input needs no gradient.
    public static func backward(_ dy: UnsafePointer<Float>, input x: UnsafePointer<Float>, weight: UnsafePointer<Float>,
                                dInput dx: UnsafeMutablePointer<Float>?, accumulateInput: Bool = false,
                                dWeight: UnsafeMutablePointer<Float>, dBias: UnsafeMutablePointer<Float>?,
                                rows n: Int, inFeatures: Int, outFeatures: Int) {
        matmul(dy, x, into: dWeight, m: outFeatures, n: inFeatures, k: n, transposeA: true, beta: 1)
        if let dBias { VectorMath.addColumnSums(dy, rows: n, columns: outFeatures, into: dBias) }
        if let dx {
            matmul(dy, weight, into: dx, m: n, n: inFeatures, k: outFeatures, beta: accumulateInput ? 1 : 0)
        }
    }
}
