import Foundation

/// GPT-2 / OPT byte-level BPE, loaded from a Hugging Face tokenizer folder; the ids equal those of
/// Hugging Face `tokenizers` (and transformers' OPT tokenizer) for the same files.
///
/// Encoding, in order:
/// 1. The special tokens declared in the folder's tokenizer_config.json / special_tokens_map.json (for
///    OPT: "</s>" and "<pad>", not "<s>" or "<unk>") are found in the text first (leftmost, longest) and
///    become their ids; the text between them is encoded segment by segment.
/// 2. `GPT2PreTokenizer` splits each segment into pieces.
/// 3. Each piece's UTF-8 bytes become byte tokens (`ByteLevel`), merged by merges.txt rank (`Workspace`).
///
/// Thread-safe: all state is immutable except the per-call workspaces, which a pool hands to one call at
/// a time. Concurrent `encode` calls on one tokenizer are the intended way to tokenize in parallel.
public final class Tokenizer: Sendable {
    /// One more than the largest id in vocab.json: every id is in `0 ..< vocabularySize`.
    public let vocabularySize: Int
    /// Identifies the tokenizer in prepared datasets and checkpoints: SHA-256 (lowercase hex) of the bytes
    /// of vocab.json immediately followed by the bytes of merges.txt, i.e. `cat vocab.json merges.txt |
    /// sha256sum`. The special-token files are not part of it.
    public let sha256: String
    /// The BOS token `encode(_:addBOS: true)` prepends: OPT's is "</s>" (2).
    public let bosID: Int32
    /// OPT: "</s>" (2), the same token as BOS.
    public let eosID: Int32
    /// OPT: "<pad>" (1); nil when the folder declares no pad token.
    public let padID: Int32?
    /// The tokens matched literally in text before pre-tokenization, with their ids.
    public let specialTokens: [String: Int32]

    private let tokensByID: [String?]
    private let idsByToken: [String: Int32]
    /// The bytes each id stands for: `decodeArena[decodeStart[id] ..< decodeStart[id + 1]]`.
    private let decodeArena: [UInt8]
    private let decodeStart: [Int]
    private let tables: Tables
    private let merges: MergeTable
    private let pool = WorkspacePool()

    /// Loads vocab.json and merges.txt (required) and special_tokens_map.json / tokenizer_config.json (if
    /// present; without them OPT's special tokens are used). Throws `TokenizerError` naming the file and
    /// the line or key of the first problem.
    public init(folder: String) throws(TokenizerError) {
        let files = try TokenizerFiles(folder: folder)
        _ = CharacterClassTable.shared  // built once per process, here rather than in the first encode
        let size = Int(files.vocab.map(\.id).max()!) + 1
        vocabularySize = size
        sha256 = files.sha256
        bosID = files.idsByToken[files.bos]!
        eosID = files.idsByToken[files.eos]!
        padID = files.pad.map { files.idsByToken[$0]! }
        specialTokens = Dictionary(uniqueKeysWithValues: files.textSpecials.map { ($0, files.idsByToken[$0]!) })
        idsByToken = files.idsByToken

        var tokens = [String?](repeating: nil, count: size)
        for (token, id) in files.vocab { tokens[Int(id)] = token }
        tokensByID = tokens
        var arena: [UInt8] = []
        var starts = [Int]()
        starts.reserveCapacity(size + 1)
        for id in 0..<size {
            starts.append(arena.count)
            guard let token = tokens[id] else { continue }
            // A special token stands for the text it was matched in; a BPE token for its bytes.
            arena += specialTokens[token] != nil ? Array(token.utf8) : ByteLevel.bytes(ofToken: token)
        }
        starts.append(arena.count)
        decodeArena = arena
        decodeStart = starts

        let byteIDs = (0..<256).map { files.idsByToken[String(ByteLevel.characters[$0])]! }
        tables = Tables(byteIDs: byteIDs, tokenLengths: (0..<size).map { Int32(starts[$0 + 1] - starts[$0]) },
                        specials: files.textSpecials.map { (Array($0.utf8), files.idsByToken[$0]!) })
        merges = MergeTable(capacityFor: files.merges.count)
        for (rank, merge) in files.merges.enumerated() {
            merges.insert(files.idsByToken[merge.left]!, files.idsByToken[merge.right]!, rank: Int32(rank),
                          merged: files.idsByToken[merge.left + merge.right]!)
        }
    }

