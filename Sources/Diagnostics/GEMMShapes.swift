import Kernels
import OPT

extension GEMMBenchmark {
    /// The products of one training step of `preset` over `tokens` tokens, with the cross-entropy's
    /// vocabulary chunk width for that many rows.
    public static func trainingStepShapes(preset: String, tokens: Int) throws -> [Shape] {
        let c = try BenchmarkOptionError.preset(preset)
        guard tokens >= 1 else { throw BenchmarkOptionError(message: "--tokens must be at least 1") }
        let shapes = trainingStepShapes(tokens: tokens, hidden: c.hiddenSize, ffn: c.ffnDim, layers: c.numHiddenLayers,
                                        embed: c.wordEmbedProjDim, vocab: c.vocabSize,
                                        chunk: CrossEntropy.chunkWidth(rows: tokens, vocab: c.vocabSize))
        // Each product's A, B and C are float32 (and bfloat16 copies of A and B for bf16 engines).
        let largest = shapes.map { shape -> Double in
            let inputs = Double(shape.m * shape.k + shape.k * shape.n), output = Double(shape.m * shape.n)
            return 6 * inputs + 4 * output
        }.max() ?? 0
        guard largest <= Double(FloatBuffer.memoryLimit) else {
            let gigabytes = { (bytes: Double) in String(format: "%.1f GB", bytes / 1e9) }
            throw BenchmarkOptionError(message: "--tokens \(tokens): a product of \(preset) needs \(gigabytes(largest)), "
                                       + "more than this machine's \(gigabytes(Double(FloatBuffer.memoryLimit)))")
        }
        return shapes
    }
}
