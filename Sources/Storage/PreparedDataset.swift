import Foundation

/// The prepared dataset file (`tooltune prepare` writes it, the trainer reads it): tokenized examples with
/// their labels, in chains of shared prefixes, packed into sequences of at most `max_seq_len` tokens.
///
/// ```
/// /tokens                   int32 [T]    every chain's tokens (BOS first), chains in sequence order
/// /loss_mask                uint8 [T]    1 = the position has a label (predicted from the tokens before): the
///                                        token there, or EOS where /examples/eos_label says so
/// /examples/offsets         int64 [E+1]  example e adds tokens[offsets[e] ..< offsets[e+1]] to its chain; its
///                                        labels all lie there
/// /examples/input_index     int64 [E]    the example's position in input order (files sorted by path)
/// /examples/extends_chain   uint8 [E]    1 = example e goes on from example e-1 (whose tokens are its
///                                        context: one attention block, positions going on), 0 = starts a chain
/// /examples/eos_label       uint8 [E]    1 = the label of example e's last position is EOS in place of the
///                                        token there (a longer example of the chain goes on from it)
/// /sequences/example_offsets int64 [S+1] the packing plan: sequence s holds examples
///                                        [example_offsets[s] ..< example_offsets[s+1]] (whole chains),
///                                        contiguous in /tokens
/// /sequences/target_counts  int32 [S]    loss-mask ones per sequence
/// attributes of /: format = "tooltune.prepared-dataset", format_version, tokenizer_sha256, template,
///   loss_turns, max_seq_len, bos_id, eos_id, max_token_id, packing, prefix_sharing, sources (JSON),
///   counts (JSON), fit (JSON)
/// ```
/// Example e on its own is its chain's tokens from the chain's start up to offsets[e+1] (the last one EOS
/// when eos_label[e]) with the labels of its own span. Without shared prefixes every example is a chain of
/// one. This file knows nothing of ToolBench: the metadata strings are whatever the writer passes.
public enum PreparedDatasetFormat {
    public static let name = "tooltune.prepared-dataset"
    /// 2: labels apart from inputs (shared prefixes: /examples/extends_chain, /examples/eos_label, the
    /// prefix_sharing attribute). Version 1 files are refused: `tooltune prepare` writes them again.
    public static let version = 2
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
    /// "token-prefix" (examples sharing a prefix are chained) or "none".
    public var prefixSharing: String
    /// JSON text: where the examples came from.
    public var sourcesJSON: String
    /// JSON text: example and token counts, what fitting did.
    public var countsJSON: String
    /// JSON text: the fit policy.
    public var fitJSON: String

