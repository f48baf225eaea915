import OPT
import Storage

extension MicroBatch {
    /// Packed sequences as the rows of one micro-batch, each padded at the end to `length` (the job's
    /// max_seq_len, so every micro-batch of a run has one of few shapes and the model's activation plan is
    /// reused). Padding is masked out as keys, has no targets, and sits in its own segment; each row's
    /// dropout masks follow its sequence index, wherever the sequence is trained.
    public init(packed sequences: [PackedSequence], length: Int, padID: Int32) throws {
        let rows = sequences.count, n = rows * length
        var tokens = [Int32](repeating: padID, count: n), positions = [Int32](repeating: 0, count: n)
        var segments = [Int32](repeating: -1, count: n), mask = [Bool](repeating: false, count: n)
        var targets = [Int32](repeating: -1, count: n)
        for (row, sequence) in sequences.enumerated() {
            guard sequence.count <= length else {
                throw MicroBatchError(message: "sequence \(sequence.index) has \(sequence.count) tokens, more than \(length)")
            }
            let base = row * length
            for i in 0..<sequence.count {
                tokens[base + i] = sequence.tokens[i]
                positions[base + i] = sequence.positions[i]
                segments[base + i] = sequence.segmentIDs[i]
                mask[base + i] = true
                let target = sequence.targets[i]
                targets[base + i] = target == PreparedDatasetFormat.ignoreIndex ? -1 : target
            }
        }
        try self.init(rows: rows, length: length, tokens: tokens, positions: positions, segments: segments,
                      attentionMask: mask, targets: targets, sequenceIDs: sequences.map { UInt64($0.index) })
    }
}
