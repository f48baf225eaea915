import Foundation
import OPT
import Storage
import Tokenizer

/// An OPT model read from a Hugging Face model folder: `config.json` (transformers' `OPTConfig` keys) and
/// the weights `Storage.HFWeights` finds there (model.safetensors, sharded safetensors or
/// pytorch_model.bin; F32, F16 or BF16; `model.decoder.*` or the Hub's `decoder.*` names; an optional tied
/// `lm_head.weight`). Strict: every tensor the config implies must be there with its shape, and nothing
/// else. `tooltune import-hf` and a job's `model.init: hf` both load through here.
public struct HuggingFaceModel {
    public static let configFile = "config.json"

    public let model: OPTModel
    public let format: HFWeightsFormat
    /// The weight files read.
    public let files: [String]
    /// How many tensors of each element type the files hold.
    public let dtypes: [TensorDType: Int]

    /// The model in `folder`, its parameters read straight from the (mapped) files into its flat buffer.
    public static func load(folder: String) throws -> OPTModel { try HuggingFaceModel(folder: folder).model }

    public init(folder: String) throws {
        let config = try HuggingFaceModel.config(folder: folder)
        // The weight files are checked against the config before memory is sized by it.
        let layout = ParameterLayout(config: config)
        let weights = try HFWeights(folder: folder, expecting: layout.entries.map { ($0.name, $0.shape) })
        let model = try ModelCheckpoint.model(config, describedBy: (folder as NSString).appendingPathComponent(Self.configFile))
        for entry in model.layout.entries {
            try weights.read(entry.name, into: model.parameter(entry.name)!)
        }
        self.model = model
        format = weights.format
        files = weights.files
        dtypes = weights.tensors.values.reduce(into: [:]) { $0[$1.dtype, default: 0] += 1 }
    }

    /// The architecture in `folder/config.json`, checked: an OPT config (`model_type` "opt" when present)
    /// that ToolTune implements. Absent keys take transformers' defaults.
    public static func config(folder: String) throws -> OPTConfig {
        let path = (folder as NSString).appendingPathComponent(configFile)
        var isFolder: ObjCBool = false
        guard FileManager.default.fileExists(atPath: folder, isDirectory: &isFolder), isFolder.boolValue else {
            throw ModelCheckpointError(file: folder, message: "no such folder (expected a Hugging Face model folder with \(configFile))")
        }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ModelCheckpointError(file: path, message: "missing or unreadable; a Hugging Face model folder has \(configFile)")
        }
        do {
            return try OPTConfig.fromJSON([UInt8](data))
        } catch {
            throw ModelCheckpointError(file: path, message: error.description)
        }
    }

    /// The tokenizer in `folder` (vocab.json and merges.txt, with the special-token files when present),
    /// or nil when the folder has neither vocab.json nor merges.txt. Checked against `config`: every id
    /// fits the model's vocabulary and BOS, EOS and pad are the config's ids.
    public static func tokenizer(folder: String, for config: OPTConfig) throws -> Tokenizer? {
        let present = ["vocab.json", "merges.txt"].filter {
            FileManager.default.fileExists(atPath: (folder as NSString).appendingPathComponent($0))
        }
        if present.isEmpty { return nil }
        let tokenizer = try Tokenizer(folder: folder)
        var problems: [String] = []
        if tokenizer.vocabularySize > config.vocabSize {
            problems.append("its ids reach \(tokenizer.vocabularySize - 1), beyond the model's vocab_size \(config.vocabSize)")
        }
        let roles: [(String, Int32?, Int)] = [("BOS", tokenizer.bosID, config.bosTokenId), ("EOS", tokenizer.eosID, config.eosTokenId),
                                             ("pad", tokenizer.padID, config.padTokenId)]
        for (role, id, expected) in roles {
            if let id, Int(id) != expected {
                problems.append("its \(role) token has id \(id), the model's config says \(expected)")
            }
        }
        guard problems.isEmpty else {
            throw ModelCheckpointError(file: folder, message: "the tokenizer does not fit the model: " + problems.joined(separator: "; "))
        }
        return tokenizer
    }
}
