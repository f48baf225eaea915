import Foundation
import OPT
import Storage
import Tokenizer
import Yams

/// Writes a model as a Hugging Face model folder, the files `OPTForCausalLM.from_pretrained` (and vLLM,
/// TGI) read: `config.json` (the architecture, `architectures` ["OPTForCausalLM"], `model_type` "opt",
/// the weights' dtype), `model.safetensors` (as save_pretrained writes it: `model.decoder.*` names, no tied
/// lm_head, `__metadata__` {"format": "pt"}), `generation_config.json` (BOS, EOS, pad, as OPT's Hub files)
/// and the tokenizer files. The folder appears complete or not at all (`AtomicFolder`).
public enum HuggingFaceExport {
    /// Where the tokenizer files come from.
    public enum TokenizerSource: Sendable, Equatable {
        /// This folder.
        case folder(String)
        /// The `tokenizer.path` of the job stored in the checkpoint.
        case checkpointJob
        /// None: the folder gets the model files only.
        case none
    }

    public struct Summary: Sendable {
        public let folder: String
        /// The names of the files written, sorted.
        public let files: [String]
        public let dtype: TensorDType
        public let parameters: Int
        /// The tokenizer folder copied and its hash, if any.
        public let tokenizerFolder: String?
        public let tokenizerSHA256: String?
    }

    public static let tokenizerFiles = ["vocab.json", "merges.txt", "special_tokens_map.json", "tokenizer_config.json"]
    public static let generationConfigFile = "generation_config.json"

    /// Exports the model of the checkpoint (or any model file with `/model` and `model_config`) at
    /// `checkpoint` to `folder`. The tokenizer must fit the model, and when the checkpoint records a
    /// `tokenizer_sha256` the tokenizer folder must have that hash. Everything is checked before anything
    /// is written.
    public static func export(checkpoint: String, to folder: String, dtype: TensorDType, tokenizer source: TokenizerSource,
                              replacing: Bool) throws -> Summary {
        let file = try HDF5File(checkpoint, mode: .readOnly)
        let config = try ModelCheckpoint.config(of: file)
        let recorded = try ModelCheckpoint.tokenizerSHA256(of: file)
        let tokenizerFolder: String?
        switch source {
        case .folder(let path): tokenizerFolder = path
        case .none: tokenizerFolder = nil
        case .checkpointJob: tokenizerFolder = try jobTokenizerFolder(file)
        }
        var tokenizer: (folder: String, tokenizer: Tokenizer)?
        if let tokenizerFolder {
            guard let loaded = try HuggingFaceModel.tokenizer(folder: tokenizerFolder, for: config) else {
                throw ModelCheckpointError(file: tokenizerFolder, message: "no vocab.json or merges.txt: not a tokenizer folder")
            }
            if let recorded, recorded != loaded.sha256 {
                throw ModelCheckpointError(file: tokenizerFolder, message: "tokenizer sha256 \(loaded.sha256), but \(checkpoint) "
                                           + "was made with \(recorded): not the model's tokenizer")
            }
            tokenizer = (tokenizerFolder, loaded)
        }
        let model = try ModelCheckpoint.model(config, describedBy: "\(checkpoint): attribute '\(ModelCheckpoint.configAttribute)'")
        try ModelCheckpoint.read(into: model, from: file)
        try file.close()
        let files = try write(model, dtype: dtype, tokenizer: tokenizer, to: folder, replacing: replacing)
        return Summary(folder: folder, files: files, dtype: dtype, parameters: model.layout.count,
                       tokenizerFolder: tokenizerFolder, tokenizerSHA256: tokenizer?.tokenizer.sha256)
    }

    /// Writes `model` as a Hugging Face folder at `folder` with its tensors in `dtype` and, when given, the
    /// tokenizer files of a folder already loaded as `tokenizer`. Returns the names of the files written.
    @discardableResult
    public static func write(_ model: OPTModel, dtype: TensorDType, tokenizer: (folder: String, tokenizer: Tokenizer)?,
                             to folder: String, replacing: Bool) throws -> [String] {
        try AtomicFolder.write(to: folder, replacing: replacing) { temporary in
            func put(_ name: String, _ data: Data) throws {
                try AtomicFile.write(data, to: (temporary as NSString).appendingPathComponent(name))
            }
            let tensors = model.layout.entries.map {
                Float32Tensor(name: $0.name, shape: $0.shape, values: UnsafeBufferPointer(model.parameter($0.name)!))
            }
            try HFWeights.writeSafetensors(tensors, dtype: dtype, folder: temporary)
            try put(HuggingFaceModel.configFile, json(ExportedConfig(config: model.config, dtype: dtype)))
            try put(generationConfigFile, json(GenerationConfig(config: model.config)))
            if let (source, loaded) = tokenizer {
                try copyTokenizer(from: source, loaded, into: temporary)
            }
        }
        return try FileManager.default.contentsOfDirectory(atPath: folder).sorted()
    }

