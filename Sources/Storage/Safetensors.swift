import Foundation
import JSON
#if canImport(Glibc)
import Glibc
#endif

/// A safetensors file, mapped and checked: an 8-byte little-endian header length N, N bytes of JSON
/// `{"__metadata__": {string: string}, NAME: {"dtype", "shape", "data_offsets": [begin, end]}, ...}`,
/// then the data, with offsets relative to the data's start. Checked as the safetensors library does:
/// N at most 100,000,000 and inside the file; the JSON an object beginning with `{`; every tensor's
/// byte length = element count x dtype size; the tensors, sorted by offset, tile the data exactly (no
/// overlap, no hole, nothing after the last one). Only F32, F16 and BF16 tensors are accepted.
public final class SafetensorsFile {
    /// The safetensors library's own limit; real headers are at most a few MB.
    public static let maximumHeaderSize = 100_000_000

    public let file: MappedFile
    public var path: String { file.path }
    /// The `__metadata__` strings (transformers writes `{"format": "pt"}`).
    public let metadata: [String: String]
    /// The tensors in data-offset order.
    public let tensors: [TensorView]
    private let index: [String: Int]

    public init(_ path: String) throws {
        let file = try MappedFile(path)
        self.file = file
        func fail(_ object: String, _ message: String) -> TensorFileError {
            TensorFileError(file: path, object: object, message)
        }
        guard file.count >= 8 else { throw fail("header", "file of \(file.count) bytes is too short for a safetensors header") }
        let length = try file.integer(at: 0, as: UInt64.self, object: "header")
        guard length <= UInt64(SafetensorsFile.maximumHeaderSize) else {
            throw fail("header", "header length \(length) is over the limit of \(SafetensorsFile.maximumHeaderSize) bytes")
        }
        let headerEnd = 8 + Int(length)
        guard headerEnd <= file.count else {
            throw fail("header", "header length \(length) runs past the end of the file (\(file.count) bytes)")
        }
        let json = try file.bytes(8..<headerEnd, object: "header")
        guard json.first == UInt8(ascii: "{") else { throw fail("header", "the JSON header does not begin with '{'") }
        let header = try Header(json, fail: fail)
        metadata = header.metadata

        // Offsets first, each tensor's own numbers, then the tiling of the data.
        struct Placed { let name: String; let dtype: TensorDType; let shape: [Int]; let begin: Int; let end: Int }
        var placed: [Placed] = []
        for (name, entry) in header.entries {
            guard let dtype = TensorDType(rawValue: entry.dtype) else {
                throw fail(name, "dtype \"\(entry.dtype)\" is not supported (F32, F16, BF16)")
            }
            guard entry.dataOffsets.count == 2, entry.dataOffsets[0] <= entry.dataOffsets[1] else {
                throw fail(name, "data_offsets \(entry.dataOffsets) is not [begin, end] with 0 <= begin <= end")
            }
            guard let count = TensorView.elementCount(entry.shape) else {
                throw fail(name, "shape \(entry.shape) has a negative size or overflows")
            }
            let (bytes, overflow) = count.multipliedReportingOverflow(by: dtype.size)
            let (begin, end) = (entry.dataOffsets[0], entry.dataOffsets[1])
            guard !overflow, bytes == end - begin else {
                throw fail(name, "shape \(entry.shape) of \(dtype) needs \(overflow ? "more than Int.max" : "\(bytes)") bytes, "
                           + "data_offsets [\(begin), \(end)] hold \(end - begin)")
            }
            placed.append(Placed(name: name, dtype: dtype, shape: entry.shape, begin: begin, end: end))
        }
        placed.sort { ($0.begin, $0.end) < ($1.begin, $1.end) }
        let dataSize = file.count - headerEnd
        var position = 0
        for p in placed {
            if p.begin < position {
                throw fail(p.name, "data_offsets [\(p.begin), \(p.end)] overlap the previous tensor, which ends at \(position)")
            }
            if p.begin > position {
                throw fail(p.name, "data_offsets [\(p.begin), \(p.end)] leave bytes \(position)..<\(p.begin) unused")
            }
            guard p.end <= dataSize else {
                throw fail(p.name, "data_offsets [\(p.begin), \(p.end)] run past the end of the data (\(dataSize) bytes)")
            }
            position = p.end
        }
        guard position == dataSize else {
            throw fail("data", "the tensors end at byte \(position) of the data, but it has \(dataSize) bytes")
        }
        tensors = try placed.map {
            try TensorView(name: $0.name, dtype: $0.dtype, shape: $0.shape, file: file,
                           contiguous: (headerEnd + $0.begin)..<(headerEnd + $0.end))
        }
        index = Dictionary(uniqueKeysWithValues: tensors.enumerated().map { ($1.name, $0) })
    }

