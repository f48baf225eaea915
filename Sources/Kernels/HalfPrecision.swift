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
    /// Branch-free, so loops over it vectorize.
    @inline(__always)
    public static func bfloat16(_ value: Float) -> UInt16 {
        let bits = value.bitPattern
        let rounded = (bits &+ 0x7FFF &+ ((bits &>> 16) & 1)) &>> 16
        let isNaN = bits & 0x7FFF_FFFF > 0x7F80_0000
        return UInt16(truncatingIfNeeded: isNaN ? (bits &>> 16) | 0x0040 : rounded)
    }
}

// MARK: Buffers

extension HalfPrecision {
    /// `count` values rounded to bfloat16 as `bfloat16(_:)` rounds them.
    public static func bfloat16(_ values: UnsafePointer<Float>, into bits: UnsafeMutablePointer<UInt16>, count: Int) {
        for i in 0..<count { bits[i] = bfloat16(values[i]) }
    }

    /// `count` bfloat16 values widened (exactly).
    public static func float(fromBFloat16 bits: UnsafePointer<UInt16>, into values: UnsafeMutablePointer<Float>, count: Int) {
        for i in 0..<count { values[i] = float(fromBFloat16: bits[i]) }
    }

    /// Sums `rows` rows of `count` bfloat16 values (row r at `bits + r * stride`) in Float32, row 0 first,
    /// and rounds each sum to bfloat16: `sums[j] = bf16(((row0[j] + row1[j]) + row2[j]) + ...)`. Works in
    /// blocks of a cache-resident accumulator, one row at a time, so every inner loop is a plain stream.
    public static func sumBFloat16(_ bits: UnsafePointer<UInt16>, rows: Int, stride: Int, count: Int,
                                   into sums: UnsafeMutablePointer<UInt16>) {
        let block = 2048
        withUnsafeTemporaryAllocation(of: Float.self, capacity: block) { total in
            var start = 0
            while start < count {
                let n = min(block, count - start)
                for j in 0..<n { total[j] = float(fromBFloat16: bits[start + j]) }
                for r in 1..<max(rows, 1) {
                    let row = bits + r * stride + start
                    for j in 0..<n { total[j] += float(fromBFloat16: row[j]) }
                }
                for j in 0..<n { sums[start + j] = bfloat16(total[j]) }
                start += n
            }
        }
    }
}
