import CHDF5
import Foundation

/// A group: a folder of groups and datasets.
public final class HDF5Group: HDF5Object {
    /// Opens (or, with `create`, makes) the group at `name`, which may be nested ("a/b/c").
    public func group(_ name: String) throws -> HDF5Group {
        let (gid, full) = try openChild(name, H5I_GROUP, "group")
        return HDF5Group(file: file, path: full, id: gid)
    }

    /// Opens the object at `name` (possibly nested), which must be a `kind` ("no such group", "not a group").
    private func openChild(_ name: String, _ type: H5I_type_t, _ kind: String) throws -> (id: hid_t, path: String) {
        let full = childPath(name)
        guard contains(name) else { throw HDF5Error(file: file.path, object: full, message: "no such \(kind)") }
        let oid = try file.checkOpen(H5Oopen(id, name, tt_h5p_default()), full, "open \(kind)")
        guard H5Iget_type(oid) == type else {
            H5Oclose(oid)
            throw HDF5Error(file: file.path, object: full, message: "not a \(kind)")
        }
        return (oid, full)
    }

    /// Creates a group, with any missing intermediate groups; returns the existing one if present.
    @discardableResult
    public func createGroup(_ name: String) throws -> HDF5Group {
        if contains(name) { return try group(name) }
        let full = childPath(name)
        let lcpl = try file.checkOpen(H5Pcreate(tt_h5p_link_create()), full, "make link property list")
        defer { H5Pclose(lcpl) }
        H5Pset_create_intermediate_group(lcpl, 1)
        let gid = try file.checkOpen(H5Gcreate2(id, name, lcpl, tt_h5p_default(), tt_h5p_default()), full, "create group")
        return HDF5Group(file: file, path: full, id: gid)
    }

    /// True if `name` (possibly nested) names an existing link below this group.
    public func contains(_ name: String) -> Bool {
        HDF5Library.prepareThread()
        var prefix = ""
        for part in name.split(separator: "/", omittingEmptySubsequences: true) {
            prefix += prefix.isEmpty ? String(part) : "/" + part
            if H5Lexists(id, prefix, tt_h5p_default()) <= 0 {
                H5Eclear2(tt_h5e_default())
                return false
            }
        }
        return !prefix.isEmpty
    }

    /// The direct children, in name order, with each dataset's type and shape.
    public func children() throws -> [HDF5Child] {
        var info = H5G_info_t()
        try file.check(H5Gget_info(id, &info), path, "get group info")
        var result: [HDF5Child] = []
        for index in 0..<info.nlinks {
            let length = H5Lget_name_by_idx(id, ".", H5_INDEX_NAME, H5_ITER_INC, index, nil, 0, tt_h5p_default())
            guard length >= 0 else { throw file.error(path, "list children failed") }
            var buffer = [CChar](repeating: 0, count: Int(length) + 1)
            _ = H5Lget_name_by_idx(id, ".", H5_INDEX_NAME, H5_ITER_INC, index, &buffer, buffer.count, tt_h5p_default())
            let name = String(decoding: buffer.prefix(Int(length)).map { UInt8(bitPattern: $0) }, as: UTF8.self)
            let oid = H5Oopen(id, name, tt_h5p_default())
            guard oid >= 0 else {
                H5Eclear2(tt_h5e_default())
                result.append(HDF5Child(name: name, kind: .other))
                continue
            }
            defer { H5Oclose(oid) }
            switch H5Iget_type(oid) {
            case H5I_GROUP:
                result.append(HDF5Child(name: name, kind: .group))
            case H5I_DATASET:
                let described = try HDF5Dataset.describe(oid, file: file, object: childPath(name))
                result.append(HDF5Child(name: name, kind: .dataset(type: described.type, typeName: described.typeName,
                                                                   shape: described.shape)))
            default:
                result.append(HDF5Child(name: name, kind: .other))
            }
        }
        return result
    }

    // MARK: Datasets

    /// Opens the dataset at `name` (possibly nested).
    public func dataset(_ name: String) throws -> HDF5Dataset {
        let (did, full) = try openChild(name, H5I_DATASET, "dataset")
        return try HDF5Dataset(file: file, path: full, datasetID: did)
    }

