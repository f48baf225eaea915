import Kernels
import OPT

extension GEMMBenchmark {
    /// The products of one training step of `preset` over `tokens` tokens, with the cross-entropy's
    /// vocabulary chunk width for that many rows.
    public static func trainingStepShapes(preset: String, tokens: Int) throws -> [Shape] {
        let c = try BenchmarkOptionError.preset(preset)
        guard tokens >= 1 else { throw BenchmarkOptionError(message: "--tokens must be at least 1") }
        return trainingStepShapes(tokens: tokens, hidden: c.hiddenSize, ffn: c.ffnDim, layers: c.numHiddenLayers,
                                  embed: c.wordEmbedProjDim, vocab: c.vocabSize,
                                  chunk: CrossEntropy.chunkWidth(rows: tokens, vocab: c.vocabSize))
    }
}
