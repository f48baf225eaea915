/// Vectorized helpers on float rows. Written with SIMD16 so that any x86-64 or arm64 target gets vector
/// code (no libm calls, no rounding instructions beyond SSE2). Every reduction adds in a fixed order, so
/// results do not depend on how callers split work between threads.
public enum VectorMath {
    public typealias Vector = SIMD16<Float>
    @usableFromInline static let width = 16

    @inlinable @inline(__always)
    static func load(_ p: UnsafePointer<Float>) -> Vector { UnsafeRawPointer(p).loadUnaligned(as: Vector.self) }

    @inlinable @inline(__always)
    static func store(_ v: Vector, _ p: UnsafeMutablePointer<Float>) { UnsafeMutableRawPointer(p).storeBytes(of: v, as: Vector.self) }

    /// e^x for each lane, within 2 ulp of the true value (Cephes' expf polynomial); lanes below -87.3
    /// give exactly 0 (the float exponent range ends there), lanes above 88.72 give +inf.
    @inlinable @inline(__always)
    public static func exp(_ x0: Vector) -> Vector {
        var x = x0.replacing(with: -87.5, where: x0 .< -87.5)
        x.replace(with: 89, where: x .> 89)
        // Round x*log2(e) to the nearest integer n with the 1.5*2^23 trick (no SSE4.1 round needed).
        let magic = Vector(repeating: 12_582_912)
        let shifted = x * 1.442_695_040_888_963_4 + magic
        let n = shifted - magic
        let exponent = unsafeBitCast(shifted, to: SIMD16<Int32>.self) &- unsafeBitCast(magic, to: SIMD16<Int32>.self)
        // r = x - n*ln(2), with ln(2) split in two so the product is exact.
        let r = x - n * 0.693_359_375 + n * 2.121_944_4e-4
        var y = Vector(repeating: 1.987_569_15e-4)
        y = y * r + 1.398_199_950_7e-3
        y = y * r + 8.333_451_907_3e-3
        y = y * r + 4.166_579_589_4e-2
        y = y * r + 1.666_666_545_9e-1
        y = y * r + 5.000_000_120_1e-1
        y = y * (r * r) + r + 1
        // y * 2^n as y * 2^(n/2) * 2^(n - n/2): each factor stays a normal float for n in -126...128.
        let half = exponent &>> 1
        let first = unsafeBitCast((half &+ 127) &<< 23, to: Vector.self)
        let second = unsafeBitCast((exponent &- half &+ 127) &<< 23, to: Vector.self)
        var result = y * first * second
        result.replace(with: 0, where: x0 .< -87.3)
        return result
    }

    /// e^x for one value, by the same polynomial as the vector version.
    @inlinable
    public static func exp(_ x: Float) -> Float { exp(Vector(repeating: x))[0] }

    /// The sum of p[0..<count].
    @inlinable
    public static func sum(_ p: UnsafePointer<Float>, _ count: Int) -> Float {
        var acc = Vector(), i = 0
        while i + width <= count { acc += load(p + i); i += width }
        var total = acc.sum()
        while i < count { total += p[i]; i += 1 }
        return total
    }

    /// The dot product of a[0..<count] and b[0..<count].
    @inlinable
    public static func dot(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ count: Int) -> Float {
        var acc = Vector(), i = 0
        while i + width <= count { acc += load(a + i) * load(b + i); i += width }
        var total = acc.sum()
        while i < count { total += a[i] * b[i]; i += 1 }
        return total
    }

    /// The largest of p[0..<count] (-infinity when empty).
    @inlinable
    public static func maximum(_ p: UnsafePointer<Float>, _ count: Int) -> Float {
        var acc = Vector(repeating: -.infinity), i = 0
        while i + width <= count {
            // `replace` rather than pointwiseMax, which Swift lowers to a scalar loop (NaN rules).
            let v = load(p + i)
            acc.replace(with: v, where: v .> acc)
            i += width
        }
        var best = acc.max()
        while i < count { best = Swift.max(best, p[i]); i += 1 }
        return best
    }

    /// p[i] = e^(p[i] - shift) for i < count; returns the sum of the new values.
    @inlinable
    public static func expShiftedInPlace(_ p: UnsafeMutablePointer<Float>, _ count: Int, shift: Float) -> Float {
        var acc = Vector(), i = 0
        let s = Vector(repeating: shift)
        while i + width <= count {
            let e = exp(load(p + i) - s)
            store(e, p + i)
            acc += e
            i += width
        }
        var total = acc.sum()
        if i < count {
            // The tail through the same vector code, so every element gets the same rounding.
            var tail = Vector(repeating: -.infinity)
            for j in i..<count { tail[j - i] = p[j] }
            let e = exp(tail - s)
            for j in i..<count { p[j] = e[j - i]; total += e[j - i] }
        }
        return total
    }

    /// p[i] *= factor for i < count.
    @inlinable
    public static func scale(_ p: UnsafeMutablePointer<Float>, _ count: Int, by factor: Float) {
        var i = 0
        let f = Vector(repeating: factor)
        while i + width <= count { store(load(p + i) * f, p + i); i += width }
        while i < count { p[i] *= factor; i += 1 }
    }

    /// y[i] = keep * y[i] + x[i] for i < count.
    @inlinable
    public static func addScaled(_ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, keeping keep: Float, _ count: Int) {
        var i = 0
        while i + width <= count { store(load(y + i) * keep + load(x + i), y + i); i += width }
        while i < count { y[i] = y[i] * keep + x[i]; i += 1 }
    }

    /// y[i] += x[i] for i < count.
    @inlinable
    public static func add(_ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, _ count: Int) {
        var i = 0
        while i + width <= count { store(load(y + i) + load(x + i), y + i); i += width }
        while i < count { y[i] += x[i]; i += 1 }
    }

    /// Column sums of a [rows, columns] matrix with row stride `stride` (float32, or bfloat16 widened),
    /// added into `sums[columns]`. Parallel over column ranges; each column adds its rows in order, so the
    /// result does not depend on the thread count.
    @_specialize(exported: true, where Element == Float)
    @_specialize(exported: true, where Element == BFloat16)
    public static func addColumnSums<Element: GEMMElement>(_ matrix: UnsafePointer<Element>, rows: Int, columns: Int,
                                                           stride: Int? = nil, into sums: UnsafeMutablePointer<Float>) {
        let stride = stride ?? columns
        Parallel.forEach(columns, minimumChunk: 256) { cols in
            for r in 0..<rows {
                let row = matrix + r * stride
                var i = cols.lowerBound
                while i + width <= cols.upperBound {
                    store(load(sums + i) + Element.load(row + i), sums + i)
                    i += width
                }
                while i < cols.upperBound { sums[i] += row[i].floatValue; i += 1 }
            }
        }
    }
}
