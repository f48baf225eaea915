/// The residual connection without dropout: out = residual + x.
public enum Residual {
    /// out[i] = residual[i] + x[i] for i < count; `out` may be `residual`.
    public static func add(_ x: UnsafePointer<Float>, residual: UnsafePointer<Float>, into out: UnsafeMutablePointer<Float>,
                           count: Int) {
        Parallel.forEach(count, minimumChunk: 1 << 16) { range in
            var i = range.lowerBound
            while i + 16 <= range.upperBound {
                VectorMath.store(VectorMath.load(residual + i) + VectorMath.load(x + i), out + i)
                i += 16
            }
            while i < range.upperBound { out[i] = residual[i] + x[i]; i += 1 }
        }
    }
}