    public init(tokenizerSHA256: String, template: String, lossTurns: String, maxSeqLen: Int, bosID: Int, eosID: Int,
                packing: String, prefixSharing: String = "none", sourcesJSON: String, countsJSON: String, fitJSON: String) {
        self.tokenizerSHA256 = tokenizerSHA256
        self.template = template
        self.lossTurns = lossTurns
        self.maxSeqLen = maxSeqLen
        self.bosID = bosID
        self.eosID = eosID
        self.packing = packing
        self.prefixSharing = prefixSharing
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

/// One example as the file stores it: the tokens it adds to its chain and their loss mask.
public struct PreparedExample: Sendable, Equatable {
    /// The example's tokens after those of the example it extends (a chain's first example: all of them,
    /// BOS first).
    public var tokens: [Int32]
    public var lossMask: [UInt8]
    /// Its position in input order.
    public var inputIndex: Int
    /// It goes on from the example before it in the sequence (a longer example of the same chain).
    public var extendsChain: Bool
    /// The label of its last position is EOS in place of its last token (that token is the longer
    /// example's, which goes on after it).
    public var eosLabel: Bool

    public init(tokens: [Int32], lossMask: [UInt8], inputIndex: Int, extendsChain: Bool = false, eosLabel: Bool = false) {
        self.tokens = tokens
        self.lossMask = lossMask
        self.inputIndex = inputIndex
        self.extendsChain = extendsChain
        self.eosLabel = eosLabel
    }
}

public enum PreparedDatasetWriter {
    /// Tokens per chunk of /tokens and /loss_mask: a sequence read touches one or two chunks.
    static let chunkTokens = 16_384

    /// Writes the dataset atomically (a reader sees no file or the whole file). `sequences[s]` lists the
    /// examples of sequence s, each chain's shortest first; every sequence must be non-empty, start a
    /// chain and hold at most `metadata.maxSeqLen` tokens.
    public static func write(to path: String, sequences: [[PreparedExample]], metadata: PreparedDatasetMetadata) throws {
        let tokens = sequences.reduce(0) { $0 + $1.reduce(0) { $0 + $1.tokens.count } }
        try stage(to: path, sequenceCount: sequences.count, tokenCount: tokens, metadata: metadata) { sequences[$0] }.publish()
    }

    /// Writes the dataset under a temporary name for the caller to publish (`StagedFile.publish()`),
    /// asking `sequence(s)` for the examples of each sequence in order, s = 0 ..< `sequenceCount` (as for
    /// `write`). Tokens and masks go to the file a chunk at a time, so memory holds one chunk and the
    /// per-example index (offsets, input index, chain and EOS flags: 18 bytes an example) however large
    /// the dataset is. `tokenCount` is the total the sequences hold (the datasets are made that size first).
    public static func stage(to path: String, sequenceCount: Int, tokenCount: Int, metadata: PreparedDatasetMetadata,
                             sequence: (Int) throws -> [PreparedExample]) throws -> StagedFile {
        func fail(_ message: String) -> PreparedDatasetError { PreparedDatasetError(path: path, message: message) }
        return try HDF5File.stage(to: path) { file in
            let root = try file.root
            let chunk = min(chunkTokens, max(1, tokenCount))
            let tokens = try root.createDataset("tokens", of: Int32.self, shape: [tokenCount], chunkRows: chunk, deflate: 4)
            let mask = try root.createDataset("loss_mask", of: UInt8.self, shape: [tokenCount], chunkRows: chunk, deflate: 4)
            var pendingTokens: [Int32] = [], pendingMask: [UInt8] = []
            var written = 0
            // Whole chunks as they fill (a partial chunk would be compressed and rewritten each time).
            func flush(all: Bool) throws {
                var start = 0
                while pendingTokens.count - start >= chunk || (all && start < pendingTokens.count) {
                    let n = min(chunk, pendingTokens.count - start)
                    guard written + n <= tokenCount else { throw fail("the sequences hold more than the \(tokenCount) tokens announced") }
                    try pendingTokens[start..<(start + n)].withUnsafeBufferPointer { try tokens.writeRows(written..<(written + n), $0) }
                    try pendingMask[start..<(start + n)].withUnsafeBufferPointer { try mask.writeRows(written..<(written + n), $0) }
                    written += n
                    start += n
                }
                pendingTokens.removeFirst(start)
                pendingMask.removeFirst(start)
            }
            var exampleOffsets: [Int64] = [0]
            var inputIndex: [Int64] = []
            var extendsChain: [UInt8] = []
            var eosLabel: [UInt8] = []
            var sequenceOffsets: [Int64] = [0]
            var targetCounts: [Int32] = []
            var maxTokenID: Int32 = -1
            var total = 0
            for s in 0..<sequenceCount {
                let examples = try sequence(s)
                guard !examples.isEmpty else { throw fail("sequence \(s) has no examples") }
                var length = 0, targets: Int32 = 0
                for (k, example) in examples.enumerated() {
                    guard example.tokens.count == example.lossMask.count, !example.tokens.isEmpty else {
                        throw fail("example \(example.inputIndex): \(example.tokens.count) tokens, \(example.lossMask.count) mask values")
                    }
                    // Nothing predicts a chain's first token: a target there would be counted in the loss's
                    // denominator but never trained.
                    guard example.extendsChain || example.lossMask[0] == 0 else {
                        throw fail("example \(example.inputIndex): its first token is marked as a target; nothing predicts it")
                    }
                    guard !example.extendsChain || k > 0 else {
                        throw fail("example \(example.inputIndex) extends a chain but starts sequence \(s)")
                    }
                    if example.eosLabel {
                        guard example.lossMask.last == 1, k + 1 < examples.count, examples[k + 1].extendsChain else {
                            throw fail("example \(example.inputIndex) has an EOS label but no target at its end or no longer example after it")
                        }
                    }
                    pendingTokens += example.tokens
                    pendingMask += example.lossMask
                    length += example.tokens.count
                    targets += Int32(example.lossMask.reduce(0) { $0 + Int($1) })
                    maxTokenID = max(maxTokenID, example.tokens.max()!)
                    total += example.tokens.count
                    exampleOffsets.append(Int64(total))
                    inputIndex.append(Int64(example.inputIndex))
                    extendsChain.append(example.extendsChain ? 1 : 0)
                    eosLabel.append(example.eosLabel ? 1 : 0)
                }
                guard length <= metadata.maxSeqLen else {
                    throw fail("sequence \(s) has \(length) tokens > max_seq_len \(metadata.maxSeqLen)")
                }
                sequenceOffsets.append(Int64(exampleOffsets.count - 1))
                targetCounts.append(targets)
                try flush(all: false)
            }
            try flush(all: true)
            guard written == tokenCount else { throw fail("the sequences hold \(written) tokens, not the \(tokenCount) announced") }
            try root.write("examples/offsets", exampleOffsets)
            try root.write("examples/input_index", inputIndex)
            try root.write("examples/extends_chain", extendsChain)
            try root.write("examples/eos_label", eosLabel)
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
            try root.setAttribute("prefix_sharing", metadata.prefixSharing)
            try root.setAttribute("sources", metadata.sourcesJSON)
            try root.setAttribute("counts", metadata.countsJSON)
            try root.setAttribute("fit", metadata.fitJSON)
        }
    }
}

/// One packed sequence, ready for the model: inputs, next-token labels, positions and chain ids.
public struct PackedSequence: Sendable, Equatable {
    /// The sequence's index in the file.
    public var index: Int
    /// Input token ids, length n.
    public var tokens: [Int32]
    /// The label of position i: the label of position i+1 when it has one in the same chain (the token
    /// there, or EOS where an example of the chain ends), else `PreparedDatasetFormat.ignoreIndex` (-100).
    /// The last position of every chain has no label.
    public var targets: [Int32]
    /// Position ids, restarting at 0 for every chain (OPT adds its offset of 2 itself).
    public var positions: [Int32]
    /// Which chain of the sequence each position belongs to (0, 0, ..., 1, 1, ...): attention stays
    /// inside a chain (block-diagonal causal mask).
    public var segmentIDs: [Int32]
    /// Start of each chain within the sequence, plus n at the end.
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
    /// Where each example's own tokens start, plus the total at the end (E+1 values).
    public let exampleOffsets: [Int64]
    /// First example of each sequence, plus E at the end (S+1 values).
    public let sequenceExampleOffsets: [Int64]
    /// Loss-mask ones per sequence.
    public let targetCounts: [Int32]
    /// Each example's position in input order (files sorted by path).
    public let inputIndex: [Int64]
    /// The first example of each example's chain.
    public let chainStart: [Int]
    /// Whether the label at each example's last position is EOS in place of the token there.
    public let eosLabel: [Bool]
    private let file: HDF5File
    private let tokens: HDF5Dataset
    private let lossMask: HDF5Dataset

    public var sequenceCount: Int { sequenceExampleOffsets.count - 1 }
    public var exampleCount: Int { exampleOffsets.count - 1 }
    /// Tokens stored (and trained): each chain once.
    public var tokenCount: Int { Int(exampleOffsets.last ?? 0) }
    public var chainCount: Int { (0..<exampleCount).reduce(0) { $0 + (chainStart[$1] == $1 ? 1 : 0) } }

    /// Opens and checks a prepared dataset: format name and version, the datasets and their types, and
    /// that the offsets and chains are consistent. Errors name the file and what is wrong.
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
            throw fail(Self.versionProblem(version))
        }
        formatVersion = version
        metadata = PreparedDatasetMetadata(
            tokenizerSHA256: try root.stringAttribute("tokenizer_sha256"), template: try root.stringAttribute("template"),
            lossTurns: try root.stringAttribute("loss_turns"), maxSeqLen: try root.intAttribute("max_seq_len"),
            bosID: try root.intAttribute("bos_id"), eosID: try root.intAttribute("eos_id"),
            packing: try root.stringAttribute("packing"), prefixSharing: try root.stringAttribute("prefix_sharing"),
            sourcesJSON: try root.stringAttribute("sources"), countsJSON: try root.stringAttribute("counts"),
            fitJSON: try root.stringAttribute("fit"))
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
        let extendsChain = try oneDimensional("examples/extends_chain", .uint8).read(as: UInt8.self)
        eosLabel = try oneDimensional("examples/eos_label", .uint8).read(as: UInt8.self).map { $0 != 0 }

        let total = tokens.shape[0]
        guard lossMask.shape[0] == total else { throw fail("/loss_mask has \(lossMask.shape[0]) values, /tokens \(total)") }
        guard exampleOffsets.first == 0, exampleOffsets.last == Int64(total),
              zip(exampleOffsets, exampleOffsets.dropFirst()).allSatisfy({ $0 < $1 }) else {
            throw fail("/examples/offsets must rise from 0 to the token count \(total)")
        }
        let examples = exampleOffsets.count - 1
        guard sequenceExampleOffsets.first == 0, sequenceExampleOffsets.last == Int64(examples),
              zip(sequenceExampleOffsets, sequenceExampleOffsets.dropFirst()).allSatisfy({ $0 < $1 }) else {
            throw fail("/sequences/example_offsets must rise from 0 to the example count \(examples)")
        }
        for (name, count) in [("input_index", inputIndex.count), ("extends_chain", extendsChain.count), ("eos_label", eosLabel.count)]
        where count != examples {
            throw fail("/examples/\(name) has \(count) values for \(examples) examples")
        }
        var seen = [Bool](repeating: false, count: inputIndex.count)
        for k in inputIndex {
            guard k >= 0, k < inputIndex.count, !seen[Int(k)] else {
                throw fail("/examples/input_index must hold each of 0..<\(inputIndex.count) once; found \(k) out of place")
            }
            seen[Int(k)] = true
        }
        guard targetCounts.count == sequenceExampleOffsets.count - 1 else {
            throw fail("/sequences/target_counts has \(targetCounts.count) values for \(sequenceExampleOffsets.count - 1) sequences")
        }
        var starts = [Int](repeating: 0, count: examples)
        for e in 0..<examples { starts[e] = extendsChain[e] != 0 && e > 0 ? starts[e - 1] : e }
        chainStart = starts
        for s in 0..<(sequenceExampleOffsets.count - 1) {
            let first = Int(sequenceExampleOffsets[s])
            guard extendsChain[first] == 0 else { throw fail("sequence \(s) starts with example \(first), which extends a chain") }
            guard tokenRange(ofSequence: s).count <= metadata.maxSeqLen else {
                throw fail("sequence \(s) has \(tokenRange(ofSequence: s).count) tokens > max_seq_len \(metadata.maxSeqLen)")
            }
        }
        for e in 0..<examples where eosLabel[e] && (e + 1 == examples || chainStart[e + 1] != chainStart[e]) {
            throw fail("example \(e) has an EOS label but is the last of its chain")
        }
    }

