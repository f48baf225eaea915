import Foundation

/// The weight files of a Hugging Face model folder, in the order transformers prefers them.
public enum HFWeightsFormat: String, Sendable, CaseIterable {
    case safetensors = "model.safetensors"
    case shardedSafetensors = "model.safetensors.index.json"
    case pytorchBin = "pytorch_model.bin"
}

/// Everything wrong with a model folder's weights, each problem naming the tensor and the file.
public struct HFWeightsError: Error, CustomStringConvertible, Sendable {
    public let folder: String
    public let problems: [String]

    /// The first 20 problems (a config far from its weights mismatches every layer's tensors).
    public var description: String {
        guard problems.count > 1 else { return "\(folder): \(problems[0])" }
        let more = problems.count > 20 ? ["  ... and \(problems.count - 20) more"] : []
        return "\(folder): \(problems.count) problems:\n" + (problems.prefix(20).map { "  \($0)" } + more).joined(separator: "\n")
    }
}

/// The weights of a Hugging Face OPT-style model folder, checked strictly against the tensors a model
/// expects (`model.decoder.*` names and shapes), without reading any tensor data yet:
///
/// - the files: `model.safetensors`, else `model.safetensors.index.json` (sharded), else `pytorch_model.bin`;
/// - names: `model.decoder.X` and the Hub's older `decoder.X` are the same tensor (both at once is an error);
///   `lm_head.weight` may be present and must then equal `model.decoder.embed_tokens.weight` (OPT ties them);
/// - every expected tensor present with its shape; nothing else. All problems are reported together.
///
/// Elements are read on demand with `read(_:into:)`, widened from F16/BF16 exactly. The files stay mapped
/// while this object lives; each tensor's pages are released from memory once read.
public final class HFWeights {
    public static let tiedHeadName = "lm_head.weight"
    public static let embeddingName = "model.decoder.embed_tokens.weight"

    public let folder: String
    public let format: HFWeightsFormat
    /// The weight files read (the index's shards for a sharded folder).
    public let files: [String]
    /// The expected tensors by their `model.decoder.*` name.
    public let tensors: [String: TensorView]

    public init(folder: String, expecting expected: [(name: String, shape: [Int])]) throws {
        self.folder = folder
        func exists(_ name: String) -> Bool { FileManager.default.fileExists(atPath: "\(folder)/\(name)") }
        guard let format = HFWeightsFormat.allCases.first(where: { exists($0.rawValue) }) else {
            var isFolder: ObjCBool = false
            let present = FileManager.default.fileExists(atPath: folder, isDirectory: &isFolder) && isFolder.boolValue
            throw HFWeightsError(folder: folder, problems: [present
                ? "no model.safetensors, model.safetensors.index.json or pytorch_model.bin"
                    + (exists("pytorch_model.bin.index.json") ? " (sharded pytorch_model.bin files are not supported)" : "")
                : "no such folder"])
        }
        self.format = format
        let path = "\(folder)/\(format.rawValue)"
        var problems: [String] = []
        let views: [TensorView]
        switch format {
        case .safetensors:
            views = try SafetensorsFile(path).tensors
            files = [path]
        case .pytorchBin:
            views = try PyTorchCheckpoint(path).tensors
            files = [path]
        case .shardedSafetensors:
            (files, views) = try HFWeights.openShards(index: path, folder: folder, problems: &problems)
        }

        // File names -> model.decoder.* names.
        var found: [String: TensorView] = [:]
        var head: TensorView?
        for view in views {
            let name: String
            if view.name == HFWeights.tiedHeadName {
                head = view
                continue
            } else if view.name.hasPrefix("model.decoder.") {
                name = view.name
            } else if view.name.hasPrefix("decoder.") {
                name = "model." + view.name
            } else {
                problems.append("\(view.path): unexpected tensor \(view.name)")
                continue
            }
            if let other = found.updateValue(view, forKey: name) {
                problems.append("\(view.path): \(other.name) and \(view.name) are both \(name)")
            }
        }

        var wanted: [String: [Int]] = [:]
        for (name, shape) in expected { wanted[name] = shape }
        for (name, shape) in expected {
            guard let view = found[name] else {
                problems.append("\(files.count == 1 ? files[0] : folder): missing tensor \(name) \(shape)")
                continue
            }
            if view.shape != shape { problems.append("\(view.path): \(view.name) has shape \(view.shape), expected \(shape)") }
        }
        for (name, view) in found.sorted(by: { $0.key < $1.key }) where wanted[name] == nil {
            problems.append("\(view.path): unexpected tensor \(view.name)")
        }
        if let head, let embedding = found[HFWeights.embeddingName], embedding.shape == wanted[HFWeights.embeddingName] {
            if head.shape != embedding.shape {
                problems.append("\(head.path): \(head.name) has shape \(head.shape), but the tied \(embedding.name) has \(embedding.shape)")
            } else if !head.sameElements(as: embedding) {
                // Stored separately: compare as Float32 bit patterns (an fp16 copy equals an fp16 original exactly).
                let a = try head.floats(), b = try embedding.floats()
                head.releaseMemory()
                embedding.releaseMemory()
                if let i = a.indices.first(where: { a[$0].bitPattern != b[$0].bitPattern }) {
                    problems.append("\(head.path): \(head.name) differs from \(embedding.name) (first at element \(i): "
                                    + "\(a[i]) vs \(b[i])); OPT ties them, so they must be equal")
                }
            }
        }
        guard problems.isEmpty else { throw HFWeightsError(folder: folder, problems: problems) }
        tensors = found
    }