    public subscript(name: String) -> TensorView? { index[name].map { tensors[$0] } }

    // MARK: Header JSON

    /// The header's JSON, read with the JSON module so that every number is checked where it stands
    /// (Foundation's decoder calls an offset near 2^64 "not valid JSON"). Repeated keys are refused.
    private struct Header {
        struct Entry {
            let dtype: String
            let shape: [Int]
            let dataOffsets: [Int]
        }
        var metadata: [String: String] = [:]
        var entries: [(String, Entry)] = []

        init(_ json: UnsafeRawBufferPointer, fail: (String, String) -> TensorFileError) throws {
            let root: JSONValue
            do {
                root = try JSONParser.parse(Array(json), options: .strict)
            } catch {
                throw fail("header", "not valid JSON: \(error)")
            }
            guard case .object(let object) = root else { throw fail("header", "the JSON header is \(root.kindDescription), not an object") }
            for (key, value) in object.pairs {
                if key == "__metadata__" {
                    guard case .object(let items) = value else {
                        throw fail(key, "expected an object of strings, found \(value.kindDescription)")
                    }
                    for (name, item) in items.pairs {
                        guard case .string(let text) = item else {
                            throw fail(key, "\(JSONValue.quoted(name)): expected a string, found \(item.kindDescription)")
                        }
                        metadata[name] = text
                    }
                    continue
                }
                guard case .object(let fields) = value else {
                    throw fail(key, "expected an object with dtype, shape and data_offsets, found \(value.kindDescription)")
                }
                func field(_ name: String) throws -> JSONValue {
                    guard let v = fields[name] else { throw fail(key, "no \(name)") }
                    return v
                }
                /// A list of 64-bit integers (their signs are checked with the tensor's other numbers).
                func integers(_ name: String) throws -> [Int] {
                    guard case .array(let items) = try field(name) else {
                        throw fail(key, "\(name): expected a list of integers, found \(try field(name).kindDescription)")
                    }
                    return try items.enumerated().map { i, item in
                        guard case .integer(let text) = item else {
                            throw fail(key, "\(name)[\(i)]: expected an integer, found \(item.kindDescription)")
                        }
                        guard let n = Int(text) else { throw fail(key, "\(name)[\(i)]: \(text) does not fit in 64 bits") }
                        return n
                    }
                }
                guard case .string(let dtype) = try field("dtype") else {
                    throw fail(key, "dtype: expected a string, found \(try field("dtype").kindDescription)")
                }
                entries.append((key, Entry(dtype: dtype, shape: try integers("shape"), dataOffsets: try integers("data_offsets"))))
            }
        }
    }
}

/// A named Float32 tensor to write; `values` must stay valid for the duration of the call it is passed to.
public struct Float32Tensor {
    public let name: String
    public let shape: [Int]
    public let values: UnsafeBufferPointer<Float>

    public init(name: String, shape: [Int], values: UnsafeBufferPointer<Float>) {
        self.name = name
        self.shape = shape
        self.values = values
    }
}

