import CHDF5
import Foundation
import Synchronization

/// An HDF5 failure, naming the file, the object inside it and what HDF5 itself said.
public struct HDF5Error: Error, CustomStringConvertible {
    public let file: String
    public let object: String
    public let message: String

    public var description: String { "\(file): \(object): \(message)" }
}

/// The element types ToolTune stores. Each maps to one HDF5 native type.
public enum HDF5ElementType: String, Sendable, CustomStringConvertible {
    case float32, float64, int8, uint8, int32, int64, string

    public var description: String { rawValue }
}

/// Swift scalar types that can be written to and read from HDF5 datasets and attributes.
public protocol HDF5Scalar: Sendable {
    static var elementType: HDF5ElementType { get }
    static var nativeType: hid_t { get }
    static var zero: Self { get }
}

extension Float: HDF5Scalar {
    public static var elementType: HDF5ElementType { .float32 }
    public static var nativeType: hid_t { tt_h5t_native_float() }
    public static var zero: Float { 0 }
}
extension Double: HDF5Scalar {
    public static var elementType: HDF5ElementType { .float64 }
    public static var nativeType: hid_t { tt_h5t_native_double() }
    public static var zero: Double { 0 }
}
extension Int8: HDF5Scalar {
    public static var elementType: HDF5ElementType { .int8 }
    public static var nativeType: hid_t { tt_h5t_native_int8() }
    public static var zero: Int8 { 0 }
}
extension UInt8: HDF5Scalar {
    public static var elementType: HDF5ElementType { .uint8 }
    public static var nativeType: hid_t { tt_h5t_native_uint8() }
    public static var zero: UInt8 { 0 }
}
extension Int32: HDF5Scalar {
    public static var elementType: HDF5ElementType { .int32 }
    public static var nativeType: hid_t { tt_h5t_native_int32() }
    public static var zero: Int32 { 0 }
}
extension Int64: HDF5Scalar {
    public static var elementType: HDF5ElementType { .int64 }
    public static var nativeType: hid_t { tt_h5t_native_int64() }
    public static var zero: Int64 { 0 }
}

/// Library set-up and the error stack. ToolTune never shares one HDF5 object between threads.
enum HDF5Library {
    /// No clean-up at exit: after a write failed (a full disk), HDF5 keeps the object it could not flush
    /// while its file is gone, and its exit handler then crashes closing it. ToolTune closes every file it
    /// writes itself (`HDF5File.close()`), and the system reclaims the rest at exit.
    private static let opened: Bool = {
        H5dont_atexit()
        return H5open() >= 0
    }()
    private static let silencedKey = "tooltune.hdf5.silenced"

    /// Opens the library and turns off HDF5's printing of error stacks on the calling thread (a
    /// thread-safe HDF5 keeps that setting per thread); errors become `HDF5Error`s instead.
    static func prepareThread() {
        _ = opened
        let threadState = Thread.current.threadDictionary
        if threadState[silencedKey] == nil {
            H5Eset_auto2(tt_h5e_default(), nil, nil)
            threadState[silencedKey] = true
        }
    }

    /// The most specific messages on the current error stack, innermost last, then clears it.
    static func takeErrorStack() -> String {
        final class Collector { var lines: [String] = [] }
        let collector = Collector()
        let walker: H5E_walk2_t = { _, desc, data in
            guard let desc, let data else { return 0 }
            let c = Unmanaged<Collector>.fromOpaque(data).takeUnretainedValue()
            if let text = desc.pointee.desc.map({ String(cString: $0) }), !text.isEmpty { c.lines.append(text) }
            return 0
        }
        withExtendedLifetime(collector) {
            _ = H5Ewalk2(tt_h5e_default(), H5E_WALK_DOWNWARD, walker, Unmanaged.passUnretained(collector).toOpaque())
        }
        H5Eclear2(tt_h5e_default())
        // A failed system call is the cause whatever else failed around it (a failed flush leaves a
        // stack of several chains).
        if let system = collector.lines.lazy.compactMap(systemError).first { return system }
        // Outermost first: the API call, then the causes; the last one is the root cause.
        var seen = Set<String>()
        let unique = collector.lines.filter { seen.insert($0).inserted }
        return unique.isEmpty ? "unknown HDF5 error" : unique.suffix(2).joined(separator: ": ")
    }

