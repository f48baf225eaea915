import Distributed
import Foundation
import Interop
import Job
import Kernels
import OPT
import Storage

/// The packed sequences a training step reads, by index: the prepared dataset in `tooltune train`, random
/// tokens in `tooltune bench train-step`.
public protocol TrainingData: AnyObject {
    /// Positions of each sequence that have a next-token target.
    var targetCounts: [Int32] { get }
    func length(ofSequence s: Int) -> Int
    /// The tokens sequence s's examples have on their own: its length, or more with shared prefixes.
    func exampleTokens(ofSequence s: Int) -> Int
    /// The length every micro-batch row is padded to (the data's max_seq_len).
    var rowLength: Int { get }
    func readSequence(_ s: Int) throws -> PackedSequence
}

extension PreparedDataset: TrainingData {
    public var rowLength: Int { metadata.maxSeqLen }
}

/// One rank's training run, built once: the model and its AdamW state with the weight-decay groups, the
/// gradient buckets, the data, the steps of each epoch, the learning-rate schedule over them, and where the
/// run stands. `step` is the optimizer step: `tooltune train` runs it for every planned step, `tooltune
/// bench train-step` times it.
public final class TrainingState {
    public let model: OPTModel
    public let optimizer: AdamW
    public let data: any TrainingData
    /// Steps in each epoch, as the coordinator planned them.
    public let stepsPerEpoch: [Int]
    /// The planned steps, or train.max_steps when fewer.
    public let totalSteps: Int
    public let schedule: LearningRateSchedule
    public let buckets: GradientBuckets
    /// Where the run stands: the next step is `cursor.globalStep + 1`.
    public private(set) var cursor: TrainerState
    let groups: [AdamW.Group]
    /// The sum of a step's earlier micro-batches' gradients on this rank (allocated when a rank has more
    /// than one micro-batch in a step).
    private var earlierGradients: FloatBuffer?
    let train: JobSpec.TrainSpec
    let seed: UInt64
    let comm: Communicator

    /// `train` gives the schedule, dropout, clipping and weight decay; `seed` the dropout masks; `distributed`
    /// the buckets and how they are summed; `cursor` a resumed run's position. Collective (a hierarchical
    /// sum splits `comm` into nodes).
    public init(model: OPTModel, optimizer: AdamW, data: any TrainingData, stepsPerEpoch: [Int], train: JobSpec.TrainSpec,
                seed: UInt64, distributed: JobSpec.DistributedSpec, cursor: TrainerState = TrainerState(),
                comm: Communicator) throws {
        self.model = model
        self.optimizer = optimizer
        self.data = data
        self.stepsPerEpoch = stepsPerEpoch
        let planned = stepsPerEpoch.reduce(0, +)
        totalSteps = min(planned, train.maxSteps ?? planned)
        schedule = LearningRateSchedule(train.schedule, baseLR: train.optimizer.lr, totalSteps: totalSteps)
        groups = model.layout.optimizerGroups(weightDecay: train.optimizer.weightDecay)
        buckets = GradientBuckets(reducer: try GradientReducer(comm: comm, distributed.reduction), buffer: model.gradients.pointer,
                                  bucketBytes: Int(distributed.bucketMB * 1_048_576))
        self.cursor = cursor
        self.train = train
        self.seed = seed
        self.comm = comm
    }

    /// A fresh AdamW for `model` with the job's settings (torch.optim.AdamW's semantics).
    public static func optimizer(for model: OPTModel, _ o: JobSpec.OptimizerSpec) -> AdamW {
        AdamW(parameterCount: model.layout.count, hyperparameters: .init(
            learningRate: o.lr, beta1: o.betas.0, beta2: o.betas.1, epsilon: o.eps))
    }

    /// earlier = gradients (the first micro-batch) or earlier + gradients.
    private func keepEarlierGradients(first: Bool) {
        let earlier = earlierGradients ?? FloatBuffer(count: model.layout.count)
        earlierGradients = earlier
        if first {
            earlier.copy(from: model.gradients)
        } else {
            add(from: model.gradients.pointer, into: earlier.pointer, range: 0..<model.layout.count)
        }
    }

    /// gradients[range] = earlier[range] + gradients[range]: the step's sum of one range.
    private func addEarlierGradients(_ range: Range<Int>) {
        add(from: earlierGradients!.pointer, into: model.gradients.pointer, range: range)
    }

    private func add(from source: UnsafeMutablePointer<Float>, into target: UnsafeMutablePointer<Float>, range: Range<Int>) {
        Parallel.forEach(range.count, minimumChunk: 1 << 16) { part in
            let start = range.lowerBound + part.lowerBound
            VectorMath.add(source + start, into: target + start, part.count)
        }
    }

    /// Where one step's time went on this rank, for the benchmark (the metrics keep what a run logs).
    public struct StepTimes: Sendable {
        /// Forward passes with the loss.
        public var forward = 0.0
        /// Zeroing the gradients and the backward passes (handing finished buckets to the allreduce).
        public var backward = 0.0
        /// The gradient norm, clipping and the AdamW update.
        public var update = 0.0
    }

