import CHDF5
import Foundation

/// An N-d dataset. Reads and writes check the element type and the sizes against the dataset's own.
public final class HDF5Dataset: HDF5Object {
    /// The dimensions; empty for a scalar dataset.
    public let shape: [Int]
    /// The stored element type, or nil for types ToolTune does not handle (see `typeName`).
    public let elementType: HDF5ElementType?
    public let typeName: String

    /// Values in one row: the product of all dimensions but the first.
    public let rowSize: Int
    public let count: Int

    init(file: HDF5File, path: String, datasetID id: hid_t) throws {
        let described: (type: HDF5ElementType?, typeName: String, shape: [Int])
        do {
            described = try HDF5Dataset.describe(id, file: file, object: path)
        } catch {
            H5Oclose(id)
            throw error
        }
        shape = described.shape
        elementType = described.type
        typeName = described.typeName
        // describe() checked that the product fits.
        count = shape.reduce(1, *)
        rowSize = shape.dropFirst().reduce(1, *)
        super.init(file: file, path: path, id: id)
    }

    static func describe(_ id: hid_t, file: HDF5File, object: String)
        throws -> (type: HDF5ElementType?, typeName: String, shape: [Int])
    {
        let space = try file.checkOpen(H5Dget_space(id), object, "get dataspace")
        defer { H5Sclose(space) }
        let rank = Int(H5Sget_simple_extent_ndims(space))
        guard rank >= 0 else { throw file.error(object, "get dimensions failed") }
        var dims = [hsize_t](repeating: 0, count: max(rank, 1))
        if rank > 0 { H5Sget_simple_extent_dims(space, &dims, nil) }
        // Sizes come from the file: they must fit, alone and multiplied, before anything is sized by them.
        var shape: [Int] = []
        var product = 1
        for dim in dims.prefix(rank) {
            guard let size = Int(exactly: dim), case (let p, false) = product.multipliedReportingOverflow(by: size) else {
                throw HDF5Error(file: file.path, object: object, message: "shape \(dims.prefix(rank).map { $0 }) is too large")
            }
            shape.append(size)
            product = p
        }
        let type = try file.checkOpen(H5Dget_type(id), object, "get type")
        defer { H5Tclose(type) }
        let size = H5Tget_size(type)
        let element: HDF5ElementType?
        let name: String
        switch H5Tget_class(type) {
        case H5T_FLOAT:
            element = size == 4 ? .float32 : size == 8 ? .float64 : nil
            name = "float\(size * 8)"
        case H5T_INTEGER:
            let signed = H5Tget_sign(type) == H5T_SGN_2
            switch (size, signed) {
            case (1, true): element = .int8
            case (1, false): element = .uint8
            case (4, true): element = .int32
            case (8, true): element = .int64
            default: element = nil
            }
            name = (signed ? "int" : "uint") + "\(size * 8)"
        case H5T_STRING:
            element = .string
            name = "string"
        default:
            element = nil
            name = "other"
        }
        return (element, name, shape)
    }

    private func checkType<T: HDF5Scalar>(_ type: T.Type) throws {
        guard elementType == T.elementType else {
            throw HDF5Error(file: file.path, object: path,
                            message: "stored as \(typeName), read as \(T.elementType)")
        }
    }

    /// Checks that `values` elements of `T` are what the file can hold before memory is sized by them: a
    /// damaged file may declare any shape. The file stores every value we write, compressed at most
    /// ~1,032:1 (deflate's limit), so a dataset declaring far more than its storage is damaged.
    private func checkStored<T: HDF5Scalar>(_ values: Int, _ type: T.Type) throws {
        let bytes = Double(values) * Double(MemoryLayout<T>.stride)
        let stored = Double(H5Dget_storage_size(id))
        guard bytes <= stored * 1100 + 1_048_576 else {
            throw HDF5Error(file: file.path, object: path, message: "shape \(shape) declares \(values) values, "
                            + "but the file stores only \(Int(stored)) bytes for it: the file is damaged")
        }
    }

    /// Reads every value.
    public func read<T: HDF5Scalar>(as type: T.Type) throws -> [T] {
        try checkType(T.self)
        try checkStored(count, T.self)
        var values = [T](repeating: T.zero, count: count)
        if values.isEmpty { return values }
        try values.withUnsafeMutableBufferPointer { buffer in
            try file.check(H5Dread(id, T.nativeType, tt_h5s_all(), tt_h5s_all(), tt_h5p_default(), buffer.baseAddress),
                           path, "read")
        }
        return values
    }

