/// The residual connection without dropout: out = residual + x, in float32 (x may be a bfloat16 result).
public enum Residual {
    /// out[i] = residual[i] + x[i] for i < count; `out` may be `residual`.
    @_specialize(exported: true, where Element == Float)
    @_specialize(exported: true, where Element == BFloat16)
    public static func add<Element: GEMMElement>(_ x: UnsafePointer<Element>, residual: UnsafePointer<Float>,
                                                 into out: UnsafeMutablePointer<Float>, count: Int) {
        Parallel.forEach(count, minimumChunk: 1 << 16) { range in
            var i = range.lowerBound
            while i + 16 <= range.upperBound {
                VectorMath.store(VectorMath.load(residual + i) + Element.load(x + i), out + i)
                i += 16
            }
            while i < range.upperBound { out[i] = residual[i] + x[i].floatValue; i += 1 }
        }
    }
}
