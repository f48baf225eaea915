/// Token ids with the part of the input each one covers, for loss masks computed from text offsets.
///
/// Offsets are UTF-8 byte offsets into the encoded string: byte-level BPE tokens can end inside a
/// multi-byte character (an emoji is often 2-4 tokens), so only byte offsets are exact. Tokens cover the
/// input contiguously and in order; the BOS token covers nothing (the empty range at 0). For a prefix
/// `p` of the text, `p.utf8.count` is its byte offset.
public struct Encoding: Sendable, Equatable {
    public let ids: [Int32]
    /// `ids.count + 1` offsets: token `i` covers bytes `byteOffsets[i] ..< byteOffsets[i + 1]`, the first
    /// offset is 0 and the last is the input's UTF-8 length.
    public let byteOffsets: [Int]

    public init(ids: [Int32], byteOffsets: [Int]) {
        precondition(byteOffsets.count == ids.count + 1, "one offset per token, plus the end")
        self.ids = ids
        self.byteOffsets = byteOffsets
    }

    /// The input bytes token `i` covers.
    public func byteRange(ofToken i: Int) -> Range<Int> { byteOffsets[i]..<byteOffsets[i + 1] }

    /// The number of tokens that together cover exactly the input bytes before `offset` (so tokens
    /// `0 ..< k` are the text before `offset`, tokens `k...` the text from it); nil when `offset` falls
    /// inside a token. With a BOS token, `boundary(atByte: 0)` is 1.
    ///
    ///     let k = encoding.boundary(atByte: context.utf8.count)   // loss mask: tokens k..<ids.count
    public func boundary(atByte offset: Int) -> Int? {
        // Last index i with byteOffsets[i] <= offset (offsets are non-decreasing).
        var low = 0, high = byteOffsets.count
        while low < high {
            let mid = (low + high) / 2
            if byteOffsets[mid] <= offset { low = mid + 1 } else { high = mid }
        }
        let i = low - 1
        return i >= 0 && byteOffsets[i] == offset ? i : nil
    }
}