    /// Creates an N-d dataset of `T` with the given shape (empty shape: a scalar). `chunkRows` stores it
    /// in chunks of that many rows (needed for compression; speeds up row-range reads of big tables);
    /// `deflate` (0-9) compresses it. Missing intermediate groups are created.
    @discardableResult
    public func createDataset<T: HDF5Scalar>(
        _ name: String, of type: T.Type, shape: [Int], chunkRows: Int? = nil, deflate: Int? = nil
    ) throws -> HDF5Dataset {
        let full = childPath(name)
        guard shape.allSatisfy({ $0 >= 0 }) else {
            throw HDF5Error(file: file.path, object: full, message: "negative dimension in shape \(shape)")
        }
        var dims = shape.map { hsize_t($0) }
        let space = try file.checkOpen(shape.isEmpty ? H5Screate(H5S_SCALAR) : H5Screate_simple(Int32(shape.count), &dims, nil),
                                       full, "make dataspace")
        defer { H5Sclose(space) }
        let lcpl = try file.checkOpen(H5Pcreate(tt_h5p_link_create()), full, "make link property list")
        defer { H5Pclose(lcpl) }
        H5Pset_create_intermediate_group(lcpl, 1)
        let dcpl = try file.checkOpen(H5Pcreate(tt_h5p_dataset_create()), full, "make dataset property list")
        defer { H5Pclose(dcpl) }
        // No creation/modification times in the object header: the same content gives the same file bytes.
        try file.check(H5Pset_obj_track_times(dcpl, false), full, "turn off time tracking")
        if !shape.isEmpty, chunkRows != nil || deflate != nil, shape.allSatisfy({ $0 > 0 }) {
            var chunk = dims
            chunk[0] = hsize_t(max(1, min(shape[0], chunkRows ?? shape[0])))
            try file.check(H5Pset_chunk(dcpl, Int32(chunk.count), &chunk), full, "set chunking")
            if let deflate {
                H5Pset_shuffle(dcpl)
                try file.check(H5Pset_deflate(dcpl, UInt32(min(9, max(0, deflate)))), full, "set compression")
            }
        }
        let did = try file.checkOpen(H5Dcreate2(id, name, T.nativeType, space, lcpl, dcpl, tt_h5p_default()),
                                     full, "create dataset")
        return try HDF5Dataset(file: file, path: full, datasetID: did)
    }

    /// Writes `values` as a new dataset of the given shape (default: 1-d).
    @discardableResult
    public func write<T: HDF5Scalar>(
        _ name: String, _ values: UnsafeBufferPointer<T>, shape: [Int]? = nil, chunkRows: Int? = nil, deflate: Int? = nil
    ) throws -> HDF5Dataset {
        let shape = shape ?? [values.count]
        guard shape.reduce(1, *) == values.count else {
            throw HDF5Error(file: file.path, object: childPath(name),
                            message: "shape \(shape) holds \(shape.reduce(1, *)) values, given \(values.count)")
        }
        let dataset = try createDataset(name, of: T.self, shape: shape, chunkRows: chunkRows, deflate: deflate)
        try dataset.write(values)
        return dataset
    }

    @discardableResult
    public func write<T: HDF5Scalar>(
        _ name: String, _ values: [T], shape: [Int]? = nil, chunkRows: Int? = nil, deflate: Int? = nil
    ) throws -> HDF5Dataset {
        try values.withUnsafeBufferPointer { try write(name, $0, shape: shape, chunkRows: chunkRows, deflate: deflate) }
    }

    /// Reads a whole dataset of element type `T`.
    public func read<T: HDF5Scalar>(_ name: String, as type: T.Type) throws -> HDF5Array<T> {
        let dataset = try dataset(name)
        return HDF5Array(shape: dataset.shape, values: try dataset.read(as: T.self))
    }
}

/// A dataset's values with their shape (row-major).
public struct HDF5Array<T: HDF5Scalar> {
    public var shape: [Int]
    public var values: [T]

    public init(shape: [Int], values: [T]) {
        self.shape = shape
        self.values = values
    }
}
