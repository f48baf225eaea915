/// The rectified linear unit, in place.
public enum ReLU {
    /// x[i] = max(x[i], 0) for i < count.
    public static func forward(_ x: UnsafeMutablePointer<Float>, count: Int) {
        Parallel.forEach(count, minimumChunk: 1 << 16) { range in
            var i = range.lowerBound
            let zero = VectorMath.Vector()
            while i + 16 <= range.upperBound {
                let v = VectorMath.load(x + i)
                VectorMath.store(v.replacing(with: zero, where: v .< zero), x + i)
                i += 16
            }
            while i < range.upperBound { x[i] = max(x[i], 0); i += 1 }
        }
    }

    /// dy[i] = 0 where the forward output y[i] is not positive (torch's relu gradient at 0 is 0).
    public static func backward(_ dy: UnsafeMutablePointer<Float>, output y: UnsafePointer<Float>, count: Int) {
        Parallel.forEach(count, minimumChunk: 1 << 16) { range in
            var i = range.lowerBound
            let zero = VectorMath.Vector()
            while i + 16 <= range.upperBound {
                let g = VectorMath.load(dy + i)
                VectorMath.store(g.replacing(with: 0, where: VectorMath.load(y + i) .<= zero), dy + i)
                i += 16
            }
            while i < range.upperBound { if y[i] <= 0 { dy[i] = 0 }; i += 1 }
        }
    }
}
