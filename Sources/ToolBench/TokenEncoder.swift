/// Token ids with the UTF-8 bytes of the input each token covers.
public protocol TokenEncoding {
    var ids: [Int32] { get }
    /// The bytes of the encoded text that token `i` covers.
    func byteRange(ofToken i: Int) -> Range<Int>
}

/// What data preparation needs from a tokenizer; the project's BPE `Tokenizer` conforms (in Training).
/// Thread-safe, so examples can be tokenized in parallel.
public protocol TokenEncoder: Sendable {
    associatedtype Encoded: TokenEncoding
    /// The id put in front of every example (OPT: `</s>`, 2).
    var bosID: Int32 { get }
    /// The id that closes the trained target (OPT: `</s>`, 2).
    var eosID: Int32 { get }
    /// The ids of `text`, with the BOS first when `addBOS`.
    func encode(_ text: String, addBOS: Bool) -> [Int32]
    /// The ids with the bytes each covers.
    func encodeWithOffsets(_ text: String, addBOS: Bool) -> Encoded
    /// The text of `ids`.
    func decode(_ ids: some Sequence<Int32>) throws -> String
}

/// An example as the model sees it: `[BOS] + body tokens (+ [EOS])` and a 0/1 loss mask over the same
/// positions (1 = this token is a target, predicted from the tokens before it).
public struct TokenizedExample: Sendable, Equatable {
    public var tokens: [Int32]
    public var lossMask: [UInt8]
    /// Tokens that overlap both a trained and an untrained byte range (none with the ToolBench
    /// template and a GPT-2 style tokenizer; counted because they are trained).
    public var straddlingTokens: Int

    public init(tokens: [Int32], lossMask: [UInt8], straddlingTokens: Int = 0) {
        self.tokens = tokens
        self.lossMask = lossMask
        self.straddlingTokens = straddlingTokens
    }

    public var trainableCount: Int { lossMask.reduce(0) { $0 + Int($1) } }
}

extension TokenEncoder {
    /// Tokenizes a rendered conversation: BOS, the body, EOS when the template closes with `</s>`; a body
    /// token is trained when its bytes overlap a trained byte range.
    public func tokenize(_ rendered: RenderedText) -> TokenizedExample {
        let encoded = encodeWithOffsets(rendered.body, addBOS: false)
        let ids = encoded.ids
        var tokens = [Int32]()
        tokens.reserveCapacity(ids.count + 2)
        var mask = [UInt8]()
        mask.reserveCapacity(ids.count + 2)
        tokens.append(bosID)
        mask.append(0)
        var straddling = 0
        var r = 0
        let trained = rendered.trainableBytes
        for (i, id) in ids.enumerated() {
            let span = encoded.byteRange(ofToken: i)
            // Both lists are sorted by position: walk them together.
            while r < trained.count, trained[r].upperBound <= span.lowerBound { r += 1 }
            var overlaps = false
            if r < trained.count, trained[r].lowerBound < span.upperBound, !span.isEmpty {
                overlaps = true
                if span.lowerBound < trained[r].lowerBound || span.upperBound > trained[r].upperBound { straddling += 1 }
            }
            tokens.append(id)
            mask.append(overlaps ? 1 : 0)
        }
        if rendered.closesWithEOS {
            tokens.append(eosID)
            mask.append(rendered.trainsEOS ? 1 : 0)
        }
        return TokenizedExample(tokens: tokens, lossMask: mask, straddlingTokens: straddling)
    }
}
