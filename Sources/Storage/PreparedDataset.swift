import Foundation

/// The prepared dataset file (`tooltune prepare` writes it, the trainer reads it): tokenized examples with
/// their loss masks, packed into sequences of at most `max_seq_len` tokens.
///
/// ```
/// /tokens                   int32 [T]    every example's tokens (BOS first), examples in sequence order
/// /loss_mask                uint8 [T]    1 = the token is a training target (predicted from the ones before)
/// /examples/offsets         int64 [E+1]  example e is tokens[offsets[e] ..< offsets[e+1]]
/// /examples/input_index     int64 [E]    the example's position in input order (files sorted by path)
/// /sequences/example_offsets int64 [S+1] the packing plan: sequence s holds examples
///                                        [example_offsets[s] ..< example_offsets[s+1]], contiguous in /tokens
/// /sequences/target_counts  int32 [S]    loss-mask ones per sequence
/// attributes of /: format = "tooltune.prepared-dataset", format_version, tokenizer_sha256, template,
///   loss_turns, max_seq_len, bos_id, eos_id, max_token_id, packing, sources (JSON), counts (JSON), fit (JSON)
/// ```
/// This file knows nothing of ToolBench: the metadata strings are whatever the writer passes.
public enum PreparedDatasetFormat {
    public static let name = "tooltune.prepared-dataset"
    public static let version = 1
    /// PyTorch's ignore_index: the label of a position that has no target.
    public static let ignoreIndex: Int32 = -100
}

/// What the attributes of a prepared dataset say.
public struct PreparedDatasetMetadata: Sendable, Equatable {
    public var tokenizerSHA256: String
    /// The conversation template, e.g. "tool-llama-single-round".
    public var template: String
    /// Which turns the loss covers, e.g. "last-assistant".
    public var lossTurns: String
    public var maxSeqLen: Int
    public var bosID: Int
    public var eosID: Int
    /// "best-fit-decreasing" or "none".
    public var packing: String
    /// JSON text: where the examples came from.
    public var sourcesJSON: String
    /// JSON text: example and token counts, what fitting did.
    public var countsJSON: String
    /// JSON text: the fit policy.
    public var fitJSON: String

    public init(tokenizerSHA256: String, template: String, lossTurns: String, maxSeqLen: Int, bosID: Int, eosID: Int,
                packing: String, sourcesJSON: String, countsJSON: String, fitJSON: String) {
        self.tokenizerSHA256 = tokenizerSHA256
        self.template = template
        self.lossTurns = lossTurns
        self.maxSeqLen = maxSeqLen
        self.bosID = bosID
        self.eosID = eosID
        self.packing = packing
        self.sourcesJSON = sourcesJSON
        self.countsJSON = countsJSON
        self.fitJSON = fitJSON
    }
}

/// A problem with a prepared dataset file, naming the file.
public struct PreparedDatasetError: Error, CustomStringConvertible {
    public let path: String
    public let message: String
    public var description: String { "\(path): \(message)" }
}

public enum PreparedDatasetWriter {
    /// Tokens per chunk of /tokens and /loss_mask: a sequence read touches one or two chunks.
    static let chunkTokens = 16_384

