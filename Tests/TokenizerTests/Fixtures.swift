import Foundation
import TestSupport
import Tokenizer

/// Tests/Fixtures/tokenizer (made by scripts/make_tokenizer_fixtures.py and
/// scripts/make_unicode_classes_fixture.py) and the demo tokenizer they were made with.
enum Fixtures {
    static let folder = ToolTuneBinary.projectRoot.appendingPathComponent("Tests/Fixtures/tokenizer")
    static let demoTokenizer = ToolTuneBinary.projectRoot.appendingPathComponent("demo/tokenizer")

    struct CorpusEntry: Decodable {
        let name: String
        let text: String
    }

    struct DemoIDs: Decodable {
        struct Case: Decodable {
            let name: String
            let ids: [Int32]
            let ids_with_bos: [Int32]
            let pieces: [String]
        }
        struct Info: Decodable {
            let vocab_json_sha256: String
            let merges_txt_sha256: String
            let vocab_size: Int
            let bos_id: Int32
            let eos_id: Int32
            let pad_id: Int32
        }
        let tokenizer: Info
        let cases: [Case]
    }

    /// A corpus string with its expected ids and pieces.
    struct Case {
        let name: String
        let text: String
        let ids: [Int32]
        let idsWithBOS: [Int32]
        let pieces: [String]
    }

    static func read<T: Decodable>(_ name: String, as type: T.Type) throws -> T {
        try JSONDecoder().decode(T.self, from: Data(contentsOf: folder.appendingPathComponent(name)))
    }

    static func cases() throws -> [Case] {
        let corpus = try read("corpus.json", as: [CorpusEntry].self)
        let expected = try read("demo_ids.json", as: DemoIDs.self).cases
        precondition(corpus.map(\.name) == expected.map(\.name), "corpus.json and demo_ids.json disagree")
        return zip(corpus, expected).map {
            Case(name: $0.name, text: $0.text, ids: $1.ids, idsWithBOS: $1.ids_with_bos, pieces: $1.pieces)
        }
    }

    static func demo() throws -> Tokenizer { try Tokenizer(folder: demoTokenizer.path) }
}

/// Where two id lists first differ, for readable failures.
func firstDifference(_ a: [Int32], _ b: [Int32]) -> String {
    let i = (0..<min(a.count, b.count)).first { a[$0] != b[$0] } ?? min(a.count, b.count)
    return "lengths \(a.count) vs \(b.count), first difference at \(i): \(a[i..<min(a.count, i + 5)]) vs \(b[i..<min(b.count, i + 5)])"
}
