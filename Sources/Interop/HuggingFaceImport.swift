import Foundation
import OPT
import Reporting
import Storage

/// `tooltune import-hf`: a Hugging Face model folder -> a model file in the checkpoint format (`/model`,
/// `model_config`, and `tokenizer_sha256` when the folder has tokenizer files), with a report of what was
/// read and what it cost.
public enum HuggingFaceImport {
    public struct Report: Codable, Sendable {
        public var folder: String
        public var output: String
        /// The weight file layout: model.safetensors, model.safetensors.index.json or pytorch_model.bin.
        public var format: String
        public var files: [String]
        /// Tensors per element type (F32, F16, BF16).
        public var dtypes: [String: Int]
        public var parameters: Int
        public var config: OPTConfig
        public var tokenizerSHA256: String?
        /// Reading config.json, the weights into the model's buffer and the tokenizer.
        public var readSeconds: Double
        public var writeSeconds: Double
        /// The peak resident memory after reading, and at the end.
        public var readPeakRSSMiB: Double
        public var peakRSSMiB: Double

        enum CodingKeys: String, CodingKey {
            case folder, output, format, files, dtypes, parameters, config
            case tokenizerSHA256 = "tokenizer_sha256"
            case readSeconds = "read_s"
            case writeSeconds = "write_s"
            case readPeakRSSMiB = "read_peak_rss_mb"
            case peakRSSMiB = "peak_rss_mb"
        }
    }

    /// Reads the folder and writes `output` atomically. An existing `output` is replaced only when
    /// `replacing`; that is checked before anything is read.
    public static func run(folder: String, output: String, replacing: Bool) throws -> Report {
        if !replacing, FileManager.default.fileExists(atPath: output) {
            throw ModelCheckpointError(file: output, message: "exists; not replaced (--force replaces it)")
        }
        let start = Date()
        // The tokenizer first: a bad one fails before the weights are read.
        let tokenizer = try HuggingFaceModel.tokenizer(folder: folder, for: HuggingFaceModel.config(folder: folder))
        let loaded = try HuggingFaceModel(folder: folder)
        let read = Date()
        let readPeak = ProcessMemory.peakResidentMiB()
        try ModelCheckpoint.save(loaded.model, to: output, tokenizerSHA256: tokenizer?.sha256)
        let end = Date()
        return Report(folder: folder, output: output, format: loaded.format.rawValue, files: loaded.files,
                      dtypes: Dictionary(uniqueKeysWithValues: loaded.dtypes.map { ($0.key.rawValue, $0.value) }),
                      parameters: loaded.model.layout.count, config: loaded.model.config, tokenizerSHA256: tokenizer?.sha256,
                      readSeconds: read.timeIntervalSince(start), writeSeconds: end.timeIntervalSince(read),
                      readPeakRSSMiB: readPeak, peakRSSMiB: ProcessMemory.peakResidentMiB())
    }

    /// The human-readable report.
    public static func lines(_ r: Report) -> [String] {
        let c = r.config
        let dtypes = r.dtypes.sorted { $0.key < $1.key }.map { "\($0.value) \($0.key)" }.joined(separator: ", ")
        var architecture = "hidden \(c.hiddenSize), \(c.numHiddenLayers) layers, \(c.numAttentionHeads) heads, ffn \(c.ffnDim), "
            + "vocab \(c.vocabSize), positions \(c.maxPositionEmbeddings), " + (c.doLayerNormBefore ? "pre-LN" : "post-LN")
        if c.hasProjections { architecture += ", word_embed_proj_dim \(c.wordEmbedProjDim)" }
        if c.doLayerNormBefore && !c.hasFinalLayerNorm { architecture += ", no final LayerNorm" }
        return [
            "read \(r.folder): \(r.format), \(r.files.count) weight file\(r.files.count == 1 ? "" : "s"), tensors \(dtypes)",
        ] + r.files.map { "  \($0)" } + [
            "  OPT: \(architecture)",
            "  \(r.parameters.formatted()) parameters (\(String(format: "%.0f", Double(r.parameters) * 4 / 1_048_576)) MiB as float32)",
            "  tokenizer: " + (r.tokenizerSHA256.map { "vocab.json + merges.txt, sha256 \($0)" } ?? "none (no vocab.json / merges.txt)"),
            "wrote \(r.output): /model, model_config" + (r.tokenizerSHA256 == nil ? "" : ", tokenizer_sha256"),
            String(format: "time: read %.2f s, write %.2f s; peak RSS %.0f MiB (%.0f MiB after reading)",
                   r.readSeconds, r.writeSeconds, r.peakRSSMiB, r.readPeakRSSMiB),
        ]
    }
}