    /// Writes the dataset atomically (a reader sees no file or the whole file). `examples[s]` lists the
    /// examples of sequence s as (tokens, loss mask, input index); every sequence must be non-empty and
    /// hold at most `metadata.maxSeqLen` tokens.
    public static func write(to path: String, sequences: [[(tokens: [Int32], lossMask: [UInt8], inputIndex: Int)]],
                             metadata: PreparedDatasetMetadata) throws {
        var tokens: [Int32] = []
        var mask: [UInt8] = []
        var exampleOffsets: [Int64] = [0]
        var inputIndex: [Int64] = []
        var sequenceOffsets: [Int64] = [0]
        var targetCounts: [Int32] = []
        var maxTokenID: Int32 = -1
        for (s, examples) in sequences.enumerated() {
            let start = tokens.count
            var targets: Int32 = 0
            guard !examples.isEmpty else { throw PreparedDatasetError(path: path, message: "sequence \(s) has no examples") }
            for example in examples {
                guard example.tokens.count == example.lossMask.count, !example.tokens.isEmpty else {
                    throw PreparedDatasetError(path: path, message: "example \(example.inputIndex): \(example.tokens.count) tokens, \(example.lossMask.count) mask values")
                }
                // Nothing predicts an example's first token: a target there would be counted in the loss's
                // denominator but never trained.
                guard example.lossMask[0] == 0 else {
                    throw PreparedDatasetError(path: path, message: "example \(example.inputIndex): its first token is marked as a target; nothing predicts it")
                }
                tokens += example.tokens
                mask += example.lossMask
                targets += Int32(example.lossMask.reduce(0) { $0 + Int($1) })
                maxTokenID = max(maxTokenID, example.tokens.max()!)
                exampleOffsets.append(Int64(tokens.count))
                inputIndex.append(Int64(example.inputIndex))
            }
            guard tokens.count - start <= metadata.maxSeqLen else {
                throw PreparedDatasetError(path: path, message: "sequence \(s) has \(tokens.count - start) tokens > max_seq_len \(metadata.maxSeqLen)")
            }
            sequenceOffsets.append(Int64(exampleOffsets.count - 1))
            targetCounts.append(targets)
        }
        try AtomicFile.write(to: path) { temporary in
            let file = try HDF5File(temporary, mode: .createExclusive)
            let root = try file.root
            let chunk = min(chunkTokens, max(1, tokens.count))
            try root.write("tokens", tokens, chunkRows: chunk, deflate: 4)
            try root.write("loss_mask", mask, chunkRows: chunk, deflate: 4)
            try root.write("examples/offsets", exampleOffsets)
            try root.write("examples/input_index", inputIndex)
            try root.write("sequences/example_offsets", sequenceOffsets)
            try root.write("sequences/target_counts", targetCounts)
            try root.setAttribute("format", PreparedDatasetFormat.name)
            try root.setAttribute("format_version", PreparedDatasetFormat.version)
            try root.setAttribute("tokenizer_sha256", metadata.tokenizerSHA256)
            try root.setAttribute("template", metadata.template)
            try root.setAttribute("loss_turns", metadata.lossTurns)
            try root.setAttribute("max_seq_len", metadata.maxSeqLen)
            try root.setAttribute("bos_id", metadata.bosID)
            try root.setAttribute("eos_id", metadata.eosID)
            try root.setAttribute("max_token_id", Int(maxTokenID))
            try root.setAttribute("packing", metadata.packing)
            try root.setAttribute("sources", metadata.sourcesJSON)
            try root.setAttribute("counts", metadata.countsJSON)
            try root.setAttribute("fit", metadata.fitJSON)
            try file.close()
        }
    }
}

/// One packed sequence, ready for the model: inputs, next-token labels, positions and example ids.
public struct PackedSequence: Sendable, Equatable {
    /// The sequence's index in the file.
    public var index: Int
    /// Input token ids, length n.
    public var tokens: [Int32]
    /// The label of position i: `tokens[i+1]` when that token is a target of the same example, else
    /// `PreparedDatasetFormat.ignoreIndex` (-100). The last position of every example has no label.
    public var targets: [Int32]
    /// Position ids, restarting at 0 for every example (OPT adds its offset of 2 itself).
    public var positions: [Int32]
    /// Which example of the sequence each position belongs to (0, 0, ..., 1, 1, ...): attention stays
    /// inside an example (block-diagonal causal mask).
    public var segmentIDs: [Int32]
    /// Start of each example within the sequence, plus n at the end.
    public var boundaries: [Int]

    public init(index: Int, tokens: [Int32], targets: [Int32], positions: [Int32], segmentIDs: [Int32], boundaries: [Int]) {
        self.index = index
        self.tokens = tokens
        self.targets = targets
        self.positions = positions
        self.segmentIDs = segmentIDs
        self.boundaries = boundaries
    }

    public var count: Int { tokens.count }
    /// Positions with a label.
    public var targetCount: Int { targets.reduce(0) { $0 + ($1 == PreparedDatasetFormat.ignoreIndex ? 0 : 1) } }
}

