import Kernels

/// The element types ToolTune reads from and writes to Hugging Face checkpoints, with safetensors' names.
/// Every one is read as Float32 (float16 and bfloat16 widen exactly) and written from Float32 by rounding
/// to nearest, ties to even.
public enum TensorDType: String, Sendable, CaseIterable, CustomStringConvertible {
    case float32 = "F32"
    case float16 = "F16"
    case bfloat16 = "BF16"

    /// Bytes per element.
    public var size: Int { self == .float32 ? 4 : 2 }

    public var description: String { rawValue }

    /// The option spelling users type: fp32, fp16, bf16.
    public init?(option: String) {
        switch option {
        case "fp32": self = .float32
        case "fp16": self = .float16
        case "bf16": self = .bfloat16
        default: return nil
        }
    }

    /// Converts `count` elements of this type, `stride` elements apart from `source` (any alignment), to
    /// Float32 at `destination`.
    func widen(_ source: UnsafeRawPointer, stride: Int, count: Int, into destination: UnsafeMutablePointer<Float>) {
        let step = stride * size
        switch self {
        case .float32:
            if stride == 1 {
                UnsafeMutableRawPointer(destination).copyMemory(from: source, byteCount: count * 4)
            } else {
                for i in 0..<count {
                    destination[i] = Float(bitPattern: UInt32(littleEndian: source.loadUnaligned(fromByteOffset: i * step, as: UInt32.self)))
                }
            }
        case .float16:
            HalfPrecision.float16Table.withUnsafeBufferPointer { table in
                for i in 0..<count {
                    destination[i] = table[Int(UInt16(littleEndian: source.loadUnaligned(fromByteOffset: i * step, as: UInt16.self)))]
                }
            }
        case .bfloat16:
            for i in 0..<count {
                destination[i] = BFloat16(bitPattern: UInt16(littleEndian: source.loadUnaligned(fromByteOffset: i * step, as: UInt16.self))).float
            }
        }
    }

    /// Converts `count` Float32 values to this type's little-endian bytes at `destination`.
    func narrow(_ source: UnsafePointer<Float>, count: Int, into destination: UnsafeMutableRawPointer) {
        switch self {
        case .float32:
            for i in 0..<count { destination.storeBytes(of: source[i].bitPattern.littleEndian, toByteOffset: 4 * i, as: UInt32.self) }
        case .float16:
            for i in 0..<count { destination.storeBytes(of: HalfPrecision.float16(source[i]).littleEndian, toByteOffset: 2 * i, as: UInt16.self) }
        case .bfloat16:
            for i in 0..<count { destination.storeBytes(of: BFloat16(source[i]).bitPattern.littleEndian, toByteOffset: 2 * i, as: UInt16.self) }
        }
    }
}

/// IEEE binary16 bit patterns to and from Float32. Swift's Float16 does binary16 (its conversions are
/// IEEE's: exact widening, round-to-nearest-even narrowing); bfloat16 is Kernels' `BFloat16`.
public enum HalfPrecision {
    @inline(__always)
    public static func float(fromFloat16 bits: UInt16) -> Float { Float(Float16(bitPattern: bits)) }

    /// Every binary16 value widened (256 KB): a lookup is several times faster than Float16's conversion
    /// where the CPU has no half-precision instructions (x86-64 without F16C, the default build target).
    static let float16Table: [Float] = (0...UInt16.max).map { float(fromFloat16: $0) }

    @inline(__always)
    public static func float16(_ value: Float) -> UInt16 { Float16(value).bitPattern }
}