    // MARK: encoding

    /// The token ids of `text`, with OPT's BOS ("</s>", `bosID`) first when `addBOS` is true.
    public func encode(_ text: String, addBOS: Bool) -> [Int32] {
        var sink = IDSink()
        sink.ids.reserveCapacity(text.utf8.count / 3 + 2)
        run(text, addBOS: addBOS, &sink)
        return sink.ids
    }

    /// `encode` plus, for each token, the UTF-8 bytes of `text` it covers (see `Encoding`).
    public func encodeWithOffsets(_ text: String, addBOS: Bool) -> Encoding {
        var sink = OffsetSink()
        sink.ids.reserveCapacity(text.utf8.count / 3 + 2)
        sink.offsets.reserveCapacity(text.utf8.count / 3 + 3)
        run(text, addBOS: addBOS, &sink)
        return Encoding(ids: sink.ids, byteOffsets: sink.offsets)
    }

    /// The pieces encoding works on, as UTF-8 byte ranges of `text`: each special token, and the GPT-2
    /// pre-tokenizer's pieces of the text between them. They cover `text` in order.
    public func preTokenize(_ text: String) -> [Range<Int>] {
        var pieces: [Range<Int>] = []
        var text = text
        text.withUTF8 { buffer in
            guard let base = buffer.baseAddress else { return }
            segments(base, count: buffer.count) { start, end in
                let scanner = PieceScanner(base)
                var p = start
                while p < end {
                    let q = scanner.pieceEnd(from: p, end: end)
                    pieces.append(p..<q)
                    p = q
                }
            } special: { start, end, _ in
                pieces.append(start..<end)
            }
        }
        return pieces
    }

    private func run<Sink: TokenSink>(_ text: String, addBOS: Bool, _ sink: inout Sink) {
        if addBOS { sink.token(bosID, end: 0) }
        var text = text
        text.withUTF8 { buffer in
            guard let base = buffer.baseAddress else { return }
            let workspace = pool.take()
            defer { pool.give(workspace) }
            let scanner = PieceScanner(base)
            let byteIDs = UnsafePointer(tables.byteIDs)
            let lengths = UnsafePointer(tables.tokenLengths)
            segments(base, count: buffer.count) { start, end in
                var p = start
                while p < end {
                    let q = scanner.pieceEnd(from: p, end: end)
                    if q - p == 1 {
                        sink.token(byteIDs[Int(base[p])], end: q)
                    } else {
                        sink.piece(workspace.tokens(of: base + p, count: q - p, byteIDs: byteIDs, merges: merges),
                                   start: p, lengths: lengths)
                    }
                    p = q
                }
            } special: { start, end, id in
                sink.token(id, end: end)
            }
        }
    }

    /// Cuts the text at special tokens (leftmost match first; the longest special token at a position):
    /// `text(start, end)` for each stretch of ordinary text, `special(start, end, id)` for each match.
    @inline(__always)
    private func segments(_ base: UnsafePointer<UInt8>, count n: Int, text: (Int, Int) -> Void,
                          special: (Int, Int, Int32) -> Void) {
        let specials = tables.specials
        let isFirstByte = UnsafePointer(tables.isSpecialFirstByte)
        var segmentStart = 0
        var i = 0
        scan: while i < n {
            if isFirstByte[Int(base[i])] {
                for s in specials where s.bytes.count <= n - i {
                    if s.bytes.withUnsafeBufferPointer({ memcmp($0.baseAddress!, base + i, s.bytes.count) == 0 }) {
                        if segmentStart < i { text(segmentStart, i) }
                        special(i, i + s.bytes.count, s.id)
                        i += s.bytes.count
                        segmentStart = i
                        continue scan
                    }
                }
            }
            i += 1
        }
        if segmentStart < n { text(segmentStart, n) }
    }

