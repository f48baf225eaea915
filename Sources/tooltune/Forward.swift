import ArgumentParser
import Foundation
import Interop
import Kernels
import Storage

struct Forward: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run a model on a token sequence or a prepared dataset: teacher-forced next-token losses.",
        discussion: """
            --ids: the mean next-token loss and the loss at every position (position t's loss is the cross-entropy \
            of predicting token t+1, natural log, as Hugging Face's causal-LM loss with labels = ids). --dataset: \
            every sequence of a prepared dataset as training runs it (no dropout), the summed target loss and each \
            example's; --out writes them and the gradient of the summed loss per Hugging Face tensor.
            """)

    @Argument(help: "A model file: a ToolTune checkpoint, or any HDF5 file with /model and a model_config attribute.")
    var model: String

    @Option(help: "Token ids, comma-separated (at least 2), e.g. 2,100,7.")
    var ids: String?

    @Option(help: "Also write input_ids [1, T] and logits [1, T, vocab] to this HDF5 file (with --ids).")
    var logits: String?

    @Option(help: "A prepared dataset (tooltune prepare's train.h5 or eval.h5) instead of --ids.")
    var dataset: String?

    @Option(help: "With --dataset: write each example's loss and the gradients of the summed loss to this HDF5 file.")
    var out: String?

    @Option(parsing: .unconditional, help: "BLAS and parallel-for threads (default: all CPUs).")
    var threads: Int?

    @Option(help: "fp32, or bf16 mixed precision as training runs it (train.precision; needs bfloat16 instructions).")
    var precision: Precision = .fp32

    func validate() throws {
        try OptionCheck.threads(threads)
        guard (ids == nil) != (dataset == nil) else { throw ValidationError("give either --ids or --dataset") }
        if logits != nil && ids == nil { throw ValidationError("--logits goes with --ids") }
        if out != nil && dataset == nil { throw ValidationError("--out goes with --dataset") }
    }

    func run() throws {
        if let threads { useThreads(threads) }
        if let dataset { return try runDataset(dataset) }
        var tokens: [Int32] = []
        for part in ids!.split(separator: ",", omittingEmptySubsequences: false) {
            guard let id = Int32(part.trimmingCharacters(in: .whitespaces)) else {
                throw ValidationError("--ids: \"\(part)\" is not a token id (expected integers separated by commas)")
            }
            tokens.append(id)
        }
        let loaded = try ModelCheckpoint.load(model)
        loaded.use(try engine())
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

    /// The engine of `--precision`.
    func engine() throws -> GEMMEngine { try GEMMEngine(backend: GEMMEngine.automaticBackend, precision: precision) }

    func runDataset(_ path: String) throws {
        let loaded = try ModelCheckpoint.load(model)
        loaded.use(try engine())
        let data = try PreparedDataset(path: path)
        guard data.maxTokenID < loaded.config.vocabSize else {
            throw ValidationError("\(path) has token id \(data.maxTokenID), outside \(model)'s vocab_size \(loaded.config.vocabSize)")
        }
        let result = try DatasetLosses.compute(model: loaded, dataset: data, gradients: out != nil)
        print("\(model) on \(path): \(data.exampleCount) examples in \(result.sequences) sequences, \(result.tokens) tokens")
        print(String(format: "summed target loss %.9g over %d targets (mean %.6f)", result.lossSum, result.targets,
                     result.lossSum / Double(max(1, result.targets))))
        print("input_index  targets  loss_sum  last_target_loss")
        for example in result.examples {
            print(String(format: "%11d  %7d  %.9g  %.9g", example.inputIndex, example.targets, example.lossSum,
                         Double(example.lastTargetLoss)))
        }
        if let out {
            try result.write(to: out, layout: loaded.layout)
            print("losses and gradients written to \(out)")
        }
    }
}
