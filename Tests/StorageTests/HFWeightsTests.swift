import Foundation
import Storage
import TestSupport
import Testing

/// The strict model-folder loader: names, prefixes, the tied head, shapes, shards.
@Suite struct HFWeightsTests {
    let folder: URL

    init() throws { folder = try makeTemporaryFolder("hf-weights") }

    static let expected: [(name: String, shape: [Int])] = [
        ("model.decoder.embed_tokens.weight", [3, 2]),
        ("model.decoder.layers.0.fc1.bias", [2]),
    ]
    static let embedding: [Float] = [1, 2, 3, 4, 5, 6]
    static let bias: [Float] = [0.5, -0.5]

    /// A model folder holding one model.safetensors with `tensors`.
    func modelFolder(_ name: String, _ tensors: [(name: String, shape: [Int], values: [Float])],
                     dtype: TensorDType = .float32) throws -> String {
        let path = folder.appendingPathComponent(name).path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        try withFloat32Tensors(tensors) { try SafetensorsFile.write($0, dtype: dtype, to: "\(path)/model.safetensors") }
        return path
    }

    func problems(_ path: String) -> String {
        errorText { _ = try HFWeights(folder: path, expecting: Self.expected) }
    }

    @Test func acceptsBothPrefixesAndAnEqualTiedHead() throws {
        let hub = try modelFolder("hub", [("decoder.embed_tokens.weight", [3, 2], Self.embedding),
                                          ("decoder.layers.0.fc1.bias", [2], Self.bias),
                                          ("lm_head.weight", [3, 2], Self.embedding)], dtype: .float16)
        let weights = try HFWeights(folder: hub, expecting: Self.expected)
        #expect(weights.format == .safetensors)
        #expect(try weights.read("model.decoder.embed_tokens.weight") == Self.embedding)
        #expect(try weights.read("model.decoder.layers.0.fc1.bias") == Self.bias)
        #expect(weights.tensors["model.decoder.layers.0.fc1.bias"]?.name == "decoder.layers.0.fc1.bias")
    }

    @Test func everyProblemIsNamedTogether() throws {
        let bad = try modelFolder("bad", [("model.decoder.embed_tokens.weight", [2, 3], Self.embedding),
                                          ("model.decoder.extra.weight", [1], [0]),
                                          ("something.else", [1], [0])])
        let text = problems(bad)
        let file = "\(bad)/model.safetensors"
        #expect(text.hasPrefix("\(bad): 4 problems:"), "\(text)")
        #expect(text.contains("\(file): model.decoder.embed_tokens.weight has shape [2, 3], expected [3, 2]"))
        #expect(text.contains("\(file): missing tensor model.decoder.layers.0.fc1.bias [2]"))
        #expect(text.contains("\(file): unexpected tensor model.decoder.extra.weight"))
        #expect(text.contains("\(file): unexpected tensor something.else"))
    }

    @Test func tiedHeadMustEqualTheEmbedding() throws {
        var changed = Self.embedding
        changed[4] = 5.5
        let differs = try modelFolder("differs", [("model.decoder.embed_tokens.weight", [3, 2], Self.embedding),
                                                  ("model.decoder.layers.0.fc1.bias", [2], Self.bias),
                                                  ("lm_head.weight", [3, 2], changed)])
        #expect(problems(differs).contains("lm_head.weight differs from model.decoder.embed_tokens.weight (first at element 4: 5.5 vs 5.0)"))
        let shape = try modelFolder("shape", [("model.decoder.embed_tokens.weight", [3, 2], Self.embedding),
                                              ("model.decoder.layers.0.fc1.bias", [2], Self.bias),
                                              ("lm_head.weight", [2, 3], Self.embedding)])
        #expect(problems(shape).contains("lm_head.weight has shape [2, 3], but the tied model.decoder.embed_tokens.weight has [3, 2]"))
    }

    @Test func bothPrefixesForOneTensorIsAnError() throws {
        let both = try modelFolder("both", [("model.decoder.embed_tokens.weight", [3, 2], Self.embedding),
                                            ("decoder.embed_tokens.weight", [3, 2], Self.embedding),
                                            ("model.decoder.layers.0.fc1.bias", [2], Self.bias)])
        #expect(problems(both).contains("are both model.decoder.embed_tokens.weight"))
    }

    @Test func folderWithoutWeightsIsAnError() throws {
        let empty = folder.appendingPathComponent("empty").path
        try FileManager.default.createDirectory(atPath: empty, withIntermediateDirectories: true)
        #expect(problems(empty) == "\(empty): no model.safetensors, model.safetensors.index.json or pytorch_model.bin")
        #expect(problems(folder.appendingPathComponent("nowhere").path).hasSuffix("nowhere: no such folder"))
    }

    /// A copy of the fp32 sharded fixture with its index edited.
    func editedShards(_ name: String, _ edit: (inout [String: String]) -> Void) throws -> String {
        let source = HFFixtures.path("preln/fp32-sharded")
        let copy = folder.appendingPathComponent(name).path
        try FileManager.default.copyItem(atPath: source, toPath: copy)
        let indexPath = "\(copy)/model.safetensors.index.json"
        var index = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: indexPath))) as! [String: Any]
        var map = index["weight_map"] as! [String: String]
        edit(&map)
        index["weight_map"] = map
        try JSONSerialization.data(withJSONObject: index).write(to: URL(fileURLWithPath: indexPath))
        return copy
    }

    @Test func shardIndexMustAgreeWithTheShards() throws {
        let shapes = try HFFixtures.expectedShapes("preln")
        func text(_ path: String) -> String { errorText { _ = try HFWeights(folder: path, expecting: shapes) } }

        let unlisted = try editedShards("unlisted") { $0["model.decoder.layers.0.fc1.bias"] = nil }
        #expect(text(unlisted).contains("model.decoder.layers.0.fc1.bias is not in the index's weight_map"))
        let moved = try editedShards("moved") { map in
            let name = "model.decoder.layers.0.fc1.bias"
            map[name] = Set(map.values).sorted().first { $0 != map[name] }
        }
        #expect(text(moved).contains("model.decoder.layers.0.fc1.bias is also here, but the index puts it in"))
        #expect(text(moved).contains("model.decoder.layers.0.fc1.bias is not in this shard, though the index says it is"))
        let escape = try editedShards("escape") { $0["model.decoder.layers.0.fc1.bias"] = "../preln/x.safetensors" }
        #expect(text(escape).contains(#"weight_map: shard "../preln/x.safetensors" is not a file name in the folder"#))
        let missing = try editedShards("missing-shard") { $0["model.decoder.layers.0.fc1.bias"] = "gone.safetensors" }
        #expect(text(missing).contains("gone.safetensors: cannot open"))
    }

    @Test func writerRefusesNamesTransformersWouldNotLoad() throws {
        let out = folder.appendingPathComponent("out").path
        for name in ["lm_head.weight", "decoder.layers.0.fc1.bias"] {
            let text = errorText {
                try withFloat32Tensors([(name, [2], Self.bias)]) { _ = try HFWeights.writeSafetensors($0, dtype: .float32, folder: out) }
            }
            #expect(text.contains("\(name): a Hugging Face OPT tensor name starts with model.decoder."), "\(text)")
        }
        #expect(!FileManager.default.fileExists(atPath: "\(out)/model.safetensors"))
    }
}
