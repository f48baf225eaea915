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

    /// Scales the gradients by maxNorm / (norm + 1e-6) when that is below 1, as torch does; returns the
    /// norm before clipping. A non-finite norm leaves the gradients unchanged (the caller decides).
    @discardableResult
    public static func clip(_ gradients: UnsafeMutablePointer<Float>, count: Int, maxNorm: Double) -> Double {
        let norm = sumOfSquares(gradients, count: count).squareRoot()
        let coefficient = maxNorm / (norm + 1e-6)
        if norm.isFinite && coefficient < 1 {
            let c = Float(coefficient)
            Parallel.forEach(count, minimumChunk: 1 << 16) { range in
                VectorMath.scale(gradients + range.lowerBound, range.count, by: c)
            }
        }
        return norm
    }
}
