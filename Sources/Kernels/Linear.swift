/// A fully connected layer in Hugging Face's `nn.Linear` orientation: the weight is [out, in]. Inputs and
/// weights are in the engine's precision (float32, or bfloat16 copies for mixed precision); outputs and
/// gradients are float32.
public enum Linear {
    /// y[n, out] = x[n, in] · W[out, in]^T + b[out] (no bias term when `bias` is nil; the bias in the
    /// inputs' precision, as autocast casts it); y may be bfloat16 for a bfloat16 engine. One row (a decoding step) is a matrix-vector product.
    @_specialize(exported: true, where Element == Float, Output == Float)
    @_specialize(exported: true, where Element == BFloat16, Output == Float)
    @_specialize(exported: true, where Element == BFloat16, Output == BFloat16)
    public static func forward<Element: GEMMElement, Output: GEMMElement>(
        _ x: UnsafePointer<Element>, weight: UnsafePointer<Element>, bias: UnsafePointer<Element>?,
        into y: UnsafeMutablePointer<Output>, rows n: Int, inFeatures: Int, outFeatures: Int, engine: GEMMEngine = .float32
    ) {
        if n == 1 {
            engine.multiplyVector(weight, x, into: y, rows: outFeatures, columns: inFeatures, bias: bias)
            return
        }
        engine.multiply(x, weight, into: y, m: n, n: outFeatures, k: inFeatures, transposeB: true, bias: bias)
    }

    /// Gradients of `forward`, given dy[n, out] and the forward input x[n, in]:
    /// dW[out, in] += dy^T · x; db[out] += Σ_n dy[n, :]; dx[n, in] = dy · W (or += with `accumulateInput`).
    /// Pass nil for `dx` when the input needs no gradient; dx may be bfloat16 (not accumulated) for a
    /// bfloat16 engine. A bfloat16 engine rounds each of the three to bfloat16 before it is added, as
    /// autograd's bfloat16 gradients of torch.autocast's linear are.
    @_specialize(exported: true, where Element == Float, Output == Float)
    @_specialize(exported: true, where Element == BFloat16, Output == Float)
    @_specialize(exported: true, where Element == BFloat16, Output == BFloat16)
    public static func backward<Element: GEMMElement, Output: GEMMElement>(
        _ dy: UnsafePointer<Element>, input x: UnsafePointer<Element>, weight: UnsafePointer<Element>,
        dInput dx: UnsafeMutablePointer<Output>?, accumulateInput: Bool = false,
        dWeight: UnsafeMutablePointer<Float>, dBias: UnsafeMutablePointer<Float>?,
        rows n: Int, inFeatures: Int, outFeatures: Int, engine: GEMMEngine = .float32
    ) {
        engine.multiply(dy, x, into: dWeight, m: outFeatures, n: inFeatures, k: n, transposeA: true, beta: 1)
        if let dBias {
            if engine.precision == .bf16 {
                var sums = [Float](repeating: 0, count: outFeatures)
                sums.withUnsafeMutableBufferPointer { sums in
                    VectorMath.addColumnSums(dy, rows: n, columns: outFeatures, into: sums.baseAddress!)
                    BFloat16.addRounded(sums.baseAddress!, into: dBias, keeping: 1, count: outFeatures)
                }
            } else {
                VectorMath.addColumnSums(dy, rows: n, columns: outFeatures, into: dBias)
            }
        }
        if let dx {
            engine.multiply(dy, weight, into: dx, m: n, n: inFeatures, k: outFeatures, beta: accumulateInput ? 1 : 0)
        }
    }
}