/// Reads a prepared dataset without loading all of it: the offsets (small) are read when opening,
/// tokens and masks per sequence or range of sequences by hyperslab.
public final class PreparedDataset {
    public let path: String
    public let metadata: PreparedDatasetMetadata
    public let formatVersion: Int
    /// Largest token id in the file, to check against the model's vocabulary.
    public let maxTokenID: Int
    /// Token offset of each example, plus the total at the end (E+1 values).
    public let exampleOffsets: [Int64]
    /// First example of each sequence, plus E at the end (S+1 values).
    public let sequenceExampleOffsets: [Int64]
    /// Loss-mask ones per sequence.
    public let targetCounts: [Int32]
    /// Each example's position in input order (files sorted by path).
    public let inputIndex: [Int64]
    private let file: HDF5File
    private let tokens: HDF5Dataset
    private let lossMask: HDF5Dataset

    public var sequenceCount: Int { sequenceExampleOffsets.count - 1 }
    public var exampleCount: Int { exampleOffsets.count - 1 }
    public var tokenCount: Int { Int(exampleOffsets.last ?? 0) }

    /// Opens and checks a prepared dataset: format name and version, the datasets and their types, and
    /// that the offsets are consistent. Errors name the file and what is wrong.
    public init(path: String) throws {
        self.path = path
        func fail(_ message: String) -> PreparedDatasetError { PreparedDatasetError(path: path, message: message) }
        let file: HDF5File
        do {
            file = try HDF5File(path, mode: .readOnly)
        } catch let error as HDF5Error {
            throw fail("not a prepared dataset: \(error.message)")
        }
        self.file = file
        let root = try file.root
        guard root.hasAttribute("format"), let format = try? root.stringAttribute("format") else {
            throw fail("not a prepared dataset (no 'format' attribute; `tooltune prepare` writes these files)")
        }
        guard format == PreparedDatasetFormat.name else {
            throw fail("not a prepared dataset: its format is \"\(format)\", expected \"\(PreparedDatasetFormat.name)\"")
        }
        let version = try root.intAttribute("format_version")
        guard version == PreparedDatasetFormat.version else {
            throw fail("prepared dataset format_version \(version); this build reads version \(PreparedDatasetFormat.version)"
                       + (version > PreparedDatasetFormat.version ? " (written by a newer ToolTune)" : "; prepare it again"))
        }
        formatVersion = version
        metadata = PreparedDatasetMetadata(
            tokenizerSHA256: try root.stringAttribute("tokenizer_sha256"), template: try root.stringAttribute("template"),
            lossTurns: try root.stringAttribute("loss_turns"), maxSeqLen: try root.intAttribute("max_seq_len"),
            bosID: try root.intAttribute("bos_id"), eosID: try root.intAttribute("eos_id"),
            packing: try root.stringAttribute("packing"), sourcesJSON: try root.stringAttribute("sources"),
            countsJSON: try root.stringAttribute("counts"), fitJSON: try root.stringAttribute("fit"))
        maxTokenID = try root.intAttribute("max_token_id")

        func oneDimensional(_ name: String, _ type: HDF5ElementType) throws -> HDF5Dataset {
            guard root.contains(name) else { throw fail("missing the dataset /\(name)") }
            let dataset = try root.dataset(name)
            guard dataset.shape.count == 1 else { throw fail("/\(name) has shape \(dataset.shape), expected one dimension") }
            guard dataset.elementType == type else { throw fail("/\(name) is \(dataset.typeName), expected \(type)") }
            return dataset
        }
        tokens = try oneDimensional("tokens", .int32)
        lossMask = try oneDimensional("loss_mask", .uint8)
        exampleOffsets = try oneDimensional("examples/offsets", .int64).read(as: Int64.self)
        sequenceExampleOffsets = try oneDimensional("sequences/example_offsets", .int64).read(as: Int64.self)
        targetCounts = try oneDimensional("sequences/target_counts", .int32).read(as: Int32.self)
        inputIndex = try oneDimensional("examples/input_index", .int64).read(as: Int64.self)

        let total = tokens.shape[0]
        guard lossMask.shape[0] == total else { throw fail("/loss_mask has \(lossMask.shape[0]) values, /tokens \(total)") }
        guard exampleOffsets.first == 0, exampleOffsets.last == Int64(total),
              zip(exampleOffsets, exampleOffsets.dropFirst()).allSatisfy({ $0 < $1 }) else {
            throw fail("/examples/offsets must rise from 0 to the token count \(total)")
        }
        let examples = Int64(exampleOffsets.count - 1)
        guard sequenceExampleOffsets.first == 0, sequenceExampleOffsets.last == examples,
              zip(sequenceExampleOffsets, sequenceExampleOffsets.dropFirst()).allSatisfy({ $0 < $1 }) else {
            throw fail("/sequences/example_offsets must rise from 0 to the example count \(examples)")
        }
        guard inputIndex.count == exampleOffsets.count - 1 else {
            throw fail("/examples/input_index has \(inputIndex.count) values for \(exampleOffsets.count - 1) examples")
        }
        guard targetCounts.count == sequenceExampleOffsets.count - 1 else {
            throw fail("/sequences/target_counts has \(targetCounts.count) values for \(sequenceExampleOffsets.count - 1) sequences")
        }
        for s in 0..<(sequenceExampleOffsets.count - 1) where tokenRange(ofSequence: s).count > metadata.maxSeqLen {
            throw fail("sequence \(s) has \(tokenRange(ofSequence: s).count) tokens > max_seq_len \(metadata.maxSeqLen)")
        }
    }

