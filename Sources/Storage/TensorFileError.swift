/// A problem with a tensor file (safetensors, pytorch_model.bin, a sharded index), naming the file, the
/// object inside it (a tensor, a zip entry, a header field) and what is wrong.
public struct TensorFileError: Error, CustomStringConvertible, Sendable {
    public let file: String
    public let object: String
    public let message: String

    public init(file: String, object: String = "", _ message: String) {
        self.file = file
        self.object = object
        self.message = message
    }

    public var description: String { object.isEmpty ? "\(file): \(message)" : "\(file): \(object): \(message)" }
}