    /// The system's words in a file driver's message ("file write failed: time = ..., filename = ...,
    /// errno = 28, error message = 'No space left on device', buf = ..."), if it is one.
    static func systemError(_ line: String) -> String? {
        guard let start = line.range(of: "error message = '"),
              let end = line[start.upperBound...].firstIndex(of: "'") else { return nil }
        let verb = line.contains("write failed") ? "write" : line.contains("read failed") ? "read" : "I/O"
        return "\(verb) failed: \(line[start.upperBound..<end])"
    }

    static var version: String {
        prepareThread()
        var major: UInt32 = 0, minor: UInt32 = 0, release: UInt32 = 0
        H5get_libversion(&major, &minor, &release)
        return "\(major).\(minor).\(release)"
    }
}

/// The HDF5 library version, e.g. "1.10.8".
public var hdf5Version: String { HDF5Library.version }

/// An open HDF5 file. Closed when the last reference goes away, or explicitly with `close()`.
public final class HDF5File {
    public enum Mode: Sendable {
        case readOnly
        case readWrite
        /// Creates the file, replacing any file of that name.
        case create
        /// Creates the file; fails if it exists.
        case createExclusive
    }

    public let path: String
    public let mode: Mode
    private(set) var id: hid_t

    public init(_ path: String, mode: Mode = .readOnly) throws {
        HDF5Library.prepareThread()
        self.path = path
        self.mode = mode
        let id: hid_t
        switch mode {
        case .readOnly, .readWrite:
            guard FileManager.default.fileExists(atPath: path) else {
                throw HDF5Error(file: path, object: "/", message: "no such file")
            }
            id = H5Fopen(path, mode == .readOnly ? tt_h5f_acc_rdonly() : tt_h5f_acc_rdwr(), tt_h5p_default())
        case .create, .createExclusive:
            id = H5Fcreate(path, mode == .create ? tt_h5f_acc_trunc() : tt_h5f_acc_excl(),
                           tt_h5p_default(), tt_h5p_default())
        }
        guard id >= 0 else {
            let what = mode == .readOnly || mode == .readWrite ? "cannot open as HDF5" : "cannot create"
            throw HDF5Error(file: path, object: "/", message: "\(what) (\(HDF5Library.takeErrorStack()))")
        }
        self.id = id
    }

    deinit {
        if id >= 0 { H5Fclose(id) }
    }

    /// The root group "/".
    public var root: HDF5Group {
        get throws { try HDF5Group(file: self, path: "/", id: checkOpen(H5Gopen2(id, "/", tt_h5p_default()), "/", "open group")) }
    }

    /// Whether `close()` has run; the objects of a closed file are closed too.
    public var isOpen: Bool { id >= 0 }

    /// Closes every group, dataset and attribute still open in this file, then the file itself, and
    /// checks each: HDF5 caches what it writes, so a write (on a full disk, say) can first fail here.
    /// The file and its objects are closed even when one of them fails (the first failure is thrown).
    public func close() throws {
        guard id >= 0 else { return }
        var failure: HDF5Error?
        let types = UInt32(H5F_OBJ_DATASET | H5F_OBJ_GROUP | H5F_OBJ_DATATYPE | H5F_OBJ_ATTR | H5F_OBJ_LOCAL)
        let count = H5Fget_obj_count(id, types)
        if count > 0 {
            var ids = [hid_t](repeating: 0, count: count)
            let listed = H5Fget_obj_ids(id, types, count, &ids)
            for object in ids.prefix(max(0, listed)) {
                let name = objectName(object)
                let rc = H5Iget_type(object) == H5I_ATTR ? H5Aclose(object) : H5Oclose(object)
                if rc < 0, failure == nil { failure = error(name, "close failed") }
            }
        }
        let rc = H5Fclose(id)
        id = -1
        if rc < 0, failure == nil { failure = error("/", "close failed") }
        if let failure { throw failure }
    }

