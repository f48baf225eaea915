/// Global-norm gradient clipping as torch.nn.utils.clip_grad_norm_ (L2 norm over all gradients).
public enum GradientClipping {
    /// Σ x² over `count` values, accumulated in Double over fixed blocks, so the result does not depend
    /// on the thread count.
    public static func sumOfSquares(_ x: UnsafePointer<Float>, count: Int) -> Double {
        let block = 1 << 16
        let blocks = (count + block - 1) / block
        var partial = [Double](repeating: 0, count: blocks)
        partial.withUnsafeMutableBufferPointer { partial in
            let out = partial.baseAddress!
            Parallel.forEach(blocks) { range in
                for b in range {
                    let start = b * block, end = min(count, start + block)
                    var total = 0.0, i = start
                    while i < end {
                        let n = min(256, end - i)
                        total += Double(VectorMath.dot(x + i, x + i, n))
                        i += n
                    }
                    out[b] = total
                }
            }
        }
        return partial.reduce(0, +)
    }

    /// What clipping multiplies the gradients by: maxNorm / (norm + 1e-6) when that is below 1, as torch
    /// does, else 1 (also for a non-finite norm: the caller decides what to do with such a step).
    public static func coefficient(norm: Double, maxNorm: Double) -> Float {
        let coefficient = maxNorm / (norm + 1e-6)
        return norm.isFinite && coefficient < 1 ? Float(coefficient) : 1
    }

    /// Scales the gradients by `coefficient(norm:maxNorm:)`; returns the norm before clipping.
    @discardableResult
    public static func clip(_ gradients: UnsafeMutablePointer<Float>, count: Int, maxNorm: Double) -> Double {
        let norm = sumOfSquares(gradients, count: count).squareRoot()
        let c = coefficient(norm: norm, maxNorm: maxNorm)
        if c < 1 {
            Parallel.forEach(count, minimumChunk: 1 << 16) { range in
                VectorMath.scale(gradients + range.lowerBound, range.count, by: c)
            }
        }
        return norm
    }
}
