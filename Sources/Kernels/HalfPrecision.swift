/// IEEE binary16 and bfloat16 bit patterns to and from Float32. Swift's Float16 does binary16 (its
/// conversions are IEEE's: exact widening, round-to-nearest-even narrowing); bfloat16 has no Swift type.
public enum HalfPrecision {
    @inline(__always)
    public static func float(fromFloat16 bits: UInt16) -> Float { Float(Float16(bitPattern: bits)) }

    /// Every binary16 value widened (256 KB): a lookup is several times faster than Float16's conversion
    /// where the CPU has no half-precision instructions (x86-64 without F16C, the default build target).
    public static let float16Table: [Float] = (0...UInt16.max).map { float(fromFloat16: $0) }

    @inline(__always)
    public static func float16(_ value: Float) -> UInt16 { Float16(value).bitPattern }

    /// Exact: bfloat16 is the top half of a Float32.
    @inline(__always)
    public static func float(fromBFloat16 bits: UInt16) -> Float { Float(bitPattern: UInt32(bits) << 16) }

    /// Rounds to the nearest bfloat16, ties to even (add 0x7FFF plus the lowest kept bit, then truncate);
    /// values that round past the largest finite bfloat16 become infinity, as in PyTorch. NaN stays NaN
    /// (quieted), since rounding a NaN's payload could carry into the exponent and make it infinity.
    @inline(__always)
    public static func bfloat16(_ value: Float) -> UInt16 {
        let bits = value.bitPattern
        if value.isNaN { return UInt16(truncatingIfNeeded: bits >> 16) | 0x0040 }
        return UInt16(truncatingIfNeeded: (bits &+ 0x7FFF &+ ((bits >> 16) & 1)) >> 16)
    }
}

// MARK: Buffers

extension HalfPrecision {
    /// `count` values rounded to bfloat16 as `bfloat16(_:)` rounds them, eight at a time.
    public static func bfloat16(_ values: UnsafePointer<Float>, into bits: UnsafeMutablePointer<UInt16>, count: Int) {
        var i = 0
        while i + 8 <= count {
            let x = UnsafeRawPointer(values + i).loadUnaligned(as: SIMD8<UInt32>.self)
            UnsafeMutableRawPointer(bits + i).storeBytes(of: bfloat16(x), as: SIMD8<UInt16>.self)
            i += 8
        }
        while i < count {
            bits[i] = bfloat16(values[i])
            i += 1
        }
    }

    /// `count` bfloat16 values widened (exactly).
    public static func float(fromBFloat16 bits: UnsafePointer<UInt16>, into values: UnsafeMutablePointer<Float>, count: Int) {
        var i = 0
        while i + 8 <= count {
            let x = UnsafeRawPointer(bits + i).loadUnaligned(as: SIMD8<UInt16>.self)
            UnsafeMutableRawPointer(values + i).storeBytes(of: SIMD8<UInt32>(truncatingIfNeeded: x) &<< 16, as: SIMD8<UInt32>.self)
            i += 8
        }
        while i < count {
            values[i] = float(fromBFloat16: bits[i])
            i += 1
        }
    }

    /// Sums `rows` rows of `count` bfloat16 values (row r at `bits + r * stride`) in Float32, row 0 first,
    /// and rounds each sum to bfloat16: `sums[j] = bf16(((row0[j] + row1[j]) + row2[j]) + ...)`.
    public static func sumBFloat16(_ bits: UnsafePointer<UInt16>, rows: Int, stride: Int, count: Int,
                                   into sums: UnsafeMutablePointer<UInt16>) {
        var i = 0
        while i + 8 <= count {
            var total = SIMD8<Float>(repeating: 0)
            for r in 0..<rows {
                let x = UnsafeRawPointer(bits + r * stride + i).loadUnaligned(as: SIMD8<UInt16>.self)
                let widened = unsafeBitCast(SIMD8<UInt32>(truncatingIfNeeded: x) &<< 16, to: SIMD8<Float>.self)
                total = r == 0 ? widened : total + widened
            }
            UnsafeMutableRawPointer(sums + i).storeBytes(of: bfloat16(unsafeBitCast(total, to: SIMD8<UInt32>.self)),
                                                         as: SIMD8<UInt16>.self)
            i += 8
        }
        while i < count {
            var total = float(fromBFloat16: bits[i])
            for r in 1..<max(rows, 1) { total += float(fromBFloat16: bits[r * stride + i]) }
            sums[i] = bfloat16(total)
            i += 1
        }
    }

    /// Eight Float32 bit patterns rounded as `bfloat16(_:)`: to nearest, ties to even; NaN stays NaN.
    @inline(__always)
    static func bfloat16(_ bits: SIMD8<UInt32>) -> SIMD8<UInt16> {
        let rounded = (bits &+ 0x7FFF &+ ((bits &>> 16) & 1)) &>> 16
        let nan = (bits & 0x7FFF_FFFF) .> 0x7F80_0000
        return SIMD8<UInt16>(truncatingIfNeeded: rounded.replacing(with: (bits &>> 16) | 0x0040, where: nan))
    }
}
