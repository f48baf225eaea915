/// The rectified linear unit, in place, on float32 or on bfloat16 (exact: max(x, 0) of a bfloat16 is one).
public enum ReLU {
    /// x[i] = max(x[i], 0) for i < count.
    @_specialize(exported: true, where Element == Float)
    @_specialize(exported: true, where Element == BFloat16)
    public static func forward<Element: GEMMElement>(_ x: UnsafeMutablePointer<Element>, count: Int) {
        Parallel.forEach(count, minimumChunk: 1 << 16) { range in
            var i = range.lowerBound
            let zero = VectorMath.Vector()
            while i + 16 <= range.upperBound {
                let v = Element.load(x + i)
                Element.store(v.replacing(with: zero, where: v .< zero), x + i)
                i += 16
            }
            while i < range.upperBound { if x[i].floatValue < 0 { x[i] = Element(0) }; i += 1 }
        }
    }

    /// dy[i] = 0 where the forward output y[i] is not positive (torch's relu gradient at 0 is 0).
    @_specialize(exported: true, where Element == Float)
    @_specialize(exported: true, where Element == BFloat16)
    public static func backward<Element: GEMMElement>(_ dy: UnsafeMutablePointer<Element>, output y: UnsafePointer<Element>,
                                                      count: Int) {
        Parallel.forEach(count, minimumChunk: 1 << 16) { range in
            var i = range.lowerBound
            let zero = VectorMath.Vector()
            while i + 16 <= range.upperBound {
                let g = Element.load(dy + i)
                Element.store(g.replacing(with: 0, where: Element.load(y + i) .<= zero), dy + i)
                i += 16
            }
            while i < range.upperBound { if y[i].floatValue <= 0 { dy[i] = Element(0) }; i += 1 }
        }
    }
}