    /// Why a file of format `version` cannot be read by this build.
    static func versionProblem(_ version: Int) -> String {
        let current = PreparedDatasetFormat.version
        if version > current {
            return "prepared dataset format_version \(version) was written by a newer ToolTune; this build reads version \(current)"
        }
        return "prepared dataset format_version \(version) was written by an older ToolTune (before labels apart from inputs, "
            + "for shared prefixes); this build reads version \(current): run `tooltune prepare` on the job again"
    }

    /// Reads every token and mask value once, a block at a time, and checks what the offsets alone
    /// cannot: each token id is in `0..<vocabularySize` (a damaged file, or one prepared with a larger
    /// tokenizer, would index past the model's embeddings), each mask value is 0 or 1, and each
    /// sequence's `/sequences/target_counts` equals its mask's ones (the loss is divided by them).
    /// Errors name the file, the sequence and the token.
    public func checkContents(vocabularySize: Int) throws {
        func fail(_ message: String) -> PreparedDatasetError { PreparedDatasetError(path: path, message: message) }
        var sequence = 0, targets: Int32 = 0
        // Sequences are contiguous in /tokens: close each one's count where the next begins.
        func endSequences(upTo token: Int) throws {
            while sequence < sequenceCount, token >= tokenRange(ofSequence: sequence).upperBound {
                guard targets == targetCounts[sequence] else {
                    throw fail("sequence \(sequence): /sequences/target_counts says \(targetCounts[sequence]) targets, "
                               + "its loss mask has \(targets)")
                }
                sequence += 1
                targets = 0
            }
        }
        let block = 1 << 20
        for start in stride(from: 0, to: tokenCount, by: block) {
            let end = min(tokenCount, start + block)
            let ids = try tokens.readRows(start..<end, as: Int32.self)
            let mask = try lossMask.readRows(start..<end, as: UInt8.self)
            var t = start
            while t < end {
                try endSequences(upTo: t)
                let stop = min(end, tokenRange(ofSequence: sequence).upperBound)
                for i in (t - start)..<(stop - start) {
                    guard ids[i] >= 0, Int(ids[i]) < vocabularySize else {
                        throw fail("token \(start + i) (sequence \(sequence)) has id \(ids[i]), outside the vocabulary of \(vocabularySize)")
                    }
                    guard mask[i] <= 1 else {
                        throw fail("token \(start + i) (sequence \(sequence)) has loss mask \(mask[i]); expected 0 or 1")
                    }
                    targets += Int32(mask[i])
                }
                t = stop
            }
        }
        try endSequences(upTo: tokenCount)
    }

