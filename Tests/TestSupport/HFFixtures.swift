import Foundation
import Storage

/// The Hugging Face checkpoint fixtures made by scripts/make_hf_fixtures.py (Tests/Fixtures/hf/README.md).
public enum HFFixtures {
    public static let root = ToolTuneBinary.projectRoot.appendingPathComponent("Tests/Fixtures/hf").path
    public static let variants = ["preln", "postln-proj"]

    public static func path(_ relative: String) -> String { "\(root)/\(relative)" }

    public struct Tensor: Sendable {
        public let name: String
        public let shape: [Int]
        public let values: [Float]
    }

    /// The model's tensors as PyTorch rounded them to `dtype` ("fp32", "fp16", "bf16") and widened back.
    public static func expected(_ variant: String, _ dtype: String) throws -> [Tensor] {
        let file = try HDF5File(path("\(variant)/expected.h5"))
        let group = try file.root.group("model_\(dtype)")
        return try group.children().map { child in
            let array = try group.read(child.name, as: Float.self)
            return Tensor(name: child.name, shape: array.shape, values: array.values)
        }
    }

    public static func expectedShapes(_ variant: String) throws -> [(name: String, shape: [Int])] {
        try expected(variant, "fp32").map { ($0.name, $0.shape) }
    }

    /// The fixed input (bos-led, [1, 8]) and transformers' logits [1, 8, vocab] for the weights of `dtype`.
    public static func logits(_ variant: String, _ dtype: String) throws -> (inputIDs: [Int32], logits: HDF5Array<Float>) {
        let root = try HDF5File(path("\(variant)/expected.h5")).root
        return (try root.read("input_ids", as: Int32.self).values, try root.read("logits/\(dtype)", as: Float.self))
    }

    /// The weight folders of a variant, as "<dtype>-<format>" names.
    public static func folders(_ variant: String) throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: path(variant)).filter { !$0.hasSuffix(".h5") }.sorted()
    }
}
