import Foundation
import Interop
import OPT
import Storage

/// One reference file of Tests/Fixtures/opt (written by scripts/make_reference.py with transformers).
struct Fixture {
    static let folder = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/opt")
    static let names = ["tiny-preln", "tiny-postln-proj", "tiny-preln-proj-nofinal"]
    static let cases = ["batch", "leftpad", "packed"]

    let name: String
    let path: String
    let file: HDF5File

    init(_ name: String) throws {
        self.name = name
        path = Fixture.folder.appendingPathComponent(name + ".h5").path
        file = try HDF5File(path, mode: .readOnly)
    }

    /// A fresh model with the fixture's weights.
    func model() throws -> OPTModel { try ModelCheckpoint.load(path) }

    func ints(_ name: String) throws -> HDF5Array<Int32> { try file.root.read(name, as: Int32.self) }
    func floats(_ name: String) throws -> HDF5Array<Float> { try file.root.read(name, as: Float.self) }

    /// A case as our micro-batch: the positions transformers used, the packed case's segments, the
    /// attention mask, and the labels shifted into targets.
    func microBatch(_ caseName: String) throws -> MicroBatch {
        let group = "cases/\(caseName)/"
        let ids = try ints(group + "input_ids")
        let rows = ids.shape[0], length = ids.shape[1]
        let segments = caseName == "packed" ? try ints(group + "segment_ids").values
            : [Int32](repeating: 0, count: rows * length)
        return try MicroBatch(rows: rows, length: length, tokens: ids.values, positions: try ints(group + "position_ids").values,
                              segments: segments, attentionMask: try ints(group + "attention_mask").values.map { $0 != 0 },
                              targets: try MicroBatch.shiftedTargets(labels: try ints(group + "labels").values,
                                                                     rows: rows, length: length))
    }
}

/// max |a - b|.
func maxAbsDifference(_ a: some Collection<Float>, _ b: some Collection<Float>) -> Double {
    zip(a, b).reduce(0) { max($0, Double(abs($1.0 - $1.1))) }
}

/// max |a - b| / max |b|: the error relative to the reference tensor's scale.
func relativeError(_ a: some Collection<Float>, reference b: some Collection<Float>) -> Double {
    let scale = b.reduce(0) { max($0, Double(abs($1))) }
    return maxAbsDifference(a, b) / max(scale, 1e-30)
}

/// How far a float32 forward loss may be from the exact one, relative to its value: λ·√n·u with u = 2^-24
/// and λ = 6, the probabilistic rounding-error bound of Higham and Mary (SIAM J. Sci. Comput. 41(5), 2019),
/// which holds with probability at least 1 - 2n·exp(-λ²/2) (1 - 3e-5 for the n here) when the rounding
/// errors are independent and mean zero, whatever the summation order. n counts the additions along the
/// longest path from the weights to the loss: per layer the q/k/v and out_proj dot products (hidden), the
/// scores and the weighted values (up to `length` keys each), fc1 (hidden) and fc2 (ffn), and two
/// LayerNorms' means and variances (4 · hidden); then project_in/out, the tied lm_head
/// (word_embed_proj_dim) and the log-sum-exp over the vocabulary. A cross-entropy is a sum of positive
/// terms, so no cancellation magnifies the relative error.
func forwardLossBound(_ c: OPTConfig, length: Int) -> Double {
    let h = c.hiddenSize
    let perLayer = h + 2 * length + h + h + c.ffnDim + 4 * h
    let n = Double(c.numHiddenLayers * perLayer + (c.hasProjections ? 2 * h : 0) + c.wordEmbedProjDim + c.vocabSize)
    return probabilisticBoundFactor * n.squareRoot() * 0x1p-24
}

/// λ of the probabilistic bounds: a sum of independent mean-zero errors, each within ±e_i, exceeds
/// λ·sqrt(Σ e_i²) with probability at most 2·exp(-λ²/2) (Hoeffding): 3e-8 for λ = 6.
let probabilisticBoundFactor = 6.0