    /// Where sequence `s` lies in /tokens.
    public func tokenRange(ofSequence s: Int) -> Range<Int> {
        Int(exampleOffsets[Int(sequenceExampleOffsets[s])])..<Int(exampleOffsets[Int(sequenceExampleOffsets[s + 1])])
    }

    public func length(ofSequence s: Int) -> Int { tokenRange(ofSequence: s).count }

    /// Every sequence's length in tokens (what the coordinator's `EpochPlanner` balances).
    public var sequenceLengths: [Int] { (0..<sequenceCount).map(length(ofSequence:)) }

    /// Example e's length on its own (its chain's tokens up to its end).
    public func exampleLength(_ e: Int) -> Int { Int(exampleOffsets[e + 1] - exampleOffsets[chainStart[e]]) }

    /// The tokens of sequence s's examples on their own: what it would hold without shared prefixes.
    public func exampleTokens(ofSequence s: Int) -> Int {
        (Int(sequenceExampleOffsets[s])..<Int(sequenceExampleOffsets[s + 1])).reduce(0) { $0 + exampleLength($1) }
    }

    /// Tokens of all examples on their own.
    public var exampleTokenCount: Int { (0..<exampleCount).reduce(0) { $0 + exampleLength($1) } }

    /// One example on its own: its chain's tokens up to its end (BOS first, EOS last where its label is
    /// one) and the loss mask of its own targets.
    public func readExample(_ e: Int) throws -> (tokens: [Int32], lossMask: [UInt8]) {
        guard e >= 0, e < exampleCount else {
            throw PreparedDatasetError(path: path, message: "example \(e) outside 0..<\(exampleCount)")
        }
        let start = Int(exampleOffsets[chainStart[e]]), own = Int(exampleOffsets[e]), end = Int(exampleOffsets[e + 1])
        var ids = try tokens.readRows(start..<end, as: Int32.self)
        if eosLabel[e] { ids[ids.count - 1] = Int32(metadata.eosID) }
        let mask = [UInt8](repeating: 0, count: own - start) + (try lossMask.readRows(own..<end, as: UInt8.self))
        return (ids, mask)
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
        let eos = Int32(metadata.eosID)
        return range.map { s in
            let span = tokenRange(ofSequence: s)
            let n = span.count
            var sequence = PackedSequence(index: s, tokens: Array(ids[(span.lowerBound - first)..<(span.upperBound - first)]),
                                          targets: [Int32](repeating: PreparedDatasetFormat.ignoreIndex, count: n),
                                          positions: [Int32](repeating: 0, count: n),
                                          segmentIDs: [Int32](repeating: 0, count: n), boundaries: [])
            // Labels by position in the sequence: the token there, EOS at the end of an example with an EOS label.
            var labels = sequence.tokens
            let examples = Int(sequenceExampleOffsets[s])..<Int(sequenceExampleOffsets[s + 1])
            for e in examples where eosLabel[e] { labels[Int(exampleOffsets[e + 1]) - 1 - span.lowerBound] = eos }
            for e in examples where chainStart[e] == e {
                var last = e
                while last + 1 < examples.upperBound, chainStart[last + 1] == e { last += 1 }
                let a = Int(exampleOffsets[e]) - span.lowerBound
                let b = Int(exampleOffsets[last + 1]) - span.lowerBound
                let chain = Int32(sequence.boundaries.count)
                sequence.boundaries.append(a)
                for i in a..<b {
                    sequence.positions[i] = Int32(i - a)
                    sequence.segmentIDs[i] = chain
                    if i + 1 < b, mask[span.lowerBound - first + i + 1] != 0 { sequence.targets[i] = labels[i + 1] }
                }
            }
            sequence.boundaries.append(n)
            return sequence
        }
    }
}

