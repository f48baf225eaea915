import Foundation
import Kernels
import Storage
import TestSupport
import Testing

/// Reading the checkpoints transformers and torch.save wrote, and writing what save_pretrained writes.
@Suite struct HFCheckpointFixtureTests {
    static let formats: [String: HFWeightsFormat] = [
        "safetensors": .safetensors, "sharded": .shardedSafetensors, "bin": .pytorchBin,
    ]

    @Test func everyFixtureFolderIsThere() throws {
        #expect(try HFFixtures.folders("preln") == ["fp16-bin", "fp16-safetensors", "fp16-sharded",
                                                     "fp32-bin", "fp32-safetensors", "fp32-sharded"])
        #expect(try HFFixtures.folders("postln-proj") == ["bf16-bin", "bf16-safetensors", "fp16-bin", "fp16-bin-hub",
                                                           "fp16-safetensors", "fp16-sharded", "fp32-bin",
                                                           "fp32-safetensors", "fp32-sharded"])
    }

    /// Every format in every dtype gives PyTorch's values bit for bit (fp16/bf16 widened exactly).
    @Test(arguments: HFFixtures.variants) func everyFormatLoadsBitIdentically(variant: String) throws {
        let shapes = try HFFixtures.expectedShapes(variant)
        for folder in try HFFixtures.folders(variant) {
            let parts = folder.split(separator: "-").map(String.init)
            let expected = try HFFixtures.expected(variant, parts[0])
            let weights = try HFWeights(folder: HFFixtures.path("\(variant)/\(folder)"), expecting: shapes)
            #expect(weights.format == Self.formats[parts[1]], "\(folder)")
            #expect(parts[1] != "sharded" || weights.files.count >= 2, "\(folder) should have several shards")
            for tensor in expected {
                #expect(weights.tensors[tensor.name]?.dtype == TensorDType(option: parts[0]), "\(folder) \(tensor.name)")
                let values = try weights.read(tensor.name)
                #expect(values.map(\.bitPattern) == tensor.values.map(\.bitPattern), "\(folder) \(tensor.name)")
            }
        }
    }

    /// The Hub-style file really has the old names and no lm_head; the torch.save ones have a tied lm_head.
    @Test func binFixturesHaveTheKeysTheyShould() throws {
        let hub = try PyTorchCheckpoint(HFFixtures.path("postln-proj/fp16-bin-hub/pytorch_model.bin")).tensors.map(\.name)
        #expect(hub.allSatisfy { $0.hasPrefix("decoder.") })
        let saved = try PyTorchCheckpoint(HFFixtures.path("postln-proj/fp32-bin/pytorch_model.bin")).tensors.map(\.name)
        #expect(saved.contains(HFWeights.tiedHeadName))
        #expect(saved.filter { $0 != HFWeights.tiedHeadName }.allSatisfy { $0.hasPrefix("model.decoder.") })
    }

    /// Our writer, given the float32 model, writes the very bytes of transformers' save_pretrained in each
    /// dtype: header (names, order, dtypes, shapes, offsets, metadata, padding) and rounded data.
    @Test(arguments: HFFixtures.variants) func writerMatchesSavePretrainedByteForByte(variant: String) throws {
        let model = try HFFixtures.expected(variant, "fp32")
        let folder = try makeTemporaryFolder("hf-writer")
        defer { try? FileManager.default.removeItem(at: folder) }
        for option in ["fp32", "fp16", "bf16"] {
            let reference = HFFixtures.path("\(variant)/\(option)-safetensors/model.safetensors")
            guard FileManager.default.fileExists(atPath: reference) else { continue }
            let out = folder.appendingPathComponent(option).path
            let written = try withFloat32Tensors(model.map { ($0.name, $0.shape, $0.values) }) {
                try HFWeights.writeSafetensors($0, dtype: TensorDType(option: option)!, folder: out)
            }
            let ours = try Data(contentsOf: URL(fileURLWithPath: written))
            let theirs = try Data(contentsOf: URL(fileURLWithPath: reference))
            #expect(ours == theirs, "\(variant) \(option): \(ours.count) bytes written, save_pretrained wrote \(theirs.count)")
        }
    }

    /// torch.save keeps views: a strided view and an expanded (stride 0) one read as their contiguous copies.
    @Test func stridedViewsReadAsTorchMakesThemContiguous() throws {
        let views = try PyTorchCheckpoint(HFFixtures.path("strided.bin")).tensors
        let expected = try SafetensorsFile(HFFixtures.path("strided-expected.safetensors"))
        #expect(Set(views.map(\.name)) == ["base", "t", "e"])
        #expect(views.first { $0.name == "t" }?.isContiguous == false)
        for view in views {
            let reference = try #require(expected[view.name])
            #expect(view.shape == reference.shape, "\(view.name)")
            #expect(try view.floats() == reference.floats(), "\(view.name)")
        }
    }

    /// Float32 -> float16 / bfloat16 rounding agrees with PyTorch's on ties, subnormals, overflow, NaN.
    @Test func roundingMatchesPyTorch() throws {
        let file = try SafetensorsFile(HFFixtures.path("rounding.safetensors"))
        let input = try #require(file["input"]).floats()
        let half = try #require(file["fp16"]).floats()
        let brain = try #require(file["bf16"]).floats()
        #expect(input.count > 400)
        for (i, x) in input.enumerated() {
            let ours16 = HalfPrecision.float(fromFloat16: HalfPrecision.float16(x))
            let oursBF = BFloat16(x).float
            if x.isNaN {
                #expect(ours16.isNaN && half[i].isNaN && oursBF.isNaN && brain[i].isNaN)
            } else {
                #expect(ours16.bitPattern == half[i].bitPattern, "fp16 of \(x) (#\(i)): \(ours16) vs torch \(half[i])")
                #expect(oursBF.bitPattern == brain[i].bitPattern, "bf16 of \(x) (#\(i)): \(oursBF) vs torch \(brain[i])")
            }
        }
    }
}
