/// A float32 tensor stored as one dataset of a group: its dataset name and shape.
public struct TensorDescriptor: Sendable, Equatable {
    public var name: String
    public var shape: [Int]

    public init(name: String, shape: [Int]) {
        self.name = name
        self.shape = shape
    }

    public var count: Int { shape.reduce(1, *) }
}

extension HDF5Group {
    /// Writes each tensor as a float32 dataset of this group, named by `name` (which may contain dots but
    /// no slashes). `values` gives each tensor's `count` values. Tensors larger than 64 values are
    /// chunked and compressed with `deflate` when it is set.
    public func writeTensors(_ tensors: [TensorDescriptor], deflate: Int? = nil,
                             values: (TensorDescriptor) -> UnsafeBufferPointer<Float>) throws {
        for tensor in tensors {
            let data = values(tensor)
            guard data.count == tensor.count else {
                throw HDF5Error(file: file.path, object: childPath(tensor.name),
                                message: "shape \(tensor.shape) holds \(tensor.count) values, given \(data.count)")
            }
            let compress = deflate != nil && tensor.count > 64
            try write(tensor.name, data, shape: tensor.shape, chunkRows: compress ? tensor.shape.first : nil,
                      deflate: compress ? deflate : nil)
        }
    }

    /// Reads exactly the tensors `expected` from this group's float32 datasets into the buffers `into`
    /// gives. Strict: a missing tensor, a dataset that is not expected (or a subgroup), a wrong shape or a
    /// type other than float32 is an error, and the error lists every such problem by name. Nothing is
    /// read unless everything matches.
    public func readTensors(_ expected: [TensorDescriptor],
                            into buffer: (TensorDescriptor) -> UnsafeMutableBufferPointer<Float>) throws {
        let present = Dictionary(try children().map { ($0.name, $0.kind) }, uniquingKeysWith: { a, _ in a })
        var problems: [String] = []
        let expectedNames = Set(expected.map(\.name))
        for tensor in expected {
            switch present[tensor.name] {
            case nil:
                problems.append("\(childPath(tensor.name)): missing")
            case .dataset(let type, let typeName, let shape)?:
                if type != .float32 { problems.append("\(childPath(tensor.name)): stored as \(typeName), expected float32") }
                if shape != tensor.shape {
                    problems.append("\(childPath(tensor.name)): shape \(shape), expected \(tensor.shape)")
                }
            default:
                problems.append("\(childPath(tensor.name)): not a dataset")
            }
        }
        for name in present.keys.sorted() where !expectedNames.contains(name) {
            problems.append("\(childPath(name)): unexpected")
        }
        guard problems.isEmpty else {
            throw HDF5Error(file: file.path, object: path, message: problems.joined(separator: "; "))
        }
        for tensor in expected { try dataset(tensor.name).read(into: buffer(tensor)) }
    }
}
