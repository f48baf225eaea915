import ToolBench

/// A test tokenizer with one token per UTF-8 byte (id = byte + 3, BOS = EOS = 2), so that lengths in
/// tests are byte counts that can be worked out by hand.
struct ByteTokenizer: TokenEncoder {
    struct Encoded: TokenEncoding {
        let ids: [Int32]
        let bos: Bool
        func byteRange(ofToken i: Int) -> Range<Int> {
            bos ? (i == 0 ? 0..<0 : (i - 1)..<i) : i..<(i + 1)
        }
    }

    let bosID: Int32 = 2
    let eosID: Int32 = 2

    func encode(_ text: String, addBOS: Bool) -> [Int32] {
        (addBOS ? [bosID] : []) + text.utf8.map { Int32($0) + 3 }
    }

    func encodeWithOffsets(_ text: String, addBOS: Bool) -> Encoded {
        Encoded(ids: encode(text, addBOS: addBOS), bos: addBOS)
    }

    func decode(_ ids: some Sequence<Int32>) throws -> String {
        var bytes: [UInt8] = []
        for id in ids { bytes += id == 2 ? Array("</s>".utf8) : [UInt8(id - 3)] }
        return String(decoding: bytes, as: UTF8.self)
    }
}
