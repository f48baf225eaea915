/// bfloat16: the top 16 bits of a float32 (sign, the same 8-bit exponent, 7 mantissa bits). Mixed-precision
/// GEMMs read their inputs in it; products are accumulated and returned in float32.
public struct BFloat16: Sendable, Equatable, Hashable {
    public var bitPattern: UInt16

    public init(bitPattern: UInt16) { self.bitPattern = bitPattern }

    /// Rounded to nearest, ties to even, as PyTorch's `Tensor.to(torch.bfloat16)` (c10's
    /// round_to_nearest_even): every NaN becomes the quiet NaN 0x7FC0, subnormals are kept, values past the
    /// largest bfloat16 become infinity.
    @inlinable
    public init(_ value: Float) {
        if value.isNaN {
            bitPattern = 0x7FC0
            return
        }
        let bits = value.bitPattern
        bitPattern = UInt16(truncatingIfNeeded: (bits &+ 0x7FFF &+ ((bits >> 16) & 1)) >> 16)
    }

    /// Exact: every bfloat16 is a float32.
    @inlinable
    public var float: Float { Float(bitPattern: UInt32(bitPattern) << 16) }
}

extension BFloat16 {
    /// 16 floats rounded as `init(_:)` rounds one, as float32 values (their low 16 bits zero). NaN is found
    /// with a float comparison: Swift lowers unsigned integer vector comparisons to a scalar loop on x86-64's
    /// baseline SSE2.
    @inlinable @inline(__always)
    public static func rounded(_ values: SIMD16<Float>) -> SIMD16<Float> {
        let bits = unsafeBitCast(values, to: SIMD16<UInt32>.self)
        let kept = (bits &+ 0x7FFF &+ ((bits &>> 16) & 1)) & 0xFFFF_0000
        return unsafeBitCast(kept.replacing(with: 0x7FC0_0000, where: values .!= values), to: SIMD16<Float>.self)
    }

    /// Stores 16 floats rounded to bfloat16 at `dst`. (Element by element: the stdlib's vector
    /// truncatingIfNeeded is not inlined here and costs a call per 16 values.)
    @inlinable @inline(__always)
    public static func store(_ values: SIMD16<Float>, _ dst: UnsafeMutablePointer<BFloat16>) {
        let bits = unsafeBitCast(rounded(values), to: SIMD16<UInt32>.self) &>> 16
        let raw = UnsafeMutableRawPointer(dst).assumingMemoryBound(to: UInt16.self)
        for i in 0..<16 { raw[i] = UInt16(truncatingIfNeeded: bits[i]) }
    }

    /// 16 bfloat16 values at `src` widened to float32 (exact).
    @inlinable @inline(__always)
    public static func load(_ src: UnsafePointer<BFloat16>) -> SIMD16<Float> {
        let raw = UnsafeRawPointer(src).assumingMemoryBound(to: UInt16.self)
        var bits = SIMD16<UInt32>()
        for i in 0..<16 { bits[i] = UInt32(raw[i]) &<< 16 }
        return unsafeBitCast(bits, to: SIMD16<Float>.self)
    }

    /// dst[i] = BFloat16(src[i]) for i < count, 16 lanes at a time.
    @inlinable
    public static func convert(_ src: UnsafePointer<Float>, into dst: UnsafeMutablePointer<BFloat16>, count: Int) {
        var i = 0
        while i + 16 <= count {
            store(UnsafeRawPointer(src + i).loadUnaligned(as: SIMD16<Float>.self), dst + i)
            i += 16
        }
        while i < count {
            dst[i] = BFloat16(src[i])
            i += 1
        }
    }

    /// p[i] = Float(BFloat16(p[i])) for i < count: float32 values that bfloat16 holds exactly.
    @inlinable
    public static func roundInPlace(_ p: UnsafeMutablePointer<Float>, count: Int) {
        var i = 0
        while i + 16 <= count {
            let values = rounded(UnsafeRawPointer(p + i).loadUnaligned(as: SIMD16<Float>.self))
            UnsafeMutableRawPointer(p + i).storeBytes(of: values, as: SIMD16<Float>.self)
            i += 16
        }
        while i < count {
            p[i] = BFloat16(p[i]).float
            i += 1
        }
    }

