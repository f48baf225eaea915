#if canImport(Glibc)
import Glibc
#endif

/// Float storage owned by one object: 64-byte aligned (whole cache lines for SIMD and BLAS), zero-filled,
/// freed with the object. Parameters, gradients, optimizer moments and activations live in these.
///
/// Not thread-safe as an object; kernels hand `pointer` to parallel loops that write disjoint parts.
public final class FloatBuffer {
    public let count: Int
    public let pointer: UnsafeMutablePointer<Float>

    public init(count: Int) {
        precondition(count >= 0, "FloatBuffer: negative count \(count)")
        self.count = count
        let raw = UnsafeMutableRawPointer.allocate(byteCount: max(1, count) * MemoryLayout<Float>.stride, alignment: 64)
        pointer = raw.bindMemory(to: Float.self, capacity: max(1, count))
        zero()
    }

    /// A copy of `values`.
    public convenience init(_ values: [Float]) {
        self.init(count: values.count)
        values.withUnsafeBufferPointer { pointer.update(from: $0.baseAddress!, count: values.count) }
    }

    deinit { pointer.deallocate() }

    public var buffer: UnsafeMutableBufferPointer<Float> { UnsafeMutableBufferPointer(start: pointer, count: count) }

    public subscript(index: Int) -> Float {
        get {
            precondition(index >= 0 && index < count, "FloatBuffer index \(index) outside 0..<\(count)")
            return pointer[index]
        }
        set {
            precondition(index >= 0 && index < count, "FloatBuffer index \(index) outside 0..<\(count)")
            pointer[index] = newValue
        }
    }

    /// The values as an array (for tests and small buffers).
    public var array: [Float] { Array(buffer) }

    /// Sets `range` (default: everything) to zero, in parallel for large ranges.
    public func zero(_ range: Range<Int>? = nil) {
        let range = range ?? 0..<count
        precondition(range.lowerBound >= 0 && range.upperBound <= count, "FloatBuffer.zero: \(range) outside 0..<\(count)")
        let base = pointer + range.lowerBound
        Parallel.forEach(range.count, minimumChunk: 1 << 20) { part in
            memset(base + part.lowerBound, 0, part.count * MemoryLayout<Float>.stride)
        }
    }

    /// Copies all of `other`, which must have the same count.
    public func copy(from other: FloatBuffer) {
        precondition(other.count == count, "FloatBuffer.copy: \(other.count) values into \(count)")
        let source = other.pointer, target = pointer
        Parallel.forEach(count, minimumChunk: 1 << 20) { part in
            (target + part.lowerBound).update(from: source + part.lowerBound, count: part.count)
        }
    }
}
