import Data  // Tokenizer: TokenEncoder
import Foundation
import Testing
import TestSupport
import Tokenizer
import ToolBench

/// The 50 data_example steps against `Tests/Fixtures/tokenizer/real_toolbench_hashes.json`, which
/// scripts/make_tokenizer_fixtures.py made with ToolBench's rules in Python and Hugging Face `tokenizers`:
/// per example the length and sha256 of the rendered text and the sha256 of the demo tokenizer's ids.
@Suite(.enabled(if: RealData.present, RealData.skipNote))
struct RealToolBenchTokenTests {
    struct Record: Decodable {
        let file: String
        let entry: Int
        let step: Int
        let chars: Int
        let sha256: String
        let context_chars: Int
        let target_tokens: Int
        let tokens: Int
        let tokens_sha256: String
    }

    struct Fixture: Decodable {
        let examples: Int
        let records: [Record]
    }

    static let root = ToolTuneBinary.projectRoot

    func load() throws -> (Fixture, [Conversation]) {
        let data = try Data(contentsOf: Self.root.appendingPathComponent("Tests/Fixtures/tokenizer/real_toolbench_hashes.json"))
        let fixture = try JSONDecoder().decode(Fixture.self, from: data)
        let conversations = try DataSource.load(RealData.answers, format: .toolbenchAnswers, keepThoughts: false).conversations
        try #require(fixture.records.count == 50 && conversations.count == 50)
        return (fixture, conversations)
    }

    func hex(_ bytes: some Sequence<UInt8>) -> String { SHA256.hash(bytes).hexString }

    @Test func everyRenderedTextMatchesItsHash() throws {
        let (fixture, conversations) = try load()
        for (record, conversation) in zip(fixture.records, conversations) {
            #expect(conversation.source.file.hasSuffix("/" + record.file))
            #expect(conversation.source.locator == "$.answer_generation.train_messages[\(record.entry)] (Step \(record.step))")
            let text = ToolLlamaTemplate.render(conversation.turns, loss: .lastAssistant).text
            #expect(text.unicodeScalars.count == record.chars, "\(record.file) entry \(record.entry)")
            #expect(hex(text.utf8) == record.sha256, "\(record.file) entry \(record.entry)")
        }
    }

    @Test func tokensMatchAndTheTrainedSpanIsTheTargetAndEOS() throws {
        let (fixture, conversations) = try load()
        let tokenizer = try Tokenizer(folder: Self.root.appendingPathComponent("demo/tokenizer").path)
        for (record, conversation) in zip(fixture.records, conversations) {
            let rendered = ToolLlamaTemplate.render(conversation.turns, loss: .lastAssistant)
            let example = tokenizer.tokenize(rendered)
            let label = "\(record.file) entry \(record.entry)"
            // The fixture's ids have no BOS and end with the id of "</s>", as appended here.
            #expect(example.tokens.first == tokenizer.bosID && example.tokens.count == record.tokens + 1, "\(label)")
            #expect(hex(example.tokens.dropFirst().map(String.init).joined(separator: ",").utf8) == record.tokens_sha256, "\(label)")
            #expect(example.trainableCount == record.target_tokens, "\(label)")
            #expect(example.lossMask.firstIndex(of: 1) == example.tokens.count - record.target_tokens, "\(label)")
            let target = String(String.UnicodeScalarView(rendered.text.unicodeScalars.dropFirst(record.context_chars)))
            #expect(target.hasSuffix("</s>") && target.hasPrefix("\nThought: "))
            let trained = zip(example.tokens, example.lossMask).filter { $0.1 == 1 }.map(\.0)
            #expect(try tokenizer.decode(trained) == target, "\(label)")
        }
    }
}