    // MARK: decoding and lookups

    /// The exact bytes the ids stand for (special tokens as their text). For ids from `encode(text)`
    /// without BOS these are `text`'s UTF-8 bytes; a BOS adds "</s>" in front.
    public func decodeBytes(_ ids: some Sequence<Int32>) throws(TokenizerError) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(ids.underestimatedCount * 4)
        for id in ids {
            guard id >= 0, Int(id) < vocabularySize, tokensByID[Int(id)] != nil else { throw .unknownID(id) }
            out += decodeArena[decodeStart[Int(id)]..<decodeStart[Int(id) + 1]]
        }
        return out
    }

    /// `decodeBytes` as text. A sequence that ends inside a multi-byte character (a token sequence cut
    /// anywhere, e.g. generated text) gets U+FFFD for the broken bytes, as Hugging Face's
    /// errors="replace"; for lossless results use `decodeBytes`.
    public func decode(_ ids: some Sequence<Int32>) throws(TokenizerError) -> String {
        String(decoding: try decodeBytes(ids), as: UTF8.self)
    }

    /// The id of a token written as in vocab.json ("Ġthe" for " the", "</s>"), or nil.
    public func id(forToken token: String) -> Int32? { idsByToken[token] }

    /// The vocab.json spelling of a token, or nil when no token has this id.
    public func token(forID id: Int32) -> String? {
        id >= 0 && Int(id) < vocabularySize ? tokensByID[Int(id)] : nil
    }
}

/// Lookup tables the encode loop reads through raw pointers. Immutable after init.
private final class Tables: @unchecked Sendable {
    let byteIDs: UnsafeMutablePointer<Int32>
    let tokenLengths: UnsafeMutablePointer<Int32>
    let isSpecialFirstByte: UnsafeMutablePointer<Bool>
    /// Longest first, so the longest special token at a position wins.
    let specials: [(bytes: [UInt8], id: Int32)]

    init(byteIDs: [Int32], tokenLengths: [Int32], specials: [([UInt8], Int32)]) {
        self.byteIDs = .allocate(capacity: 256)
        self.byteIDs.initialize(from: byteIDs, count: 256)
        self.tokenLengths = .allocate(capacity: tokenLengths.count)
        self.tokenLengths.initialize(from: tokenLengths, count: tokenLengths.count)
        isSpecialFirstByte = .allocate(capacity: 256)
        isSpecialFirstByte.initialize(repeating: false, count: 256)
        for (bytes, _) in specials { isSpecialFirstByte[Int(bytes[0])] = true }
        self.specials = specials.sorted { $0.0.count > $1.0.count }.map { (bytes: $0.0, id: $0.1) }
    }

    deinit {
        byteIDs.deallocate()
        tokenLengths.deallocate()
        isSpecialFirstByte.deallocate()
    }
}

/// Where encode puts its tokens: ids only, or ids and byte offsets.
private protocol TokenSink {
    mutating func token(_ id: Int32, end: Int)
    mutating func piece(_ ids: UnsafeBufferPointer<Int32>, start: Int, lengths: UnsafePointer<Int32>)
}

private struct IDSink: TokenSink {
    var ids: [Int32] = []
    @inline(__always) mutating func token(_ id: Int32, end: Int) { ids.append(id) }
    @inline(__always) mutating func piece(_ ids: UnsafeBufferPointer<Int32>, start: Int, lengths: UnsafePointer<Int32>) {
        self.ids.append(contentsOf: ids)
    }
}

private struct OffsetSink: TokenSink {
    var ids: [Int32] = []
    var offsets: [Int] = [0]
    @inline(__always) mutating func token(_ id: Int32, end: Int) {
        ids.append(id)
        offsets.append(end)
    }
    @inline(__always) mutating func piece(_ ids: UnsafeBufferPointer<Int32>, start: Int, lengths: UnsafePointer<Int32>) {
        var end = start
        for id in ids {
            self.ids.append(id)
            end += Int(lengths[Int(id)])
            offsets.append(end)
        }
    }
}
