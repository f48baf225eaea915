/// A `pytorch_model.bin` in PyTorch's zip format (torch.save since PyTorch 1.6): `<archive>/data.pkl` is
/// the state dict's pickle, read by `RestrictedUnpickler`; `<archive>/data/<key>` holds each storage's raw
/// little-endian elements, which the tensors view (a tied weight is one storage seen by two tensors).
public final class PyTorchCheckpoint {
    public let file: MappedFile
    public var path: String { file.path }
    /// The state dict's tensors, in its order.
    public let tensors: [TensorView]

    public init(_ path: String) throws {
        let file = try MappedFile(path)
        self.file = file
        func fail(_ object: String, _ message: String) -> TensorFileError {
            TensorFileError(file: path, object: object, message)
        }
        if file.count > 0, try file.bytes(0..<1, object: "").first == 0x80 {
            throw fail("", "this is PyTorch's legacy (before 1.6) pickle format, which is not supported; re-save it with torch.save")
        }
        let zip = try ZipArchive(file)
        let pickles = zip.entries.filter { $0.name == "data.pkl" || $0.name.hasSuffix("/data.pkl") }
        guard pickles.count == 1, let pickle = pickles.first else {
            throw fail("", pickles.isEmpty ? "the zip has no data.pkl entry, so it is not a torch.save checkpoint"
                                           : "the zip has \(pickles.count) data.pkl entries")
        }
        let prefix = String(pickle.name.dropLast("data.pkl".count))
        if let order = zip[prefix + "byteorder"] {
            let text = String(decoding: try file.bytes(order.data, object: order.name), as: UTF8.self)
            guard text == "little" else { throw fail(order.name, "byte order \"\(text)\" is not supported (little)") }
        }
        let records = try RestrictedUnpickler(bytes: file.bytes(pickle.data, object: pickle.name), file: path,
                                              entry: pickle.name).stateDict()
        tensors = try records.map { name, tensor in
            let key = prefix + "data/" + tensor.storage.key
            guard let entry = zip[key] else { throw fail(name, "its storage entry \(key) is not in the zip") }
            let bytes = tensor.storage.count.multipliedReportingOverflow(by: tensor.storage.dtype.size)
            guard !bytes.overflow, bytes.partialValue == entry.data.count else {
                throw fail(name, "storage \(key) should hold \(tensor.storage.count) \(tensor.storage.dtype) elements, "
                           + "but has \(entry.data.count) bytes")
            }
            return try TensorView(name: name, dtype: tensor.storage.dtype, shape: tensor.shape, file: file,
                                  storage: entry.data, offset: tensor.offset, strides: tensor.strides)
        }
    }
}