    /// Runs `plan` (every rank calls it with the same plan): this rank's micro-batches forward and backward
    /// with the loss scaled by the step's target count over all ranks, gradients summed over ranks in
    /// buckets as backward finishes them, then the same global-norm clipping and AdamW update on every
    /// rank. Advances `cursor`. A non-finite loss or norm throws unless train.skip_nonfinite.
    public func step(_ plan: StepPlan) throws -> (metrics: StepMetrics, times: StepTimes) {
        let start = Date()
        var times = StepTimes()
        let mine = plan.microBatches[comm.rank]
        // Every rank holds the whole plan and every sequence's counts, so the step's totals need no message.
        let everyone = plan.sequences
        let globalTargets = everyone.reduce(0) { $0 + Int(data.targetCounts[$1]) }
        let globalTokens = everyone.reduce(0) { $0 + data.length(ofSequence: $1) }
        let exampleTokens = everyone.reduce(0) { $0 + data.exampleTokens(ofSequence: $1) }
        guard globalTargets > 0 else { throw TrainError("step \(cursor.globalStep + 1) has no target tokens") }

        var mark = Date()
        model.zeroGradients()
        times.backward += Date().timeIntervalSince(mark)
        let scale = 1 / Float(globalTargets)
        let dropout = Dropout(probability: Float(train.dropout), seed: seed, step: UInt64(cursor.globalStep))
        let padID = Int32(model.config.padTokenId)
        var lossSum = 0.0
        for (index, micro) in mine.enumerated() {
            let packed = try micro.map { try data.readSequence($0) }
            let batch = try MicroBatch(packed: packed, length: data.rowLength, padID: padID)
            mark = Date()
            lossSum += try model.forward(batch, dropout: dropout).lossSum
            let forwardEnd = Date()
            times.forward += forwardEnd.timeIntervalSince(mark)
            // Each micro-batch's gradient is computed from zero and then added to the earlier ones', so a
            // step's sum has the same terms however its micro-batches fall on ranks (1 rank x 2 micro-batches
            // and 2 ranks x 1 give the same bits); buckets go out during the last backward, as each range of
            // the step's gradient is complete.
            let last = index == mine.count - 1
            if index > 0 { model.zeroGradients() }
            model.backward(scale: scale, onGradientsReady: last ? { range in
                if index > 0 { self.addEarlierGradients(range) }
                self.buckets.ready(range)
            } : nil)
            if !last { keepEarlierGradients(first: index == 0) }
            times.backward += Date().timeIntervalSince(forwardEnd)
        }
        if mine.isEmpty { model.layout.gradientReadyOrder.forEach(buckets.ready) }
        let computeEnd = Date()
        let timing = try buckets.finish()
        var sums = [lossSum]
        try comm.allreduce(&sums, .sum)
        let loss = sums[0] / Double(globalTargets)

        let clipStart = Date()
        let gradients = model.gradients.pointer, count = model.layout.count
        let norm = GradientClipping.sumOfSquares(gradients, count: count).squareRoot()
        // Clipping scales the gradients inside the update (one pass over them fewer than scaling first).
        let clip = train.maxGradNorm > 0 ? GradientClipping.coefficient(norm: norm, maxNorm: train.maxGradNorm) : 1
        let lr = schedule.learningRate(atStep: cursor.globalStep)
        let finite = loss.isFinite && norm.isFinite
        if !finite && !train.skipNonfinite {
            throw NonFiniteStepError(step: cursor.globalStep + 1, loss: loss, gradNorm: norm)
        }
        let updateStart = Date()
        if finite {
            optimizer.update(parameters: model.parameters.pointer, gradients: gradients, groups: groups, learningRate: lr,
                             gradientScale: clip, rounded: model.roundedParameters?.elements(BFloat16.self))
        } else {
            cursor.skippedSteps += 1
        }
        let end = Date()
        times.update = end.timeIntervalSince(clipStart)

        cursor.globalStep += 1
        cursor.tokensSeen += globalTokens
        cursor.stepInEpoch += 1
        if cursor.stepInEpoch >= stepsPerEpoch[plan.epoch] {
            cursor.epoch += 1
            cursor.stepInEpoch = 0
        }
        let seconds = end.timeIntervalSince(start)
        let metrics = StepMetrics(step: cursor.globalStep, epoch: plan.epoch, loss: loss, lr: lr, gradNorm: norm,
                                  tokens: globalTokens, targetTokens: globalTargets, exampleTokens: exampleTokens,
                                  tokensPerSecond: Double(globalTokens) / seconds,
                                  exampleTokensPerSecond: Double(exampleTokens) / seconds, seconds: seconds,
                                  computeSeconds: computeEnd.timeIntervalSince(start) + end.timeIntervalSince(updateStart),
                                  communicationSeconds: timing.communication, waitSeconds: timing.wait, skipped: !finite)
        return (metrics, times)
    }
}
