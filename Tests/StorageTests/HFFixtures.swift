import Foundation
import Storage
import TestSupport

/// The Hugging Face checkpoint fixtures made by scripts/make_hf_fixtures.py (Tests/Fixtures/hf/README.md).
enum HFFixtures {
    static let root = ToolTuneBinary.projectRoot.appendingPathComponent("Tests/Fixtures/hf").path
    static let variants = ["preln", "postln-proj"]

    static func path(_ relative: String) -> String { "\(root)/\(relative)" }

    struct Tensor {
        let name: String
        let shape: [Int]
        let values: [Float]
    }

    /// The model's tensors as PyTorch rounded them to `dtype` ("fp32", "fp16", "bf16") and widened back.
    static func expected(_ variant: String, _ dtype: String) throws -> [Tensor] {
        let file = try HDF5File(path("\(variant)/expected.h5"))
        let group = try file.root.group("model_\(dtype)")
        return try group.children().map { child in
            let array = try group.read(child.name, as: Float.self)
            return Tensor(name: child.name, shape: array.shape, values: array.values)
        }
    }

    static func expectedShapes(_ variant: String) throws -> [(name: String, shape: [Int])] {
        try expected(variant, "fp32").map { ($0.name, $0.shape) }
    }

    /// The weight folders of a variant, as "<dtype>-<format>" names.
    static func folders(_ variant: String) throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: path(variant)).filter { !$0.hasSuffix(".h5") }.sorted()
    }
}

/// Calls `body` with `Float32Tensor`s over `tensors`' values (valid only inside `body`).
func withFloat32Tensors<R>(_ tensors: [(name: String, shape: [Int], values: [Float])],
                           _ body: ([Float32Tensor]) throws -> R) rethrows -> R {
    let flat = tensors.flatMap(\.values)
    return try flat.withUnsafeBufferPointer { buffer in
        var start = 0
        let views = tensors.map { tensor in
            defer { start += tensor.values.count }
            return Float32Tensor(name: tensor.name, shape: tensor.shape,
                                 values: UnsafeBufferPointer(rebasing: buffer[start..<(start + tensor.values.count)]))
        }
        return try body(views)
    }
}

/// The error `body` throws, described, or a note that it threw none.
func errorText(_ body: () throws -> Void) -> String {
    do {
        try body()
        return "no error"
    } catch {
        return "\(error)"
    }
}
