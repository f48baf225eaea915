/// One tensor of a checkpoint file: element type, shape, and where its elements lie in the mapped file
/// (the byte range of its storage, an element offset into that storage and an element stride per
/// dimension, as PyTorch describes views). Creating one checks that every element it can address is
/// inside its storage and the storage inside the file, so reading can never run past the mapping.
public struct TensorView: @unchecked Sendable {
    /// The tensor's name in its file.
    public let name: String
    public let dtype: TensorDType
    public let shape: [Int]
    /// The mapped file (kept open while a view of it exists).
    public let file: MappedFile
    /// The storage's bytes in the file.
    let storage: Range<Int>
    /// Offset of element [0, 0, ...] in the storage, and the step per dimension, both in elements.
    let offset: Int
    let strides: [Int]

    public var path: String { file.path }
    /// Number of elements (the product of the shape).
    public let count: Int

    /// A view of the tensor whose elements are the bytes `storage`, in row-major order.
    init(name: String, dtype: TensorDType, shape: [Int], file: MappedFile, contiguous storage: Range<Int>) throws {
        try self.init(name: name, dtype: dtype, shape: shape, file: file, storage: storage, offset: 0,
                      strides: TensorView.rowMajorStrides(shape))
    }

    init(name: String, dtype: TensorDType, shape: [Int], file: MappedFile, storage: Range<Int>,
         offset: Int, strides: [Int]) throws {
        func fail(_ message: String) -> TensorFileError { TensorFileError(file: file.path, object: name, message) }
        _ = try file.bytes(storage, object: name)
        guard shape.count == strides.count else {
            throw fail("shape \(shape) and strides \(strides) have different lengths")
        }
        guard shape.allSatisfy({ $0 >= 0 }) else { throw fail("negative size in shape \(shape)") }
        guard strides.allSatisfy({ $0 >= 0 }), offset >= 0 else {
            throw fail("negative offset \(offset) or stride in \(strides)")
        }
        guard let count = TensorView.elementCount(shape) else { throw fail("shape \(shape) overflows") }
        let available = storage.count / dtype.size
        if count > 0 {
            // The last element the view addresses: offset + sum((size - 1) * stride), overflow-checked.
            var last = offset
            for (size, stride) in zip(shape, strides) {
                let (step, o1) = (size - 1).multipliedReportingOverflow(by: stride)
                let (sum, o2) = last.addingReportingOverflow(step)
                guard !o1, !o2 else { throw fail("offset \(offset) with strides \(strides) overflows") }
                last = sum
            }
            guard last < available else {
                throw fail("view (offset \(offset), shape \(shape), strides \(strides)) reaches element \(last) "
                            + "of a storage of \(available) \(dtype) elements")
            }
        }
        self.name = name
        self.dtype = dtype
        self.shape = shape
        self.file = file
        self.storage = storage
        self.offset = offset
        self.strides = strides
        self.count = count
    }

    static func elementCount(_ shape: [Int]) -> Int? {
        var total = 1
        for size in shape {
            let (product, overflow) = total.multipliedReportingOverflow(by: size)
            if overflow || size < 0 { return nil }
            total = product
        }
        return total
    }

    /// Wrapping arithmetic: the product can only overflow when another dimension is 0, and then no element
    /// is ever addressed.
    static func rowMajorStrides(_ shape: [Int]) -> [Int] {
        var strides = [Int](repeating: 1, count: shape.count)
        for d in shape.indices.dropLast().reversed() { strides[d] = strides[d + 1] &* max(shape[d + 1], 1) }
        return strides
    }

    /// Row-major and gap-free (dimensions of size 1 may have any stride).
    public var isContiguous: Bool {
        let expected = TensorView.rowMajorStrides(shape)
        return shape.indices.allSatisfy { shape[$0] == 1 || strides[$0] == expected[$0] }
    }

    /// Two views of the very same elements (e.g. a tied weight that torch.save stored once).
    func sameElements(as other: TensorView) -> Bool {
        file === other.file && storage == other.storage && dtype == other.dtype && shape == other.shape
            && offset == other.offset && strides == other.strides
    }

    /// Reads the elements in row-major order, widened to Float32, into `destination` (exactly `count` long).
    public func read(into destination: UnsafeMutableBufferPointer<Float>) throws {
        guard destination.count == count else {
            throw TensorFileError(file: path, object: name, "has \(count) elements, the destination \(destination.count)")
        }
        guard count > 0, let out = destination.baseAddress else { return }
        guard let base = try file.bytes(storage, object: name).baseAddress else { return }
        let start = base + offset * dtype.size
        if isContiguous {
            dtype.widen(start, stride: 1, count: count, into: out)
            return
        }
        // Row by row along the last dimension; the outer dimensions count like an odometer.
        let inner = shape[shape.count - 1], innerStride = strides[strides.count - 1]
        var index = [Int](repeating: 0, count: shape.count - 1)
        var written = 0
        while written < count {
            var element = 0
            for d in index.indices { element += index[d] * strides[d] }
            dtype.widen(start + element * dtype.size, stride: innerStride, count: inner, into: out + written)
            written += inner
            var d = index.count - 1
            while d >= 0 {
                index[d] += 1
                if index[d] < shape[d] { break }
                index[d] = 0
                d -= 1
            }
        }
    }

    /// The elements in row-major order as Float32.
    public func floats() throws -> [Float] {
        try [Float](unsafeUninitializedCapacity: count) { buffer, initialized in
            try read(into: buffer)
            initialized = count
        }
    }

    /// Drops the storage's pages from resident memory (see `MappedFile.release`); the view stays valid.
    public func releaseMemory() { file.release(storage) }
}