extension PreparedDataset {
    /// What `tooltune inspect` prints first for a prepared dataset: its format version (or why this build
    /// cannot read it) and the counts with and without shared prefixes. Nil for any other file.
    public static func summaryLines(_ path: String) -> [String]? {
        guard let file = try? HDF5File(path, mode: .readOnly), let root = try? file.root, root.hasAttribute("format"),
              (try? root.stringAttribute("format")) == PreparedDatasetFormat.name else { return nil }
        let version = (try? root.intAttribute("format_version")) ?? 0
        guard version == PreparedDatasetFormat.version else {
            return ["prepared dataset, format_version \(version): \(versionProblem(version))"]
        }
        do {
            let dataset = try PreparedDataset(path: path)
            let m = dataset.metadata
            let stored = dataset.tokenCount, unshared = dataset.exampleTokenCount
            let labels = dataset.eosLabel.reduce(0) { $0 + ($1 ? 1 : 0) }
            return [
                "prepared dataset, format_version \(version): \(m.template), loss on \(m.lossTurns), max_seq_len \(m.maxSeqLen), "
                    + "packing \(m.packing), prefix sharing \(m.prefixSharing)",
                "\(dataset.exampleCount.formatted()) examples in \(dataset.chainCount.formatted()) chains, "
                    + "\(dataset.sequenceCount.formatted()) sequences; \(stored.formatted()) tokens stored, "
                    + "\(unshared.formatted()) as separate examples (" + String(format: "%.2fx", Double(unshared) / Double(max(1, stored)))
                    + "); \(dataset.targetCounts.reduce(0) { $0 + Int($1) }.formatted()) targets, \(labels.formatted()) EOS labels inside chains",
                "tokenizer sha256: \(m.tokenizerSHA256)",
            ]
        } catch {
            return ["prepared dataset, unreadable: \(error)"]
        }
    }
}
