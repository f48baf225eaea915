@testable import Diagnostics
import Foundation
import Kernels
import OPT
import Storage
import Testing
import TestSupport

/// `tooltune bench train-step` runs the training step: its last loss is the loss of the model after the
/// earlier steps' clipped AdamW updates, on the last batch of the benchmark's random tokens, with that
/// step's dropout masks. Here the steps are redone from the kernels.
@Suite struct TrainStepBenchmarkTests {
    @Test func lastLossIsTheTrainedModelsLoss() throws {
        let (batch, seq, steps, seed): (Int, Int, Int, UInt64) = (2, 32, 3, 5)
        let result = try runProcess(ToolTuneBinary.path, ["bench", "train-step", "--preset", "tiny", "--batch", "\(batch)",
                                                          "--seq", "\(seq)", "--steps", "\(steps)", "--warmup", "0",
                                                          "--threads", "1", "--seed", "\(seed)", "--json"])
        #expect(result.status == 0, "\(result.stderr)")
        let line = try #require(result.stdout.split(separator: "\n").last, "\(result.stdout)")
        let reported = try JSONDecoder().decode(TrainStepBenchmark.Result.self, from: Data(line.utf8))

        let config = try #require(OPTConfig.presets["tiny"])
        let model = try OPTModel(config: config, seed: seed)
        let data = RandomSequences(count: steps * batch, length: seq, vocab: config.vocabSize, seed: seed)
        let optimizer = AdamW(parameterCount: model.layout.count, hyperparameters: .init(learningRate: 2e-5))
        let groups = model.layout.optimizerGroups(weightDecay: 0)
        var loss = 0.0
        for step in 0..<steps {
            let packed = try (0..<batch).map { try data.readSequence(step * batch + $0) }
            let microBatch = try MicroBatch(packed: packed, length: seq, padID: Int32(config.padTokenId))
            let forward = try model.forward(microBatch, dropout: Dropout(probability: 0.1, seed: seed, step: UInt64(step)))
            loss = forward.lossSum / Double(forward.targetCount)
            model.zeroGradients()
            model.backward(scale: 1 / Float(forward.targetCount))
            let norm = GradientClipping.clip(model.gradients.pointer, count: model.layout.count, maxNorm: 1)
            #expect(norm > 1, "random tokens give a gradient norm the clipping acts on (\(norm))")
            optimizer.update(parameters: model.parameters.pointer, gradients: model.gradients.pointer, groups: groups)
        }
        #expect(abs(reported.finalLoss - loss) < 1e-5, "benchmark \(reported.finalLoss), by hand \(loss)")
        #expect(reported.steps == steps && reported.batch == batch && reported.seq == seq)
    }
}