    /// Reads every value into `buffer`, which must hold exactly `count` values.
    public func read<T: HDF5Scalar>(into buffer: UnsafeMutableBufferPointer<T>) throws {
        try checkType(T.self)
        guard buffer.count == count else {
            throw HDF5Error(file: file.path, object: path,
                            message: "shape \(shape) holds \(count) values, buffer holds \(buffer.count)")
        }
        if count == 0 { return }
        try file.check(H5Dread(id, T.nativeType, tt_h5s_all(), tt_h5s_all(), tt_h5p_default(), buffer.baseAddress),
                       path, "read")
    }

    /// Reads rows `rows` (a range of the first dimension): a hyperslab, without reading the rest.
    public func readRows<T: HDF5Scalar>(_ rows: Range<Int>, as type: T.Type) throws -> [T] {
        guard let first = shape.first, rows.lowerBound >= 0, rows.upperBound <= first else {
            throw HDF5Error(file: file.path, object: path, message: "rows \(rows) outside 0..<\(shape.first ?? 0)")
        }
        try checkStored(rows.count * rowSize, T.self)
        var values = [T](repeating: T.zero, count: rows.count * rowSize)
        try values.withUnsafeMutableBufferPointer { try readRows(rows, into: $0) }
        return values
    }

    public func readRows<T: HDF5Scalar>(_ rows: Range<Int>, into buffer: UnsafeMutableBufferPointer<T>) throws {
        try checkType(T.self)
        try withRowSelection(rows, buffer.count) { memSpace, fileSpace in
            try file.check(H5Dread(id, T.nativeType, memSpace, fileSpace, tt_h5p_default(), buffer.baseAddress),
                           path, "read rows \(rows)")
        }
    }

    /// Writes every value; `values` must hold exactly `count` values.
    public func write<T: HDF5Scalar>(_ values: UnsafeBufferPointer<T>) throws {
        try checkType(T.self)
        guard values.count == count else {
            throw HDF5Error(file: file.path, object: path,
                            message: "shape \(shape) holds \(count) values, given \(values.count)")
        }
        if count == 0 { return }
        try file.check(H5Dwrite(id, T.nativeType, tt_h5s_all(), tt_h5s_all(), tt_h5p_default(), values.baseAddress),
                       path, "write")
    }

    public func write<T: HDF5Scalar>(_ values: [T]) throws {
        try values.withUnsafeBufferPointer { try write($0) }
    }

    /// Writes rows `rows` of the first dimension from `values`.
    public func writeRows<T: HDF5Scalar>(_ rows: Range<Int>, _ values: UnsafeBufferPointer<T>) throws {
        try checkType(T.self)
        try withRowSelection(rows, values.count) { memSpace, fileSpace in
            try file.check(H5Dwrite(id, T.nativeType, memSpace, fileSpace, tt_h5p_default(), values.baseAddress),
                           path, "write rows \(rows)")
        }
    }

    public func writeRows<T: HDF5Scalar>(_ rows: Range<Int>, _ values: [T]) throws {
        try values.withUnsafeBufferPointer { try writeRows(rows, $0) }
    }

    private func withRowSelection(_ rows: Range<Int>, _ bufferCount: Int,
                                  _ body: (_ memSpace: hid_t, _ fileSpace: hid_t) throws -> Void) throws {
        guard let first = shape.first else {
            throw HDF5Error(file: file.path, object: path, message: "a scalar dataset has no rows")
        }
        guard rows.lowerBound >= 0, rows.upperBound <= first else {
            throw HDF5Error(file: file.path, object: path, message: "rows \(rows) outside 0..<\(first)")
        }
        guard bufferCount == rows.count * rowSize else {
            throw HDF5Error(file: file.path, object: path,
                            message: "rows \(rows) hold \(rows.count * rowSize) values, buffer holds \(bufferCount)")
        }
        if rows.isEmpty { return }
        let fileSpace = try file.checkOpen(H5Dget_space(id), path, "get dataspace")
        defer { H5Sclose(fileSpace) }
        var start = [hsize_t](repeating: 0, count: shape.count)
        start[0] = hsize_t(rows.lowerBound)
        var counts = shape.map { hsize_t($0) }
        counts[0] = hsize_t(rows.count)
        try file.check(H5Sselect_hyperslab(fileSpace, H5S_SELECT_SET, &start, nil, &counts, nil), path, "select rows")
        let memSpace = try file.checkOpen(H5Screate_simple(Int32(counts.count), &counts, nil), path, "make dataspace")
        defer { H5Sclose(memSpace) }
        try body(memSpace, fileSpace)
    }
}
