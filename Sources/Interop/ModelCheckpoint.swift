import Foundation
import OPT
import Storage

/// OPT weights in HDF5, as every ToolTune checkpoint stores them (README.md, "Training", Checkpoints): the
/// root attribute `model_config` (Hugging Face config.json keys, as JSON) and one float32 dataset per
/// Hugging Face tensor under `/model`, in Hugging Face shapes (so `h5py.File(f)["model"][name]` equals the
/// transformers tensor). `lm_head.weight` is not stored: it is `embed_tokens`.
public enum ModelCheckpoint {
    public static let group = "model"
    public static let configAttribute = "model_config"
    /// The tokenizer the model goes with: `Tokenizer.sha256` of its folder.
    public static let tokenizerAttribute = "tokenizer_sha256"

    /// The tensors a model of `layout` stores.
    public static func tensors(_ layout: ParameterLayout) -> [TensorDescriptor] {
        layout.entries.map { TensorDescriptor(name: $0.name, shape: $0.shape) }
    }

    /// Writes `model_config` and `/model` into `file` (a checkpoint writer adds its own groups and attributes).
    public static func write(_ model: OPTModel, to file: HDF5File) throws {
        let root = try file.root
        try root.setJSONAttribute(configAttribute, model.config)
        let group = try root.createGroup(self.group)
        try group.writeTensors(tensors(model.layout), deflate: nil) { tensor in
            UnsafeBufferPointer(model.parameter(tensor.name)!)
        }
    }

    /// Writes a file holding only the model (and the tokenizer's hash, when known), atomically (readers
    /// never see a partial file).
    public static func save(_ model: OPTModel, to path: String, tokenizerSHA256: String? = nil) throws {
        try HDF5File.writeAtomically(to: path) { file in
            try write(model, to: file)
            if let tokenizerSHA256 { try file.root.setAttribute(tokenizerAttribute, tokenizerSHA256) }
        }
    }

    /// The recorded tokenizer hash, or nil when the file records none.
    public static func tokenizerSHA256(of file: HDF5File) throws -> String? {
        let root = try file.root
        return try root.attributeNames().contains(tokenizerAttribute) ? root.stringAttribute(tokenizerAttribute) : nil
    }

    /// The model configuration stored in `file`, checked for what ToolTune supports.
    public static func config(of file: HDF5File) throws -> OPTConfig {
        let text = try file.root.stringAttribute(configAttribute)
        do {
            return try OPTConfig.fromJSON(Array(text.utf8))
        } catch {
            throw ModelCheckpointError(file: file.path, message: "attribute '\(configAttribute)': \(error)")
        }
    }

    /// A zeroed model of `config`, which `source` (a file, with the attribute or key it came from)
    /// describes: a configuration within every limit may still need more memory than there is.
    public static func model(_ config: OPTConfig, describedBy source: String) throws -> OPTModel {
        do {
            return try OPTModel(config: config)
        } catch let error as OPTModelError {
            throw ModelCheckpointError(file: source, message: error.message)
        }
    }

    /// Reads `/model` into `model`, whose configuration must match the file's tensors exactly.
    public static func read(into model: OPTModel, from file: HDF5File) throws {
        let group = try file.root.group(self.group)
        try group.readTensors(tensors(model.layout)) { tensor in model.parameter(tensor.name)! }
    }

    /// The model stored in the file at `path`.
    public static func load(_ path: String) throws -> OPTModel {
        let file = try HDF5File(path, mode: .readOnly)
        let model = try self.model(config(of: file), describedBy: "\(path): attribute '\(configAttribute)'")
        try read(into: model, from: file)
        return model
    }
}

/// A model file whose configuration ToolTune cannot use, naming the file.
public struct ModelCheckpointError: Error, CustomStringConvertible {
    public let file: String
    public let message: String
    public init(file: String, message: String) {
        self.file = file
        self.message = message
    }
    public var description: String { "\(file): \(message)" }
}