extension SafetensorsFile {
    /// Writes `tensors` converted to `dtype` (round to nearest even) as a safetensors file at `path`, the way
    /// the safetensors library lays one out: compact JSON with `__metadata__` first and the tensors sorted by
    /// name (all have one dtype; the library orders by dtype alignment, then name), padded with spaces so the
    /// data starts at a multiple of 8 bytes, the data in the same order. Atomic: `path` is either untouched
    /// or complete.
    public static func write(_ tensors: [Float32Tensor], dtype: TensorDType, metadata: [String: String] = ["format": "pt"],
                             to path: String) throws {
        let sorted = tensors.sorted { $0.name.utf8.lexicographicallyPrecedes($1.name.utf8) }
        let header = try headerBytes(sorted, dtype: dtype, metadata: metadata, file: path)
        try AtomicFile.write(to: path) { temporary in
            let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
            guard fd >= 0 else { throw TensorFileError(file: temporary, "cannot create: \(String(cString: strerror(errno)))") }
            defer { close(fd) }
            func put(_ bytes: UnsafeRawBufferPointer) throws {
                var done = 0
                while done < bytes.count {
                    let n = Glibc.write(fd, bytes.baseAddress! + done, bytes.count - done)
                    if n < 0 && errno == EINTR { continue }
                    guard n > 0 else { throw TensorFileError(file: temporary, "write failed: \(String(cString: strerror(errno)))") }
                    done += n
                }
            }
            try withUnsafeBytes(of: UInt64(header.count).littleEndian) { try put($0) }
            try header.withUnsafeBytes { try put($0) }
            // Converted in chunks so that writing needs no second copy of the model.
            let chunk = 1 << 16
            let scratch = UnsafeMutableRawBufferPointer.allocate(byteCount: chunk * dtype.size, alignment: 8)
            defer { scratch.deallocate() }
            for tensor in sorted {
                var start = 0
                while start < tensor.values.count {
                    let n = min(chunk, tensor.values.count - start)
                    dtype.narrow(tensor.values.baseAddress! + start, count: n, into: scratch.baseAddress!)
                    try put(UnsafeRawBufferPointer(rebasing: scratch[0..<(n * dtype.size)]))
                    start += n
                }
            }
        }
    }

    /// The padded JSON header for tensors already in file order, written as serde_json writes it.
    static func headerBytes(_ tensors: [Float32Tensor], dtype: TensorDType, metadata: [String: String], file: String) throws -> [UInt8] {
        var seen = Set<String>()
        var header = JSONObject()
        if !metadata.isEmpty {
            let pairs = metadata.sorted { $0.key.utf8.lexicographicallyPrecedes($1.key.utf8) }
            header["__metadata__"] = .object(JSONObject(pairs.map { ($0.key, .string($0.value)) }))
        }
        var offset = 0
        for tensor in tensors {
            guard !tensor.name.isEmpty, tensor.name != "__metadata__", seen.insert(tensor.name).inserted else {
                throw TensorFileError(file: file, object: tensor.name, "tensor names must be unique, non-empty and not __metadata__")
            }
            guard TensorView.elementCount(tensor.shape) == tensor.values.count else {
                throw TensorFileError(file: file, object: tensor.name, "shape \(tensor.shape) does not match \(tensor.values.count) values")
            }
            let end = offset + tensor.values.count * dtype.size
            header[tensor.name] = .object(JSONObject([
                ("dtype", .string(dtype.rawValue)),
                ("shape", .array(tensor.shape.map { .integer(String($0)) })),
                ("data_offsets", .array([.integer(String(offset)), .integer(String(end))])),
            ]))
            offset = end
        }
        var bytes = Array(JSONValue.object(header).dumps(ensureASCII: false, separators: .compact).utf8)
        bytes += [UInt8](repeating: UInt8(ascii: " "), count: (8 - bytes.count % 8) % 8)
        return bytes
    }
}