    /// The `tokenizer.path` of the job YAML stored in the checkpoint's `job` attribute.
    static func jobTokenizerFolder(_ file: HDF5File) throws -> String {
        let root = try file.root
        guard try root.attributeNames().contains("job") else {
            throw ModelCheckpointError(file: file.path, message: "records no job, so no tokenizer folder; "
                                       + "give one (--tokenizer DIR) or export without (--no-tokenizer)")
        }
        let text = try root.stringAttribute("job")
        let job = (try? Yams.load(yaml: text)) as? [String: Any]
        guard let path = (job?["tokenizer"] as? [String: Any])?["path"] as? String else {
            throw ModelCheckpointError(file: file.path, message: "attribute 'job': no tokenizer.path in the stored job")
        }
        return path
    }

    /// Copies vocab.json and merges.txt byte for byte, and the special-token files that exist. A folder
    /// with neither special-token file was read with OPT's special tokens (`Tokenizer`), so those are written
    /// out for transformers. The copy is then read back: it must be the same tokenizer.
    static func copyTokenizer(from source: String, _ tokenizer: Tokenizer, into folder: String) throws {
        let manager = FileManager.default
        var copied = Set<String>()
        for name in tokenizerFiles {
            let path = (source as NSString).appendingPathComponent(name)
            guard manager.fileExists(atPath: path) else { continue }
            guard let data = manager.contents(atPath: path) else { throw ModelCheckpointError(file: path, message: "cannot be read") }
            try AtomicFile.write(data, to: (folder as NSString).appendingPathComponent(name))
            copied.insert(name)
        }
        if copied.isDisjoint(with: ["special_tokens_map.json", "tokenizer_config.json"]) {
            let specials = SpecialTokens(bos: tokenizer.token(forID: tokenizer.bosID)!, eos: tokenizer.token(forID: tokenizer.eosID)!,
                                         unk: tokenizer.token(forID: tokenizer.eosID)!, pad: tokenizer.padID.map { tokenizer.token(forID: $0)! })
            try AtomicFile.write(json(specials), to: (folder as NSString).appendingPathComponent("special_tokens_map.json"))
            try AtomicFile.write(json(TokenizerConfig(specials: specials)), to: (folder as NSString).appendingPathComponent("tokenizer_config.json"))
        }
        let copy = try Tokenizer(folder: folder)
        guard copy.sha256 == tokenizer.sha256, copy.bosID == tokenizer.bosID, copy.eosID == tokenizer.eosID,
              copy.padID == tokenizer.padID, copy.specialTokens == tokenizer.specialTokens else {
            throw ModelCheckpointError(file: folder, message: "the copied tokenizer differs from \(source)")
        }
    }

    static func json(_ value: some Encodable) throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return try encoder.encode(value) + Data("\n".utf8)
    }

    /// config.json: OPTConfig's keys plus what transformers needs to pick the class and the dtype
    /// (`torch_dtype` for transformers 4 and serving stacks, `dtype` for transformers 5).
    struct ExportedConfig: Encodable {
        let config: OPTConfig
        let dtype: TensorDType

        enum Keys: String, CodingKey { case architectures, modelType = "model_type", torchDtype = "torch_dtype", dtype }

        func encode(to encoder: Encoder) throws {
            try config.encode(to: encoder)
            var c = encoder.container(keyedBy: Keys.self)
            let name = switch dtype { case .float32: "float32"; case .float16: "float16"; case .bfloat16: "bfloat16" }
            try c.encode(["OPTForCausalLM"], forKey: .architectures)
            try c.encode("opt", forKey: .modelType)
            try c.encode(name, forKey: .torchDtype)
            try c.encode(name, forKey: .dtype)
        }
    }

    /// generation_config.json as on the Hub's facebook/opt-* repositories.
    struct GenerationConfig: Encodable {
        let fromModelConfig = true
        let bosTokenId: Int, eosTokenId: Int, padTokenId: Int

        init(config: OPTConfig) {
            bosTokenId = config.bosTokenId
            eosTokenId = config.eosTokenId
            padTokenId = config.padTokenId
        }

        enum CodingKeys: String, CodingKey {
            case fromModelConfig = "_from_model_config", bosTokenId = "bos_token_id", eosTokenId = "eos_token_id"
            case padTokenId = "pad_token_id"
        }
    }

    /// special_tokens_map.json for a folder that had none: the tokens `Tokenizer` assumed (OPT's; its unk is EOS).
    struct SpecialTokens: Encodable {
        let bos: String, eos: String, unk: String, pad: String?
        enum CodingKeys: String, CodingKey { case bos = "bos_token", eos = "eos_token", unk = "unk_token", pad = "pad_token" }
    }

    /// tokenizer_config.json for a folder that had none: OPT's, a GPT-2 BPE that prepends BOS.
    struct TokenizerConfig: Encodable {
        let specials: SpecialTokens
        let addBOSToken = true, addPrefixSpace = false, errors = "replace", tokenizerClass = "GPT2Tokenizer"

        enum CodingKeys: String, CodingKey {
            case addBOSToken = "add_bos_token", addPrefixSpace = "add_prefix_space", errors, tokenizerClass = "tokenizer_class"
        }

        func encode(to encoder: Encoder) throws {
            try specials.encode(to: encoder)
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(addBOSToken, forKey: .addBOSToken)
            try c.encode(addPrefixSpace, forKey: .addPrefixSpace)
            try c.encode(errors, forKey: .errors)
            try c.encode(tokenizerClass, forKey: .tokenizerClass)
        }
    }
}