    /// y[i] = keep * y[i] + Float(BFloat16(x[i])) for i < count: a bfloat16 result added into float32
    /// (keep 0 writes it).
    @inlinable
    public static func addRounded(_ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, keeping keep: Float,
                                  count: Int) {
        var i = 0
        while i + 16 <= count {
            let rounded = rounded(UnsafeRawPointer(x + i).loadUnaligned(as: SIMD16<Float>.self))
            let result: SIMD16<Float>
            if keep == 0 {
                result = rounded
            } else {
                let old = UnsafeRawPointer(y + i).loadUnaligned(as: SIMD16<Float>.self)
                result = keep == 1 ? old + rounded : old * keep + rounded
            }
            UnsafeMutableRawPointer(y + i).storeBytes(of: result, as: SIMD16<Float>.self)
            i += 16
        }
        while i < count {
            let rounded = BFloat16(x[i]).float
            y[i] = keep == 0 ? rounded : keep == 1 ? y[i] + rounded : y[i] * keep + rounded
            i += 1
        }
    }

    /// dst[i] = src[i] widened to float32 (exact) for i < count.
    @inlinable
    public static func widen(_ src: UnsafePointer<BFloat16>, into dst: UnsafeMutablePointer<Float>, count: Int) {
        var i = 0
        while i + 16 <= count {
            UnsafeMutableRawPointer(dst + i).storeBytes(of: load(src + i), as: SIMD16<Float>.self)
            i += 16
        }
        while i < count {
            dst[i] = src[i].float
            i += 1
        }
    }

    /// `convert` of a [rows, columns] block with row strides `sourceStride` and `targetStride`, rows in
    /// parallel (each element is converted alone, so the split does not matter).
    public static func convert(_ src: UnsafePointer<Float>, sourceStride: Int, into dst: UnsafeMutablePointer<BFloat16>,
                               targetStride: Int, rows: Int, columns: Int) {
        Parallel.forEach(rows, minimumChunk: max(1, (1 << 15) / max(1, columns))) { range in
            for r in range { convert(src + r * sourceStride, into: dst + r * targetStride, count: columns) }
        }
    }
}

extension FloatBuffer {
    /// Storage for `count` values of a GEMM element type: float32, or bfloat16 two to a float (the bfloat16
    /// copies of weights, the activations mixed-precision GEMMs read).
    public convenience init<Element: GEMMElement>(count: Int, of _: Element.Type) {
        self.init(count: (count * MemoryLayout<Element>.stride + 3) / 4)
    }

    /// The storage as values of `Element`.
    public func elements<Element: GEMMElement>(_: Element.Type = Element.self) -> UnsafeMutablePointer<Element> {
        UnsafeMutableRawPointer(pointer).assumingMemoryBound(to: Element.self)
    }
}

extension BFloat16 {
    /// dst[i] = BFloat16(src[i]) for i < count, in parallel.
    public static func round(_ src: UnsafePointer<Float>, into dst: UnsafeMutablePointer<BFloat16>, count: Int) {
        Parallel.forEach(count, minimumChunk: 1 << 16) { part in
            convert(src + part.lowerBound, into: dst + part.lowerBound, count: part.count)
        }
    }
}

extension BFloat16 {
    /// Sums `rows` rows of `count` bfloat16 values (row r at `values + r * stride`) in float32, row 0 first,
    /// and rounds each sum once: `sums[j] = BFloat16(((row0[j] + row1[j]) + row2[j]) + ...)`. Works in
    /// blocks of a cache-resident float32 accumulator, one row at a time, so every inner loop is a plain
    /// stream.
    public static func sum(_ values: UnsafePointer<BFloat16>, rows: Int, stride: Int, count: Int,
                           into sums: UnsafeMutablePointer<BFloat16>) {
        let block = 2048
        withUnsafeTemporaryAllocation(of: Float.self, capacity: block) { buffer in
            let total = buffer.baseAddress!
            var start = 0
            while start < count {
                let n = min(block, count - start)
                widen(values + start, into: total, count: n)
                for r in 1..<max(rows, 1) {
                    let row = values + r * stride + start
                    for j in 0..<n { total[j] += row[j].float }
                }
                convert(total, into: sums + start, count: n)
                start += n
            }
        }
    }
}
