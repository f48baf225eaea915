import ArgumentParser
import Foundation
import Tokenizer

struct Tokenize: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Tokenize text with a GPT-2/OPT byte-level BPE tokenizer (vocab.json + merges.txt).",
        discussion: """
            Prints the tokens as vocab.json spells them ("Ġ" is a space, "Ċ" a newline), separated by spaces, or \
            the ids with --ids. --stats prints sizes and the encoding speed instead (MB = 10^6 bytes of UTF-8 \
            input, one thread, loading and reading not counted; chars = Unicode scalars): once for the ids alone \
            and once for ids with byte offsets, each on a freshly loaded tokenizer.
            """)

    @Option(help: "Folder with vocab.json and merges.txt (and special_tokens_map.json / tokenizer_config.json).")
    var tokenizer: String

    @Option(help: "Read the text from this UTF-8 file instead of the argument.")
    var file: String?

    @Argument(help: "The text to tokenize.")
    var text: String?

    @Flag(help: "Print token ids instead of tokens.")
    var ids = false

    @Flag(help: "Prepend the BOS token (OPT: </s>, id 2), as OPT's tokenizer does.")
    var bos = false

    @Flag(help: "Print bytes, tokens, chars/token and MB/s instead of the tokens.")
    var stats = false

    func validate() throws {
        if (file == nil) == (text == nil) { throw ValidationError("give either --file FILE or the TEXT, not both or neither") }
    }

    func run() throws {
        let start = ContinuousClock.now
        let tok: Tokenizer
        let input: String
        do {
            tok = try Tokenizer(folder: tokenizer)
            input = try file.map(Self.readUTF8) ?? text!
        } catch {
            FileHandle.standardError.write(Data("error: \(error)\n".utf8))
            throw ExitCode(1)
        }
        let loaded = ContinuousClock.now
        guard stats else {
            let encoded = tok.encode(input, addBOS: bos)
            print(ids ? encoded.map(String.init).joined(separator: " ") : encoded.map { tok.token(forID: $0)! }.joined(separator: " "))
            return
        }
        // Each timed pass gets a freshly loaded tokenizer, so neither starts with the other's warm cache.
        let encodeStart = ContinuousClock.now
        let encoded = tok.encode(input, addBOS: bos)
        let idsSeconds = Self.seconds(ContinuousClock.now - encodeStart)
        let fresh = try Tokenizer(folder: tokenizer)
        let offsetsStart = ContinuousClock.now
        _ = fresh.encodeWithOffsets(input, addBOS: bos)
        let offsetsSeconds = Self.seconds(ContinuousClock.now - offsetsStart)
        let bytes = input.utf8.count, chars = input.unicodeScalars.count
        let textTokens = encoded.count - (bos ? 1 : 0)
        print("tokenizer: \(tokenizer) (vocabulary \(tok.vocabularySize), sha256 \(tok.sha256))")
        print("load: \(String(format: "%.3f", Self.seconds(loaded - start))) s")
        print("bytes: \(bytes)")
        print("chars: \(chars)")
        print("tokens: \(textTokens)\(bos ? " + BOS" : "")")
        print("chars/token: \(String(format: "%.3f", Double(chars) / Double(max(textTokens, 1))))")
        for (name, seconds) in [("ids", idsSeconds), ("ids + offsets", offsetsSeconds)] {
            print("MB/s (\(name)): \(String(format: "%.2f", Double(bytes) / 1e6 / seconds)) (\(String(format: "%.4f", seconds)) s)")
        }
    }

    static func readUTF8(_ path: String) throws -> String {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ValidationError("\(path): no such file or not readable")
        }
        guard let text = String(validating: data, as: UTF8.self) else { throw ValidationError("\(path): not valid UTF-8") }
        return text
    }

    static func seconds(_ d: Duration) -> Double {
        Double(d.components.seconds) + Double(d.components.attoseconds) * 1e-18
    }
}