    /// Closes the file after a failure, which is what callers report; later failures are dropped.
    public func abandon() {
        _ = try? close()
        H5Eclear2(tt_h5e_default())
    }

    private func objectName(_ object: hid_t) -> String {
        let length = H5Iget_name(object, nil, 0)
        guard length > 0 else { return "?" }
        var buffer = [CChar](repeating: 0, count: length + 1)
        _ = H5Iget_name(object, &buffer, buffer.count)
        return String(decoding: buffer.prefix(length).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// Writes a new HDF5 file at `path` atomically: `body` fills it under a temporary name in the same
    /// folder; every object and the file are closed and checked, the file fsynced and renamed to `path`.
    /// If anything fails, every handle is closed, the temporary file removed and `path` left untouched
    /// (nothing unreadable is ever published, and nothing is left open for HDF5 to trip over later).
    public static func writeAtomically(to path: String, _ body: (HDF5File) throws -> Void) throws {
        try stage(to: path, body).publish()
    }

    /// `writeAtomically` without the rename: the complete file under its temporary name, for files that
    /// appear together (`Storage.publish(_:)`).
    public static func stage(to path: String, _ body: (HDF5File) throws -> Void) throws -> StagedFile {
        try AtomicFile.stage(to: path) { temporary in
            let file = try HDF5File(temporary, mode: .createExclusive)
            do {
                try body(file)
                try file.close()
            } catch {
                file.abandon()
                throw error
            }
        }
    }

    func error(_ object: String, _ what: String) -> HDF5Error {
        HDF5Error(file: path, object: object, message: "\(what) (\(HDF5Library.takeErrorStack()))")
    }

    func checkOpen(_ handle: hid_t, _ object: String, _ what: String) throws -> hid_t {
        guard handle >= 0 else { throw error(object, "\(what) failed") }
        return handle
    }

    func check(_ rc: herr_t, _ object: String, _ what: String) throws {
        guard rc >= 0 else { throw error(object, "\(what) failed") }
    }
}

/// A value stored in an HDF5 attribute.
public enum HDF5Attribute: Equatable, Sendable, CustomStringConvertible {
    case string(String)
    case int(Int64)
    case double(Double)
    case ints([Int64])
    case doubles([Double])

    public var description: String {
        switch self {
        case .string(let s): "\"\(s)\""
        case .int(let i): "\(i)"
        case .double(let d): "\(d)"
        case .ints(let a): "\(a)"
        case .doubles(let a): "\(a)"
        }
    }
}

/// A child of a group as `children()` lists it.
public struct HDF5Child: Sendable, Equatable {
    public enum Kind: Sendable, Equatable {
        case group
        case dataset(type: HDF5ElementType?, typeName: String, shape: [Int])
        case other
    }

    public let name: String
    public let kind: Kind
}

/// Anything that carries attributes: groups and datasets.
public class HDF5Object {
    public let file: HDF5File
    /// The object's absolute path inside the file, e.g. "/model/model.decoder.embed_tokens.weight".
    public let path: String
    let id: hid_t

    init(file: HDF5File, path: String, id: hid_t) {
        HDF5Library.prepareThread()
        self.file = file
        self.path = path
        self.id = id
    }

    deinit {
        // Closing the file closed this object already.
        if file.isOpen { H5Oclose(id) }
    }

    func childPath(_ name: String) -> String { path == "/" ? "/" + name : path + "/" + name }

    // MARK: Attributes

    public func setAttribute(_ name: String, _ value: HDF5Attribute) throws {
        if H5Aexists(id, name) > 0 { try file.check(H5Adelete(id, name), path, "replace attribute '\(name)'") }
        switch value {
        case .string(let s): try writeStringAttribute(name, s)
        case .int(let i): try writeNumericAttribute(name, [i], scalar: true)
        case .double(let d): try writeNumericAttribute(name, [d], scalar: true)
        case .ints(let a): try writeNumericAttribute(name, a, scalar: false)
        case .doubles(let a): try writeNumericAttribute(name, a, scalar: false)
        }
    }

    public func setAttribute(_ name: String, _ value: String) throws { try setAttribute(name, .string(value)) }
    public func setAttribute(_ name: String, _ value: Int) throws { try setAttribute(name, .int(Int64(value))) }
    public func setAttribute(_ name: String, _ value: Double) throws { try setAttribute(name, .double(value)) }

    /// Stores `value` as a JSON string attribute (sorted keys, so files are reproducible).
    public func setJSONAttribute<T: Encodable>(_ name: String, _ value: T) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let data = try encoder.encode(value)
        try setAttribute(name, .string(String(decoding: data, as: UTF8.self)))
    }

    public func hasAttribute(_ name: String) -> Bool { H5Aexists(id, name) > 0 }

    /// The names of all attributes, in name order.
    public func attributeNames() throws -> [String] {
        final class Names { var list: [String] = [] }
        let names = Names()
        let collect: H5A_operator2_t = { _, name, _, data in
            guard let name, let data else { return 0 }
            Unmanaged<Names>.fromOpaque(data).takeUnretainedValue().list.append(String(cString: name))
            return 0
        }
        var index: hsize_t = 0
        let rc = withExtendedLifetime(names) {
            H5Aiterate2(id, H5_INDEX_NAME, H5_ITER_INC, &index, collect, Unmanaged.passUnretained(names).toOpaque())
        }
        try file.check(rc, path, "list attributes")
        return names.list
    }

    /// Reads an attribute, converting any integer type to Int64 and any float type to Double.
    public func attribute(_ name: String) throws -> HDF5Attribute {
        let where_ = "\(path) attribute '\(name)'"
        guard H5Aexists(id, name) > 0 else {
            throw HDF5Error(file: file.path, object: path, message: "missing attribute '\(name)'")
        }
        let attr = try file.checkOpen(H5Aopen(id, name, tt_h5p_default()), where_, "open")
        defer { H5Aclose(attr) }
        let type = try file.checkOpen(H5Aget_type(attr), where_, "get type")
        defer { H5Tclose(type) }
        let space = try file.checkOpen(H5Aget_space(attr), where_, "get space")
        defer { H5Sclose(space) }
        let count = Int(H5Sget_simple_extent_npoints(space))
        let rank = H5Sget_simple_extent_ndims(space)
        // Attributes are small (HDF5 keeps them in the object header); a damaged one may claim anything.
        guard count >= 0, count <= 1 << 24, rank >= 0 else {
            throw HDF5Error(file: file.path, object: where_, message: "\(count) values: the attribute is damaged")
        }
        switch H5Tget_class(type) {
        case H5T_STRING:
            return .string(try readStringAttribute(attr, type: type, object: where_))
        case H5T_INTEGER:
            var values = [Int64](repeating: 0, count: count)
            try file.check(H5Aread(attr, Int64.nativeType, &values), where_, "read")
            return rank == 0 ? .int(values.first ?? 0) : .ints(values)
        case H5T_FLOAT:
            var values = [Double](repeating: 0, count: count)
            try file.check(H5Aread(attr, Double.nativeType, &values), where_, "read")
            return rank == 0 ? .double(values.first ?? 0) : .doubles(values)
        case H5T_ENUM:
            // h5py stores bools as an enum over int8 {FALSE, TRUE}: convert its integers in place.
            let base = H5Tget_super(type)
            defer { H5Tclose(base) }
            var buffer = [UInt8](repeating: 0, count: count * max(H5Tget_size(type), 8))
            try file.check(H5Aread(attr, type, &buffer), where_, "read")
            try file.check(H5Tconvert(base, Int64.nativeType, count, &buffer, nil, tt_h5p_default()), where_, "convert")
            let values = buffer.withUnsafeBytes { Array($0.bindMemory(to: Int64.self).prefix(count)) }
            return rank == 0 ? .int(values.first ?? 0) : .ints(values)
        default:
            throw HDF5Error(file: file.path, object: where_, message: "unsupported attribute type")
        }
    }

    public func stringAttribute(_ name: String) throws -> String {
        guard case .string(let s) = try attribute(name) else { throw wrongKind(name, "a string") }
        return s
    }

    public func intAttribute(_ name: String) throws -> Int {
        switch try attribute(name) {
        case .int(let i): return Int(i)
        case .ints(let a) where a.count == 1: return Int(a[0])
        default: throw wrongKind(name, "an integer")
        }
    }

    public func doubleAttribute(_ name: String) throws -> Double {
        switch try attribute(name) {
        case .double(let d): return d
        case .int(let i): return Double(i)
        case .doubles(let a) where a.count == 1: return a[0]
        default: throw wrongKind(name, "a number")
        }
    }

    /// Decodes a JSON string attribute.
    public func jsonAttribute<T: Decodable>(_ name: String, as type: T.Type) throws -> T {
        let text = try stringAttribute(name)
        do {
            return try JSONDecoder().decode(T.self, from: Data(text.utf8))
        } catch {
            throw HDF5Error(file: file.path, object: "\(path) attribute '\(name)'", message: "invalid JSON: \(error)")
        }
    }

    private func wrongKind(_ name: String, _ expected: String) -> HDF5Error {
        HDF5Error(file: file.path, object: "\(path) attribute '\(name)'", message: "expected \(expected)")
    }

    private func writeStringAttribute(_ name: String, _ value: String) throws {
        let where_ = "\(path) attribute '\(name)'"
        // Variable-length UTF-8, which h5py reads back as `str`.
        let type = try file.checkOpen(H5Tcopy(tt_h5t_c_s1()), where_, "make string type")
        defer { H5Tclose(type) }
        H5Tset_size(type, tt_h5t_variable())
        H5Tset_cset(type, H5T_CSET_UTF8)
        let space = try file.checkOpen(H5Screate(H5S_SCALAR), where_, "make dataspace")
        defer { H5Sclose(space) }
        let attr = try file.checkOpen(H5Acreate2(id, name, type, space, tt_h5p_default(), tt_h5p_default()), where_, "create")
        defer { H5Aclose(attr) }
        try value.withCString { cString in
            var pointer: UnsafePointer<CChar>? = cString
            try file.check(H5Awrite(attr, type, &pointer), where_, "write")
        }
    }

    private func readStringAttribute(_ attr: hid_t, type: hid_t, object: String) throws -> String {
        if H5Tis_variable_str(type) > 0 {
            let memType = H5Tcopy(tt_h5t_c_s1())
            defer { H5Tclose(memType) }
            H5Tset_size(memType, tt_h5t_variable())
            H5Tset_cset(memType, H5Tget_cset(type))
            var pointer: UnsafeMutablePointer<CChar>? = nil
            try file.check(H5Aread(attr, memType, &pointer), object, "read")
            defer { if let pointer { H5free_memory(pointer) } }
            return pointer.map { String(cString: $0) } ?? ""
        }
        let size = H5Tget_size(type)
        var bytes = [UInt8](repeating: 0, count: size + 1)
        try file.check(H5Aread(attr, type, &bytes), object, "read")
        let end = bytes.firstIndex(of: 0) ?? size
        return String(decoding: bytes[..<end], as: UTF8.self)
    }

    private func writeNumericAttribute<T: HDF5Scalar>(_ name: String, _ values: [T], scalar: Bool) throws {
        let where_ = "\(path) attribute '\(name)'"
        var dims = [hsize_t(values.count)]
        let space = try file.checkOpen(scalar ? H5Screate(H5S_SCALAR) : H5Screate_simple(1, &dims, nil), where_, "make dataspace")
        defer { H5Sclose(space) }
        let attr = try file.checkOpen(H5Acreate2(id, name, T.nativeType, space, tt_h5p_default(), tt_h5p_default()), where_, "create")
        defer { H5Aclose(attr) }
        try file.check(values.withUnsafeBufferPointer { H5Awrite(attr, T.nativeType, $0.baseAddress) }, where_, "write")
    }
}
