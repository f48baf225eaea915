import Foundation
import OPT
import Storage

/// Teacher-forced next-token losses of one token sequence, as `tooltune forward` reports them.
public struct NextTokenLosses: Sendable {
    public let tokens: [Int32]
    /// losses[t]: the cross-entropy (natural log) of predicting tokens[t + 1] at position t.
    public let losses: [Float]
    /// [tokens.count, vocab] row-major, when asked for.
    public let logits: [Float]?

    public var meanLoss: Double { losses.reduce(0.0) { $0 + Double($1) } / Double(max(1, losses.count)) }

    /// Runs `model` (eval mode) on `tokens` as one unpadded sequence at positions 0, 1, ...
    public static func compute(model: OPTModel, tokens: [Int32], withLogits: Bool) throws -> NextTokenLosses {
        guard tokens.count >= 2 else {
            throw MicroBatchError(message: "need at least 2 token ids (one prediction), got \(tokens.count)")
        }
        guard tokens.count <= model.config.maxPositionEmbeddings else {
            throw MicroBatchError(message: "\(tokens.count) tokens exceed max_position_embeddings \(model.config.maxPositionEmbeddings)")
        }
        let targets = (0..<tokens.count).map { $0 + 1 < tokens.count ? tokens[$0 + 1] : -1 }
        let batch = try MicroBatch(rows: 1, length: tokens.count, tokens: tokens, targets: targets)
        let result = try model.forward(batch)
        return NextTokenLosses(tokens: tokens, losses: result.targetLosses,
                               logits: withLogits ? try model.logits(batch) : nil)
    }

    /// Writes `input_ids` [1, T] (int32) and `logits` [1, T, vocab] (float32) to a new HDF5 file, atomically.
    public func writeLogits(to path: String, vocab: Int) throws {
        guard let logits else { preconditionFailure("NextTokenLosses.writeLogits: computed without logits") }
        try HDF5File.writeAtomically(to: path) { file in
            let root = try file.root
            try root.write("input_ids", tokens, shape: [1, tokens.count])
            try root.write("logits", logits, shape: [1, tokens.count, vocab], chunkRows: 1)
        }
    }
}
