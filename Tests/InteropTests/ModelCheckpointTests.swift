import Foundation
import Interop
import OPT
import Storage
import Testing
import TestSupport

@Suite struct ModelCheckpointTests {
    let folder: URL

    init() throws { folder = try makeTemporaryFolder("checkpoint") }

    static var config: OPTConfig {
        var c = OPTConfig.make(hidden: 16, layers: 2, heads: 2, ffn: 24, embedDim: 8, preLN: false, vocab: 50, positions: 20)
        c.dropout = 0.05
        return c
    }

    @Test func savesAndLoadsEveryTensorAndTheConfig() throws {
        let model = try OPTModel(config: Self.config, seed: 3)
        let path = folder.appendingPathComponent("model.h5").path
        try ModelCheckpoint.save(model, to: path)
        let loaded = try ModelCheckpoint.load(path)
        #expect(loaded.config == model.config)
        #expect(loaded.parameters.array == model.parameters.array)
        // transformers' layout: one float32 dataset per tensor in its own shape, config JSON at the root.
        let file = try HDF5File(path)
        #expect(try file.root.group("model").dataset("model.decoder.project_in.weight").shape == [16, 8])
        #expect(try file.root.jsonAttribute("model_config", as: [String: JSONValue].self)["word_embed_proj_dim"] == .number(8))
    }

    @Test func theFixturesLoadAsModels() throws {
        let path = ToolTuneBinary.projectRoot.appendingPathComponent("Tests/Fixtures/opt/tiny-postln-proj.h5").path
        let model = try ModelCheckpoint.load(path)
        #expect(model.config.wordEmbedProjDim == 32 && !model.config.doLayerNormBefore && model.config.numHiddenLayers == 3)
    }

    @Test func aModelOfAnotherShapeIsRefusedByName() throws {
        let path = folder.appendingPathComponent("small.h5").path
        try ModelCheckpoint.save(try OPTModel(config: Self.config, seed: 1), to: path)
        var other = Self.config
        other.ffnDim = 32
        let error = try #require(throws: HDF5Error.self) {
            try ModelCheckpoint.read(into: try OPTModel(config: other), from: try HDF5File(path))
        }
        #expect("\(error)".contains(path) && "\(error)".contains("model.decoder.layers.0.fc1.weight: shape [24, 16], expected [32, 16]"))
    }

    @Test func anUnsupportedConfigIsRefusedWithTheFile() throws {
        let path = folder.appendingPathComponent("gelu.h5").path
        let file = try HDF5File(path, mode: .create)
        var config = Self.config
        config.activationFunction = "gelu"
        try file.root.setJSONAttribute("model_config", config)
        try file.close()
        let error = try #require(throws: ModelCheckpointError.self) { try ModelCheckpoint.load(path) }
        #expect("\(error)".contains(path) && "\(error)".contains("gelu"))
    }
}

/// Enough of JSON to look at one value of an attribute.
enum JSONValue: Decodable, Equatable {
    case number(Double), string(String), bool(Bool), other

    init(from decoder: Decoder) throws {
        let c = try decoder.singleValueContainer()
        if let b = try? c.decode(Bool.self) { self = .bool(b) }
        else if let n = try? c.decode(Double.self) { self = .number(n) }
        else if let s = try? c.decode(String.self) { self = .string(s) }
        else { self = .other }
    }
}
