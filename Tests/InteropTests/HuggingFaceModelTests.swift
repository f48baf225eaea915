import Foundation
import Interop
import OPT
import Storage
import Testing
import TestSupport
import Tokenizer

/// Importing the checkpoints transformers wrote (Tests/Fixtures/hf) and exporting models back, checked
/// against transformers' own logits, tensors, safetensors bytes and config files.
@Suite final class HuggingFaceModelTests {
    let scratch: URL

    init() throws { scratch = try makeTemporaryFolder("hf-model") }
    deinit { try? FileManager.default.removeItem(at: scratch) }

    /// The model's tensors by name, as Float32 arrays.
    static func tensors(_ model: OPTModel) -> [String: [Float]] {
        Dictionary(uniqueKeysWithValues: model.layout.entries.map { ($0.name, Array(model.parameter($0.name)!)) })
    }

    static func maxDifference(_ a: [Float], _ b: [Float]) -> Float {
        zip(a, b).map { abs($0 - $1) }.max() ?? 0
    }

    /// Every format and dtype: the weights are PyTorch's bit for bit (F16/BF16 widened exactly), and the
    /// forward gives transformers' logits for those weights.
    @Test(arguments: HFFixtures.variants) func everyFixtureImportsToTransformersLogits(variant: String) throws {
        let (ids, reference) = try HFFixtures.logits(variant, "fp32")
        for folder in try HFFixtures.folders(variant) {
            let dtype = String(folder.prefix(4))
            let model = try HuggingFaceModel.load(folder: HFFixtures.path("\(variant)/\(folder)"))
            let loaded = Self.tensors(model)
            let expected = try HFFixtures.expected(variant, dtype)
            #expect(expected.count == model.layout.entries.count)
            for tensor in expected {
                #expect(loaded[tensor.name]?.map(\.bitPattern) == tensor.values.map(\.bitPattern), "\(folder) \(tensor.name)")
            }
            let logits = try #require(try NextTokenLosses.compute(model: model, tokens: ids, withLogits: true).logits)
            let want = try HFFixtures.logits(variant, dtype).logits
            #expect(want.shape == [1, ids.count, model.config.vocabSize])
            #expect(logits.count == want.values.count)
            let difference = Self.maxDifference(logits, want.values)
            #expect(difference <= 1e-4, "\(folder): logits differ from transformers' by \(difference)")
            // The fp16 weights change the logits: comparing against the fp32 logits must be able to fail.
            if dtype != "fp32" { #expect(Self.maxDifference(logits, reference.values) > 1e-4, "\(folder)") }
        }
    }

    @Test(arguments: HFFixtures.variants) func configJSONGivesTheFixturesArchitecture(variant: String) throws {
        let config = try HuggingFaceModel.config(folder: HFFixtures.path("\(variant)/fp32-safetensors"))
        let recorded = try HDF5File(HFFixtures.path("\(variant)/expected.h5")).root.jsonAttribute("model_config", as: OPTConfig.self)
        #expect(config == recorded)
        #expect(config.hasProjections == (variant == "postln-proj"))
    }

    /// Export then import: fp32 bit-identical; fp16 and bf16 exactly PyTorch's rounding of the fp32 model
    /// (the fixtures' model_fp16 / model_bf16), or within half an ulp where the fixture has no such dtype.
    @Test(arguments: HFFixtures.variants) func exportThenImportRoundTrips(variant: String) throws {
        let model = try HuggingFaceModel.load(folder: HFFixtures.path("\(variant)/fp32-safetensors"))
        let original = Self.tensors(model)
        for dtype in TensorDType.allCases {
            let option = ["F32": "fp32", "F16": "fp16", "BF16": "bf16"][dtype.rawValue]!
            let folder = scratch.appendingPathComponent("\(variant)-\(option)").path
            #expect(try HuggingFaceExport.write(model, dtype: dtype, tokenizer: nil, to: folder, replacing: false)
                    == ["config.json", "generation_config.json", "model.safetensors"])
            let back = Self.tensors(try HuggingFaceModel.load(folder: folder))
            let rounded = (try? HFFixtures.expected(variant, option)).map { Dictionary(uniqueKeysWithValues: $0.map { ($0.name, $0.values) }) }
            for (name, values) in original {
                let imported = try #require(back[name])
                if let rounded {
                    #expect(imported.map(\.bitPattern) == rounded[name]!.map(\.bitPattern), "\(option) \(name)")
                } else {
                    let ulp: Float = dtype == .float16 ? 0x1p-11 : 0x1p-8  // half an ulp, relative
                    #expect(zip(values, imported).allSatisfy { abs($0 - $1) <= ulp * abs($0) }, "\(option) \(name)")
                    #expect(imported != values, "\(option) \(name): not rounded at all")
                }
            }
        }
    }

