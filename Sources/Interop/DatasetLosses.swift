import Foundation
import OPT
import Storage

/// Teacher-forced losses of every example of a prepared dataset as training sees it (`tooltune forward
/// --dataset`): every packed sequence runs as it is trained, without dropout, and each target's loss is
/// credited to the example whose span holds its label; with gradients, those of the summed target loss.
/// Two files of the same examples (with and without shared prefixes, say) give the same numbers up to
/// float rounding.
public struct DatasetLosses: Sendable {
    /// One example's targets and the sum of their losses.
    public struct Example: Sendable, Equatable {
        /// Its position in input order.
        public var inputIndex: Int
        public var targets: Int
        public var lossSum: Double
        /// The loss of its last label (its `</s>` in ToolTune's datasets).
        public var lastTargetLoss: Float
    }

    /// The examples in the file's order.
    public var examples: [Example]
    public var lossSum: Double
    public var targets: Int
    public var sequences: Int
    public var tokens: Int
    /// With gradients: the gradient of the summed target loss, in the model's parameter layout. Each
    /// sequence's fp32 gradient is added in float64, so the sum over a whole dataset (tens of thousands of
    /// tokens for a bias) does not depend on how the tokens are split into sequences beyond fp32 rounding
    /// within one sequence.
    public var gradients: [Double]?

    /// Runs `model` over every sequence of `dataset`, one sequence per micro-batch, and with `gradients`
    /// backward too (the model's gradient buffer is overwritten).
    public static func compute(model: OPTModel, dataset: PreparedDataset, gradients: Bool) throws -> DatasetLosses {
        var examples = (0..<dataset.exampleCount).map {
            Example(inputIndex: Int(dataset.inputIndex[$0]), targets: 0, lossSum: 0, lastTargetLoss: .nan)
        }
        var lossSum = 0.0, targets = 0
        var sum: [Double]? = gradients ? [Double](repeating: 0, count: model.layout.count) : nil
        for s in 0..<dataset.sequenceCount {
            let sequence = try dataset.readSequence(s)
            let batch = try MicroBatch(packed: [sequence], length: sequence.count, padID: Int32(model.config.padTokenId))
            let result = try model.forward(batch)
            if sum != nil {
                model.zeroGradients()
                model.backward(scale: 1)
                let g = model.gradients.pointer
                for i in 0..<model.layout.count { sum![i] += Double(g[i]) }
            }
            lossSum += result.lossSum
            targets += result.targetCount
            // Losses come in position order; position i's label is token i+1's, inside one example's span.
            let start = dataset.tokenRange(ofSequence: s).lowerBound
            var e = Int(dataset.sequenceExampleOffsets[s]), k = 0
            for i in 0..<sequence.count where sequence.targets[i] != PreparedDatasetFormat.ignoreIndex {
                let label = Int64(start + i + 1)
                while dataset.exampleOffsets[e + 1] <= label { e += 1 }
                examples[e].targets += 1
                examples[e].lossSum += Double(result.targetLosses[k])
                examples[e].lastTargetLoss = result.targetLosses[k]
                k += 1
            }
        }
        return DatasetLosses(examples: examples, lossSum: lossSum, targets: targets, sequences: dataset.sequenceCount,
                             tokens: dataset.tokenCount, gradients: sum)
    }

    /// Writes `/examples/{input_index, targets, loss_sum, last_target_loss}` (in the dataset's order), the
    /// attributes `loss_sum` and `targets`, and, with gradients, `/gradients/<Hugging Face name>` (float64,
    /// Hugging Face shapes) in `layout`, atomically.
    public func write(to path: String, layout: ParameterLayout) throws {
        try AtomicFile.write(to: path) { temporary in
            let file = try HDF5File(temporary, mode: .createExclusive)
            let root = try file.root
            try root.write("examples/input_index", examples.map { Int64($0.inputIndex) })
            try root.write("examples/targets", examples.map { Int64($0.targets) })
            try root.write("examples/loss_sum", examples.map(\.lossSum))
            try root.write("examples/last_target_loss", examples.map(\.lastTargetLoss))
            try root.setAttribute("loss_sum", lossSum)
            try root.setAttribute("targets", targets)
            if let gradients {
                let group = try root.createGroup("gradients")
                for entry in layout.entries {
                    try group.write(entry.name, Array(gradients[entry.offset..<(entry.offset + entry.count)]), shape: entry.shape)
                }
            }
            try file.close()
        }
    }
}
