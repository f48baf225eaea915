/// Layer normalization over the last dimension, as `torch.nn.LayerNorm` (biased variance, eps inside
/// the square root).
public enum LayerNorm {
    /// OPT's epsilon (transformers' default for nn.LayerNorm).
    public static let epsilon: Float = 1e-5

    /// y[n, d] = (x - mean) * rstd * gamma[d] + beta[d], rstd = 1 / sqrt(var + eps), computed in float32
    /// and written as float32 or rounded to bfloat16 (a mixed-precision GEMM's input).
    /// Saves mean[n] and rstd[n] for `backward` and `apply`.
    @_specialize(exported: true, where Output == Float)
    @_specialize(exported: true, where Output == BFloat16)
    public static func forward<Output: GEMMElement>(
        _ x: UnsafePointer<Float>, gamma: UnsafePointer<Float>, beta: UnsafePointer<Float>,
        into y: UnsafeMutablePointer<Output>, mean: UnsafeMutablePointer<Float>, rstd: UnsafeMutablePointer<Float>,
        rows n: Int, dim d: Int
    ) {
        Parallel.forEach(n, minimumChunk: 16) { range in
            for r in range {
                let row = x + r * d
                let mu = VectorMath.sum(row, d) / Float(d)
                var acc = VectorMath.Vector(), i = 0
                let m = VectorMath.Vector(repeating: mu)
                while i + 16 <= d { let c = VectorMath.load(row + i) - m; acc += c * c; i += 16 }
                var variance = acc.sum()
                while i < d { let c = row[i] - mu; variance += c * c; i += 1 }
                mean[r] = mu
                rstd[r] = 1 / (variance / Float(d) + epsilon).squareRoot()
            }
        }
        apply(x, gamma: gamma, beta: beta, mean: mean, rstd: rstd, into: y, rows: n, dim: d)
    }

    /// y[n, d] from saved statistics (recomputes a forward output in backward instead of storing it).
    @_specialize(exported: true, where Output == Float)
    @_specialize(exported: true, where Output == BFloat16)
    public static func apply<Output: GEMMElement>(
        _ x: UnsafePointer<Float>, gamma: UnsafePointer<Float>, beta: UnsafePointer<Float>,
        mean: UnsafePointer<Float>, rstd: UnsafePointer<Float>, into y: UnsafeMutablePointer<Output>, rows n: Int, dim d: Int
    ) {
        Parallel.forEach(n, minimumChunk: 16) { range in
            for r in range {
                let row = x + r * d, out = y + r * d
                let mu = mean[r], s = rstd[r]
                var i = 0
                let m = VectorMath.Vector(repeating: mu), sv = VectorMath.Vector(repeating: s)
                while i + 16 <= d {
                    let v = (VectorMath.load(row + i) - m) * sv * VectorMath.load(gamma + i) + VectorMath.load(beta + i)
                    Output.store(v, out + i)
                    i += 16
                }
                while i < d { out[i] = Output((row[i] - mu) * s * gamma[i] + beta[i]); i += 1 }
            }
        }
    }

    /// Gradients of `forward` given dy[n, d], the forward input x and its saved statistics:
    /// dx = rstd * (g - mean(g) - xhat * mean(g * xhat)) with g = dy * gamma, xhat = (x - mean) * rstd,
    /// written to dx (or added with `accumulate`); dGamma[d] += Σ_n dy * xhat; dBeta[d] += Σ_n dy.
    /// dx may not alias dy.
    public static func backward(_ dy: UnsafePointer<Float>, input x: UnsafePointer<Float>,
                                mean: UnsafePointer<Float>, rstd: UnsafePointer<Float>, gamma: UnsafePointer<Float>,
                                dInput dx: UnsafeMutablePointer<Float>, accumulate: Bool,
                                dGamma: UnsafeMutablePointer<Float>, dBeta: UnsafeMutablePointer<Float>,
                                rows n: Int, dim d: Int) {
        Parallel.forEach(n, minimumChunk: 16) { range in
            for r in range {
                let row = x + r * d, g = dy + r * d, out = dx + r * d
                let mu = VectorMath.Vector(repeating: mean[r]), s = VectorMath.Vector(repeating: rstd[r])
                var sumG = VectorMath.Vector(), sumGX = VectorMath.Vector(), i = 0
                while i + 16 <= d {
                    let gi = VectorMath.load(g + i) * VectorMath.load(gamma + i)
                    sumG += gi
                    sumGX += gi * (VectorMath.load(row + i) - mu) * s
                    i += 16
                }
                var meanG = sumG.sum(), meanGX = sumGX.sum()
                let tail = i
                while i < d {
                    let gi = g[i] * gamma[i]
                    meanG += gi
                    meanGX += gi * (row[i] - mean[r]) * rstd[r]
                    i += 1
                }
                meanG /= Float(d)
                meanGX /= Float(d)
                let mg = VectorMath.Vector(repeating: meanG), mgx = VectorMath.Vector(repeating: meanGX)
                i = 0
                while i < tail {
                    let xhat = (VectorMath.load(row + i) - mu) * s
                    var v = s * (VectorMath.load(g + i) * VectorMath.load(gamma + i) - mg - xhat * mgx)
                    if accumulate { v += VectorMath.load(out + i) }
                    VectorMath.store(v, out + i)
                    i += 16
                }
                while i < d {
                    let xhat = (row[i] - mean[r]) * rstd[r]
                    let v = rstd[r] * (g[i] * gamma[i] - meanG - xhat * meanGX)
                    out[i] = accumulate ? out[i] + v : v
                    i += 1
                }
            }
        }
        // Parameter gradients: parallel over features, each adding its rows in order (deterministic).
        Parallel.forEach(d, minimumChunk: 128) { cols in
            let c0 = cols.lowerBound
            for r in 0..<n {
                let row = x + r * d, g = dy + r * d
                let mu = mean[r], s = rstd[r]
                var i = c0
                let m = VectorMath.Vector(repeating: mu), sv = VectorMath.Vector(repeating: s)
                while i + 16 <= cols.upperBound {
                    let gi = VectorMath.load(g + i)
                    VectorMath.store(VectorMath.load(dGamma + i) + gi * (VectorMath.load(row + i) - m) * sv, dGamma + i)
                    VectorMath.store(VectorMath.load(dBeta + i) + gi, dBeta + i)
                    i += 16
                }
                while i < cols.upperBound {
                    dGamma[i] += g[i] * (row[i] - mu) * s
                    dBeta[i] += g[i]
                    i += 1
                }
            }
        }
    }
}