    /// Where sequence `s` lies in /tokens.
    public func tokenRange(ofSequence s: Int) -> Range<Int> {
        Int(exampleOffsets[Int(sequenceExampleOffsets[s])])..<Int(exampleOffsets[Int(sequenceExampleOffsets[s + 1])])
    }

    public func length(ofSequence s: Int) -> Int { tokenRange(ofSequence: s).count }

    /// Every sequence's length in tokens (what the coordinator's `EpochPlanner` balances).
    public var sequenceLengths: [Int] { (0..<sequenceCount).map(length(ofSequence:)) }

    /// One example's tokens (BOS first) and loss mask.
    public func readExample(_ e: Int) throws -> (tokens: [Int32], lossMask: [UInt8]) {
        guard e >= 0, e < exampleCount else {
            throw PreparedDatasetError(path: path, message: "example \(e) outside 0..<\(exampleCount)")
        }
        let range = Int(exampleOffsets[e])..<Int(exampleOffsets[e + 1])
        return (try tokens.readRows(range, as: Int32.self), try lossMask.readRows(range, as: UInt8.self))
    }

    /// Reads one sequence.
    public func readSequence(_ s: Int) throws -> PackedSequence {
        try readSequences(s..<s + 1)[0]
    }

    /// Reads consecutive sequences with one hyperslab read of tokens and one of masks.
    public func readSequences(_ range: Range<Int>) throws -> [PackedSequence] {
        guard range.lowerBound >= 0, range.upperBound <= sequenceCount else {
            throw PreparedDatasetError(path: path, message: "sequences \(range) outside 0..<\(sequenceCount)")
        }
        if range.isEmpty { return [] }
        let first = tokenRange(ofSequence: range.lowerBound).lowerBound
        let end = tokenRange(ofSequence: range.upperBound - 1).upperBound
        let ids = try tokens.readRows(first..<end, as: Int32.self)
        let mask = try lossMask.readRows(first..<end, as: UInt8.self)
        return range.map { s in
            let span = tokenRange(ofSequence: s)
            let n = span.count
            var sequence = PackedSequence(index: s, tokens: Array(ids[(span.lowerBound - first)..<(span.upperBound - first)]),
                                          targets: [Int32](repeating: PreparedDatasetFormat.ignoreIndex, count: n),
                                          positions: [Int32](repeating: 0, count: n),
                                          segmentIDs: [Int32](repeating: 0, count: n), boundaries: [])
            let examples = Int(sequenceExampleOffsets[s])..<Int(sequenceExampleOffsets[s + 1])
            for (k, e) in examples.enumerated() {
                let a = Int(exampleOffsets[e]) - span.lowerBound
                let b = Int(exampleOffsets[e + 1]) - span.lowerBound
                sequence.boundaries.append(a)
                for i in a..<b {
                    sequence.positions[i] = Int32(i - a)
                    sequence.segmentIDs[i] = Int32(k)
                    if i + 1 < b, mask[span.lowerBound - first + i + 1] != 0 { sequence.targets[i] = sequence.tokens[i + 1] }
                }
            }
            sequence.boundaries.append(n)
            return sequence
        }
    }
}