    /// What transformers' save_pretrained wrote for the same model: the very same model.safetensors bytes
    /// (header: names, order, dtypes, shapes, offsets, `__metadata__`; data), and config.json /
    /// generation_config.json with the same values.
    @Test(arguments: HFFixtures.variants) func exportedFolderIsWhatSavePretrainedWrites(variant: String) throws {
        let model = try HuggingFaceModel.load(folder: HFFixtures.path("\(variant)/fp32-safetensors"))
        for option in ["fp32", "fp16", "bf16"] {
            let reference = HFFixtures.path("\(variant)/\(option)-safetensors")
            guard FileManager.default.fileExists(atPath: reference) else { continue }
            let folder = scratch.appendingPathComponent("\(variant)-\(option)").path
            try HuggingFaceExport.write(model, dtype: TensorDType(option: option)!, tokenizer: nil, to: folder, replacing: false)

            let ours = try SafetensorsFile("\(folder)/model.safetensors")
            #expect(ours.metadata == ["format": "pt"])
            #expect(ours.tensors.map(\.name).sorted() == model.layout.entries.map(\.name).sorted())
            #expect(ours.tensors.allSatisfy { $0.name.hasPrefix("model.decoder.") && $0.dtype == TensorDType(option: option) })
            #expect(ours.tensors.allSatisfy { model.layout[$0.name]?.shape == $0.shape })
            #expect(try Data(contentsOf: URL(fileURLWithPath: "\(folder)/model.safetensors"))
                    == Data(contentsOf: URL(fileURLWithPath: "\(reference)/model.safetensors")), "\(variant) \(option)")

            for (file, ignored) in [("config.json", ["transformers_version", "use_cache"]),
                                    ("generation_config.json", ["transformers_version", "use_cache", "output_attentions", "output_hidden_states"])] {
                let theirs = try Self.json("\(reference)/\(file)"), mine = try Self.json("\(folder)/\(file)")
                for (key, value) in theirs where !ignored.contains(key) {
                    #expect(mine[key].map { Self.same($0, value) } == true, "\(variant) \(option) \(file): \(key) is \(String(describing: mine[key])), transformers wrote \(value)")
                }
                #expect(Set(mine.keys).subtracting(theirs.keys).subtracting(["torch_dtype"]).isEmpty, "\(file): \(mine.keys.sorted())")
            }
            #expect(try Self.json("\(folder)/config.json")["torch_dtype"] as? String == ["fp32": "float32", "fp16": "float16", "bf16": "bfloat16"][option])
        }
    }

    static func json(_ path: String) throws -> [String: Any] {
        try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path))) as? [String: Any] ?? [:]
    }

    /// JSON values equal as Python compares them (0 == 0.0).
    static func same(_ a: Any, _ b: Any) -> Bool {
        (a as? NSObject)?.isEqual(b as? NSObject) ?? false
    }

    // MARK: Tokenizer files

    static let demoTokenizer = ToolTuneBinary.projectRoot.appendingPathComponent("demo/tokenizer").path

    /// A random model the demo tokenizer's 4,096 ids fit.
    static func tinyModel() throws -> OPTModel {
        var config = OPTConfig.presets["tiny"]!
        config.maxPositionEmbeddings = 64
        return try OPTModel(config: config, seed: 5)
    }

    @Test func tokenizerFilesAreCopiedAndReadBackAsTheSameTokenizer() throws {
        let model = try Self.tinyModel()
        let tokenizer = try Tokenizer(folder: Self.demoTokenizer)
        let folder = scratch.appendingPathComponent("with-tokenizer").path
        let files = try HuggingFaceExport.write(model, dtype: .float16, tokenizer: (Self.demoTokenizer, tokenizer), to: folder, replacing: false)
        #expect(files == ["config.json", "generation_config.json", "merges.txt", "model.safetensors",
                          "special_tokens_map.json", "tokenizer_config.json", "vocab.json"])
        for name in HuggingFaceExport.tokenizerFiles {
            #expect(FileManager.default.contentsEqual(atPath: "\(folder)/\(name)", andPath: "\(Self.demoTokenizer)/\(name)"), "\(name)")
        }
        #expect(try HuggingFaceModel.tokenizer(folder: folder, for: model.config)?.sha256 == tokenizer.sha256)
    }

    /// A folder with vocab.json and merges.txt only was read with OPT's special tokens; the export says so.
    @Test func aTokenizerWithoutSpecialTokenFilesGetsOPTsWritten() throws {
        let bare = scratch.appendingPathComponent("bare").path
        try FileManager.default.createDirectory(atPath: bare, withIntermediateDirectories: true)
        for name in ["vocab.json", "merges.txt"] {
            try FileManager.default.copyItem(atPath: "\(Self.demoTokenizer)/\(name)", toPath: "\(bare)/\(name)")
        }
        let tokenizer = try Tokenizer(folder: bare)
        let folder = scratch.appendingPathComponent("bare-export").path
        try HuggingFaceExport.write(try Self.tinyModel(), dtype: .float32, tokenizer: (bare, tokenizer), to: folder, replacing: false)
        let specials = try Self.json("\(folder)/special_tokens_map.json") as? [String: String]
        #expect(specials == ["bos_token": "</s>", "eos_token": "</s>", "unk_token": "</s>", "pad_token": "<pad>"])
        let config = try Self.json("\(folder)/tokenizer_config.json")
        #expect(config["tokenizer_class"] as? String == "GPT2Tokenizer" && config["add_bos_token"] as? Bool == true)
        let copy = try Tokenizer(folder: folder)
        #expect(copy.sha256 == tokenizer.sha256 && copy.specialTokens == tokenizer.specialTokens && copy.padID == 1)
    }

    @Test func aTokenizerThatDoesNotFitTheModelIsRefused() throws {
        let config = try HuggingFaceModel.config(folder: HFFixtures.path("preln/fp32-safetensors"))
        let error = try #require(throws: ModelCheckpointError.self) {
            try HuggingFaceModel.tokenizer(folder: Self.demoTokenizer, for: config)
        }
        #expect("\(error)".contains(Self.demoTokenizer) && "\(error)".contains("ids reach 4095, beyond the model's vocab_size 61"))
        var shifted = try Self.tinyModel().config
        shifted.padTokenId = 0
        let pad = try #require(throws: ModelCheckpointError.self) { try HuggingFaceModel.tokenizer(folder: Self.demoTokenizer, for: shifted) }
        #expect("\(pad)".contains("its pad token has id 1, the model's config says 0"))
    }

    @Test func configProblemsNameTheFile() throws {
        let folder = scratch.appendingPathComponent("configs").path
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let path = "\(folder)/config.json"
        for (text, message) in [(#"{"model_type": "llama", "hidden_size": 64}"#, #"model_type is "llama", not "opt""#),
                                (#"{"model_type": "opt", "hidden_size": "64"}"#, "hidden_size"),
                                (#"{"model_type": "opt", "activation_function": "gelu"}"#, #"activation_function "gelu" is not supported"#),
                                ("[1, 2]", "expected an object of config.json keys, found a list"),
                                // Every key is read where it stands (Foundation's decoder called these "not valid JSON").
                                (#"{"vocab_size": 4097.5}"#, "vocab_size: expected a whole number, found the number 4097.5"),
                                (#"{"hidden_size": 18446744073709551616}"#, "hidden_size: 18446744073709551616 does not fit in 64 bits"),
                                (#"{"num_attention_heads": null}"#, "num_attention_heads: expected a whole number, found null"),
                                (#"{"vocab_size": 2147483647, "hidden_size": 1048576}"#,
                                 "vocab_size 2147483647 is over the limit of 4194304; hidden_size 1048576 is over the limit of 65536"),
                                (#"{"model_type": "opt", "vocab"#, "1:29: unexpected end of the input inside a string; the JSON is truncated"),
                                ("", "empty; expected JSON")] {
            try Data(text.utf8).write(to: URL(fileURLWithPath: path))
            let error = try #require(throws: ModelCheckpointError.self) { try HuggingFaceModel.config(folder: folder) }
            #expect("\(error)".hasPrefix(path) && "\(error)".contains(message), "\(error)")
        }
    }
}
