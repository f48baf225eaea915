/// A problem with a micro-batch's arrays, naming the field and the offending element.
public struct MicroBatchError: Error, CustomStringConvertible, Equatable {
    public let message: String
    public var description: String { message }
    public init(message: String) { self.message = message }
}

/// `rows` rows of `length` tokens for one forward/backward pass; every array is row-major [rows * length]
/// except `sequenceIDs` [rows].
///
/// A row may hold several packed examples: tokens with the same `segments` id form one example (its
/// tokens must be consecutive), and attention never crosses examples. `positions` are Hugging Face's
/// position ids, before OPT's +2 table offset: they restart at 0 for each packed example, and are -1 on
/// left padding (as transformers computes `cumsum(attention_mask) * attention_mask - 1`).
///
/// `attentionMask` is Hugging Face's: false marks padding, which no query attends to. A query that
/// sees no key at all (left padding) attends uniformly to every key of its row, as transformers' float-min
/// mask makes it; such positions should not be targets.
///
/// `targets` are shifted: `targets[t]` is the token position t predicts, -1 where there is none. (Hugging
/// Face's labels are unshifted: `targets[t] = labels[t + 1]`, see `shiftedTargets(labels:rows:length:)`.)
///
/// `sequenceIDs` name each row's sequence for dropout: the same id gets the same masks wherever and with
/// whatever it is batched (the trainer passes the packed sequence's index in the dataset).
public struct MicroBatch: Sendable, Equatable {
    public let rows: Int
    public let length: Int
    public let tokens: [Int32]
    public let positions: [Int32]
    public let segments: [Int32]
    public let attentionMask: [Bool]
    public let targets: [Int32]
    public let sequenceIDs: [UInt64]

    /// Checks the array sizes, the target markers and that each segment's tokens are consecutive. Token,
    /// position and target ranges depend on the model and are checked by `validate(for:)`.
    public init(rows: Int, length: Int, tokens: [Int32], positions: [Int32], segments: [Int32],
                attentionMask: [Bool], targets: [Int32], sequenceIDs: [UInt64]? = nil) throws {
        guard rows >= 1, length >= 1 else { throw MicroBatchError(message: "micro-batch shape \(rows) x \(length) is empty") }
        let n = rows * length
        for (name, count) in [("tokens", tokens.count), ("positions", positions.count), ("segments", segments.count),
                              ("attentionMask", attentionMask.count), ("targets", targets.count)] where count != n {
            throw MicroBatchError(message: "\(name) has \(count) values; \(rows) x \(length) needs \(n)")
        }
        let ids = sequenceIDs ?? (0..<rows).map(UInt64.init)
        guard ids.count == rows else {
            throw MicroBatchError(message: "sequenceIDs has \(ids.count) values for \(rows) rows")
        }
        for i in 0..<n where targets[i] < -1 {
            throw MicroBatchError(message: "targets[\(i / length), \(i % length)] = \(targets[i]); use -1 for no target")
        }
        for b in 0..<rows {
            var finished = Set<Int32>()
            for t in 1..<max(1, length) {
                let previous = segments[b * length + t - 1], current = segments[b * length + t]
                if current != previous {
                    finished.insert(previous)
                    if finished.contains(current) {
                        throw MicroBatchError(message: "segments[\(b), \(t)] = \(current): segment \(current) already ended in row \(b); a segment's tokens must be consecutive")
                    }
                }
            }
        }
        self.rows = rows
        self.length = length
        self.tokens = tokens
        self.positions = positions
        self.segments = segments
        self.attentionMask = attentionMask
        self.targets = targets
        self.sequenceIDs = ids
    }

    /// Unpadded rows of one sequence each: positions 0..<length, every token attended.
    public init(rows: Int, length: Int, tokens: [Int32], targets: [Int32], sequenceIDs: [UInt64]? = nil) throws {
        try self.init(rows: rows, length: length, tokens: tokens,
                      positions: (0..<rows * length).map { Int32($0 % max(1, length)) },
                      segments: [Int32](repeating: 0, count: rows * length),
                      attentionMask: [Bool](repeating: true, count: rows * length),
                      targets: targets, sequenceIDs: sequenceIDs)
    }

    /// What transformers' OPT does with `input_ids`, `attention_mask` and `labels` and no explicit
    /// position ids: positions `cumsum(mask) * mask - 1`, one segment per row, shifted labels as targets.
    public init(huggingFaceInputIDs inputIDs: [Int32], attentionMask: [Int32], labels: [Int32], rows: Int, length: Int,
                sequenceIDs: [UInt64]? = nil) throws {
        guard attentionMask.count == rows * length else {
            throw MicroBatchError(message: "attention_mask has \(attentionMask.count) values; \(rows) x \(length) needs \(rows * length)")
        }
        var positions = [Int32](repeating: 0, count: rows * length)
        for b in 0..<rows {
            var seen: Int32 = 0
            for t in 0..<length {
                let m = attentionMask[b * length + t]
                seen += m
                positions[b * length + t] = seen * m - 1
            }
        }
        try self.init(rows: rows, length: length, tokens: inputIDs, positions: positions,
                      segments: [Int32](repeating: 0, count: rows * length),
                      attentionMask: attentionMask.map { $0 != 0 },
                      targets: try MicroBatch.shiftedTargets(labels: labels, rows: rows, length: length),
                      sequenceIDs: sequenceIDs)
    }

    /// Hugging Face's unshifted labels (-100 = ignored) as our shifted targets (-1 = none):
    /// `targets[t] = labels[t + 1]`, and the last position of each row predicts nothing.
    public static func shiftedTargets(labels: [Int32], rows: Int, length: Int, ignoreIndex: Int32 = -100) throws -> [Int32] {
        guard labels.count == rows * length else {
            throw MicroBatchError(message: "labels has \(labels.count) values; \(rows) x \(length) needs \(rows * length)")
        }
        var targets = [Int32](repeating: -1, count: rows * length)
        for b in 0..<rows {
            for t in 0..<(length - 1) {
                let label = labels[b * length + t + 1]
                if label != ignoreIndex { targets[b * length + t] = label }
            }
        }
        return targets
    }

    /// The number of positions with a target.
    public var targetCount: Int { targets.reduce(0) { $0 + ($1 >= 0 ? 1 : 0) } }

    /// Checks every token, position and target against `config`'s vocabulary and position table.
    public func validate(for config: OPTConfig) throws {
        func at(_ i: Int) -> String { "[\(i / length), \(i % length)]" }
        let positionRows = config.maxPositionEmbeddings + OPTConfig.positionOffset
        for i in 0..<tokens.count where tokens[i] < 0 || Int(tokens[i]) >= config.vocabSize {
            throw MicroBatchError(message: "tokens\(at(i)) = \(tokens[i]) is outside the vocabulary 0..<\(config.vocabSize)")
        }
        for i in 0..<positions.count {
            let row = Int(positions[i]) + OPTConfig.positionOffset
            if row < 0 || row >= positionRows {
                throw MicroBatchError(message: "positions\(at(i)) = \(positions[i]) is outside -\(OPTConfig.positionOffset)..<\(config.maxPositionEmbeddings) (max_position_embeddings)")
            }
        }
        for i in 0..<targets.count where Int(targets[i]) >= config.vocabSize {
            throw MicroBatchError(message: "targets\(at(i)) = \(targets[i]) is outside the vocabulary 0..<\(config.vocabSize)")
        }
    }
}