    /// Opens the shards named by a `model.safetensors.index.json` (`{"weight_map": {tensor: shard file}}`),
    /// checking that the map and the shards' contents agree.
    private static func openShards(index path: String, folder: String,
                                   problems: inout [String]) throws -> ([String], [TensorView]) {
        struct Index: Decodable {
            let weightMap: [String: String]
            enum CodingKeys: String, CodingKey { case weightMap = "weight_map" }
        }
        let map: [String: String]
        do {
            map = try JSONDecoder().decode(Index.self, from: Data(contentsOf: URL(fileURLWithPath: path))).weightMap
        } catch {
            throw TensorFileError(file: path, object: "weight_map", "not a sharded-checkpoint index: \(error)")
        }
        var files: [String] = []
        var views: [TensorView] = []
        for shard in Set(map.values).sorted() {
            // A plain file name beside the index: no paths out of the folder.
            guard !shard.isEmpty, !shard.contains("/"), shard != ".", shard != ".." else {
                throw TensorFileError(file: path, object: "weight_map", "shard \"\(shard)\" is not a file name in the folder")
            }
            let file = try SafetensorsFile("\(folder)/\(shard)")
            files.append(file.path)
            for view in file.tensors {
                switch map[view.name] {
                case shard?: views.append(view)
                case let other?: problems.append("\(file.path): \(view.name) is also here, but the index puts it in \(other)")
                case nil: problems.append("\(file.path): \(view.name) is not in the index's weight_map")
                }
            }
            for (name, listed) in map.sorted(by: { $0.key < $1.key }) where listed == shard && file[name] == nil {
                problems.append("\(file.path): \(name) is not in this shard, though the index says it is")
            }
        }
        return (files, views)
    }

    /// Reads expected tensor `name` (a `model.decoder.*` name) as Float32 into `destination`, which must have
    /// exactly its element count, and releases the file pages it came from.
    public func read(_ name: String, into destination: UnsafeMutableBufferPointer<Float>) throws {
        guard let view = tensors[name] else { throw HFWeightsError(folder: folder, problems: ["\(name) is not an expected tensor"]) }
        try view.read(into: destination)
        view.releaseMemory()
    }

    /// Reads expected tensor `name` as Float32.
    public func read(_ name: String) throws -> [Float] {
        guard let view = tensors[name] else { throw HFWeightsError(folder: folder, problems: ["\(name) is not an expected tensor"]) }
        return try [Float](unsafeUninitializedCapacity: view.count) { buffer, initialized in
            try read(name, into: buffer)
            initialized = view.count
        }
    }

    /// Writes `folder/model.safetensors` (creating the folder) as transformers' `save_pretrained` does for
    /// OPT: `model.decoder.*` names only (the tied lm_head is not stored), `__metadata__` {"format": "pt"},
    /// every tensor converted to `dtype`. Returns the file's path.
    @discardableResult
    public static func writeSafetensors(_ tensors: [Float32Tensor], dtype: TensorDType, folder: String) throws -> String {
        let path = "\(folder)/\(HFWeightsFormat.safetensors.rawValue)"
        if let bad = tensors.first(where: { !$0.name.hasPrefix("model.decoder.") }) {
            throw TensorFileError(file: path, object: bad.name, "a Hugging Face OPT tensor name starts with model.decoder.")
        }
        try Folders.create(folder)
        try SafetensorsFile.write(tensors, dtype: dtype, metadata: ["format": "pt"], to: path)
        return path
    }
}
