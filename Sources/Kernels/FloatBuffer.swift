import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Float storage owned by one object: 64-byte aligned (whole cache lines for SIMD and BLAS), zero-filled,
/// freed with the object. Parameters, gradients, optimizer moments and activations live in these.
///
/// Buffers of 2 MB and more are fresh anonymous mappings, 2 MB aligned and marked for transparent huge
/// pages (PyTorch's CPU allocator does this with THP_MEM_ALLOC_ENABLE=1): the kernel zero-fills their pages
/// when first touched, so creating one costs nothing up front, and touching it takes one page fault per
/// 2 MB instead of per 4 KB. A model's parameter buffer filled from a checkpoint is thus written once, not
/// zeroed first (for opt-350m that halves `tooltune import-hf`'s read time).
///
/// Not thread-safe as an object; kernels hand `pointer` to parallel loops that write disjoint parts.
public final class FloatBuffer {
    public let count: Int
    public let pointer: UnsafeMutablePointer<Float>
    /// The mapping (start and length) of a large buffer; nil for one from the heap.
    private let mapping: (start: UnsafeMutableRawPointer, length: Int)?

    static let hugePage = 2 << 20

    /// Sizes the caller computed itself (activations of a checked configuration); allocation failure traps.
    public convenience init(count: Int) {
        do {
            try self.init(allocating: count)
        } catch {
            preconditionFailure("FloatBuffer: \(error)")
        }
    }

    /// Sizes that come from a file (a model's parameters): more than the machine's memory, or a mapping
    /// the kernel refuses, is an error instead of a trap.
    public init(allocating count: Int) throws(AllocationError) {
        let (bytes, overflow) = max(1, count).multipliedReportingOverflow(by: MemoryLayout<Float>.stride)
        guard count >= 0, !overflow, bytes <= FloatBuffer.memoryLimit else {
            throw AllocationError(count: count, reason: count < 0 ? "a negative count"
                                  : "more than this machine's \(AllocationError.gigabytes(Double(FloatBuffer.memoryLimit))) of memory")
        }
        self.count = count
        guard bytes >= FloatBuffer.hugePage else {
            mapping = nil
            pointer = UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: 64).bindMemory(to: Float.self, capacity: max(1, count))
            zero()
            return
        }
        // One huge page more than needed, so that a 2 MB-aligned start fits inside.
        let length = bytes + FloatBuffer.hugePage
        guard let start = mmap(nil, length, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0), start != MAP_FAILED else {
            throw AllocationError(count: count, reason: String(cString: strerror(errno)))
        }
        let aligned = start + (FloatBuffer.hugePage - Int(bitPattern: start) % FloatBuffer.hugePage) % FloatBuffer.hugePage
        #if os(Linux)
        madvise(aligned, bytes, MADV_HUGEPAGE)
        #endif
        mapping = (start, length)
        pointer = aligned.bindMemory(to: Float.self, capacity: count)
    }

    /// The physical memory: no buffer can be larger.
    public static let memoryLimit = Int(clamping: ProcessInfo.processInfo.physicalMemory)

    public struct AllocationError: Error, CustomStringConvertible {
        public let count: Int
        public let reason: String
        public var description: String {
            "cannot allocate \(count) floats (\(AllocationError.gigabytes(4 * Double(count)))): \(reason)"
        }

        static func gigabytes(_ bytes: Double) -> String { String(format: "%.1f GB", bytes / 1e9) }
    }

    /// A copy of `values`.
    public convenience init(_ values: [Float]) {
        self.init(count: values.count)
        values.withUnsafeBufferPointer { pointer.update(from: $0.baseAddress!, count: values.count) }
    }

    deinit {
        if let mapping { munmap(mapping.start, mapping.length) } else { pointer.deallocate() }
    }

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
