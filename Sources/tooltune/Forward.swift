import ArgumentParser
import Foundation
import Interop
import Kernels

struct Forward: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run a model on one token sequence: the mean next-token loss and the loss at every position.",
        discussion: "Position t's loss is the cross-entropy of predicting token t+1 (natural log), as Hugging Face's causal-LM loss with labels = ids.")

    @Argument(help: "A model file: a ToolTune checkpoint, or any HDF5 file with /model and a model_config attribute.")
    var model: String

    @Option(help: "Token ids, comma-separated (at least 2), e.g. 2,100,7.")
    var ids: String

    @Option(help: "Also write input_ids [1, T] and logits [1, T, vocab] to this HDF5 file.")
    var logits: String?

    @Option(help: "BLAS and parallel-for threads (default: all CPUs).")
    var threads: Int?

    func run() throws {
        var tokens: [Int32] = []
        for part in ids.split(separator: ",", omittingEmptySubsequences: false) {
            guard let id = Int32(part.trimmingCharacters(in: .whitespaces)) else {
                throw ValidationError("--ids: \"\(part)\" is not a token id (expected integers separated by commas)")
            }
            tokens.append(id)
        }
        if let threads { useThreads(threads) }
        let loaded = try ModelCheckpoint.load(model)
        let result = try NextTokenLosses.compute(model: loaded, tokens: tokens, withLogits: logits != nil)
        print("\(model): \(tokens.count) tokens, \(result.losses.count) predictions")
        print(String(format: "mean next-token loss %.6f", result.meanLoss))
        print("position  token  next  loss")
        for (t, loss) in result.losses.enumerated() {
            print(String(format: "%8d  %5d  %4d  %.6f", t, tokens[t], tokens[t + 1], loss))
        }
        if let logits {
            try result.writeLogits(to: logits, vocab: loaded.config.vocabSize)
            print("logits [1, \(tokens.count), \(loaded.config.vocabSize)] written to \(logits)")
        }
    }
}
