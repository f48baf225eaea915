import Data
import Distributed
import Foundation
import Interop
import Job
import Kernels
import OPT
import Reporting
import Storage
import Tokenizer

/// Options of one `tooltune train` invocation that are not part of the job.
public struct TrainOptions: Sendable {
    /// Stop (with a checkpoint) once this many optimizer steps are done in total; the schedule is the
    /// job's, so a later resume continues exactly as if the run had never stopped.
    public var stopAfterStep: Int?
    /// Where rank 0 writes progress lines.
    public var log: @Sendable (String) -> Void

    public init(stopAfterStep: Int? = nil, log: @escaping @Sendable (String) -> Void = { print($0) }) {
        self.stopAfterStep = stopAfterStep
        self.log = log
    }
}

/// How a run ended.
public struct TrainSummary: Sendable {
    public var stepsDone: Int
    public var totalSteps: Int
    public var tokens: Int
    /// The tokens of the examples trained, each on its own (more than `tokens` with shared prefixes).
    public var exampleTokens: Int
    public var seconds: Double
    public var communicationShare: Double
    public var lastCheckpoint: String?
    /// The signal that stopped the run early, if one did.
    public var stoppedBySignal: Int32?
    public var complete: Bool { stepsDone >= totalSteps }
}

/// A non-finite loss or gradient norm, which stops the job unless train.skip_nonfinite is set.
public struct NonFiniteStepError: Error, CustomStringConvertible {
    public let step: Int
    public let loss: Double
    public let gradNorm: Double
    public var description: String {
        "step \(step): loss \(loss), gradient norm \(gradNorm) is not finite; lower train.optimizer.lr, check the data, "
            + "or set train.skip_nonfinite: true to skip such steps"
    }
}

/// A job that cannot start, with the reason.
public struct TrainError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// Data-parallel training of one job over the ranks of `comm`. Rank 0 (the coordinator) plans every step
/// and broadcasts it; every rank runs forward/backward on its share, gradients are summed over ranks in
/// buckets while backward runs, and every rank takes the same clipped AdamW step. Rank 0 logs and writes
/// checkpoints.
public final class Trainer {
    let job: JobSpec
    let comm: Communicator
    let options: TrainOptions
    let run: RunDirectory
    var coordinator: Bool { comm.isCoordinator }

    public init(job: JobSpec, comm: Communicator, options: TrainOptions = TrainOptions()) {
        self.job = job
        self.comm = comm
        self.options = options
        run = RunDirectory(job.checkpoint.dir)
    }

    func log(_ line: String) { if coordinator { options.log(line) } }

    public func train() throws -> TrainSummary {
        if let ranks = job.distributed.ranks, ranks != comm.size {
            throw TrainError("\(job.file): distributed.ranks is \(ranks), but mpirun started \(comm.size) ranks")
        }
        useThreads(job.distributed.threadsPerRank)
        // Before anything is prepared or written: a node that cannot run the precision says so.
        let engine = try job.compute.engine(job.train.precision, field: "\(job.file): train.precision")

        let tokenizer = try Tokenizer(folder: job.tokenizer.path)
        let dataset = try openDataset(tokenizer: tokenizer)
        let (model, optimizer, resumed) = try initialize(tokenizer: tokenizer)
        model.use(engine)
        var metrics = resumed?.metrics ?? []
        try verifyIdenticalWeights(model)

        // The plan: only the coordinator computes it; the others learn the step count and each step.
        let planner = EpochPlanner(dataset: dataset, train: job.train, ranks: comm.size, seed: job.seed)
        var stepsPerEpoch: [Int64] = coordinator ? (0..<job.train.epochs).map { Int64(planner.stepCount(epoch: $0)) } : []
        try comm.broadcast(&stepsPerEpoch)
        if let resumed {
            // Every rank read the same file and plan, so every rank refuses alike.
            let problems = resumed.resumeProblems(stepsPerEpoch: stepsPerEpoch.map { Int($0) }, optimizerSteps: optimizer.step)
            guard problems.isEmpty else {
                throw TrainError("\(resumed.path): cannot resume from it: " + problems.joined(separator: "; "))
            }
        }
        let state = try TrainingState(model: model, optimizer: optimizer, data: dataset, stepsPerEpoch: stepsPerEpoch.map { Int($0) },
                                      train: job.train, seed: UInt64(job.seed), distributed: job.distributed,
                                      cursor: resumed?.state ?? TrainerState(), comm: comm)
        let totalSteps = state.totalSteps
        let shared = dataset.exampleTokenCount != dataset.tokenCount
            ? ", \(dataset.exampleCount.formatted()) examples in \(dataset.chainCount.formatted()) chains of shared prefixes, "
                + "\(dataset.exampleTokenCount.formatted()) tokens on their own" : ""
        log("train: \(dataset.sequenceCount) sequences (\(dataset.tokenCount.formatted()) tokens\(shared)) from \(dataset.path); "
            + "\(totalSteps) steps on \(comm.size) rank\(comm.size == 1 ? "" : "s") x \(job.distributed.threadsPerRank) threads; "
            + "\(model.layout.count.formatted()) parameters; GEMMs \(engine); allreduce "
            + (state.buckets.overlaps ? "overlapped with backward" : "after backward") + " (\(state.buckets.reducer))")
        let cursor = state.cursor
        if cursor.globalStep >= totalSteps {
            log("the run is already complete (step \(cursor.globalStep) of \(totalSteps)); nothing to train")
        } else if cursor.globalStep > 0 {
            log("resuming after step \(cursor.globalStep) (epoch \(cursor.epoch + 1), step \(cursor.stepInEpoch + 1) of it)")
        }

        do {
            try run.create()
        } catch {
            throw TrainError("\(job.file): checkpoint.dir \(job.checkpoint.dir): \(error)")
        }
        let metricsLog = MetricsLog(url: run.metricsFile)
        if coordinator { try metricsLog.restart(from: metrics) }
        StopSignal.install()
        var progress = Progress(totalSteps: totalSteps)
        var lastCheckpoint: String?
        // The step the newest checkpoint holds; every rank tracks it, so all decide alike to write one.
        var savedStep = cursor.globalStep
        var sessionTokens = 0, sessionExampleTokens = 0, sessionSeconds = 0.0, sessionCommunication = 0.0
        var stoppedBy: Int32?
        var steps: [StepPlan] = []

        while state.cursor.globalStep < totalSteps {
            // The coordinator's decision for this boundary, the same on every rank once broadcast.
            var message: [Int64] = []
            if coordinator {
                let cursor = state.cursor
                let control: StepControl
                if let signal = StopSignal.requested {
                    control = .stop(signal: signal)
                } else if let stop = options.stopAfterStep, cursor.globalStep >= stop {
                    control = .stop(signal: nil)
                } else {
                    if steps.isEmpty || steps.first?.epoch != cursor.epoch { steps = planner.steps(epoch: cursor.epoch) }
                    control = .run(steps[cursor.stepInEpoch])
                }
                message = control.encoded
            }
            try comm.broadcast(&message)
            guard let control = StepControl(encoded: message) else {
                throw TrainError("rank \(comm.rank): received a malformed step control message")
            }
            guard case .run(let plan) = control else {
                if case .stop(let signal) = control { stoppedBy = signal }
                break
            }

            let record: StepMetrics
            do {
                record = try state.step(plan).metrics
            } catch let error as OPTModelError {  // a micro-batch of more activations than memory
                throw TrainError("\(job.file): train.micro_batch_tokens \(job.train.microBatchTokens): \(error)")
            }
            metrics.append(record)
            sessionTokens += record.tokens
            sessionExampleTokens += record.exampleTokens
            sessionSeconds += record.seconds
            sessionCommunication += record.communicationSeconds
            if coordinator {
                try metricsLog.append(record)
                options.log(progress.line(record, epochs: job.train.epochs))
            }
            if state.cursor.globalStep % job.checkpoint.everySteps == 0 || state.cursor.globalStep == totalSteps {
                lastCheckpoint = try writeCheckpoint(state, metrics, tokenizer: tokenizer)
                savedStep = state.cursor.globalStep
            }
        }
        // Stopped between checkpoints (signal, --stop-after-step): save where the run stands.
        if state.cursor.globalStep != savedStep {
            lastCheckpoint = try writeCheckpoint(state, metrics, tokenizer: tokenizer)
        }
        try comm.barrier()
        let summary = TrainSummary(stepsDone: state.cursor.globalStep, totalSteps: totalSteps, tokens: sessionTokens,
                                   exampleTokens: sessionExampleTokens,
                                   seconds: sessionSeconds,
                                   communicationShare: sessionSeconds > 0 ? sessionCommunication / sessionSeconds : 0,
                                   lastCheckpoint: lastCheckpoint, stoppedBySignal: stoppedBy)
        log(Progress.summary(summary))
        return summary
    }

    // MARK: Start-up

    /// The prepared training data: prepared by rank 0 first if the file is missing, then opened on every
    /// rank. Rank 0 checks it still matches the job (tokenizer, recipe, input files).
    func openDataset(tokenizer: Tokenizer) throws -> PreparedDataset {
        guard let path = DataPreparation.datasetPath(.train, job: job) else {
            throw TrainError("\(job.file): data.train is not set")
        }
        let preparation = DataPreparation(job: job, encoder: tokenizer, tokenizerSHA256: tokenizer.sha256)
        if coordinator, !FileManager.default.fileExists(atPath: path) {
            log("train: \(path) does not exist; preparing the data first")
            try preparation.run(progress: DataPreparation.progressBars()).lines().forEach(log)
        }
        try comm.barrier()
        let dataset = try PreparedDataset(path: path)
        if coordinator {
            try preparation.checkUpToDate(dataset, at: path, split: .train)
            guard dataset.maxTokenID < job.model.config.vocabSize else {
                throw TrainError("\(path) has token id \(dataset.maxTokenID), outside the model's vocab_size \(job.model.config.vocabSize)")
            }
            guard dataset.sequenceCount > 0 else { throw TrainError("\(path) holds no sequences") }
            // Every id and mask value, before any step reads them (a bad one would index past the embeddings).
            try dataset.checkContents(vocabularySize: job.model.config.vocabSize)
        }
        return dataset
    }

    /// The model and optimizer to start from: a checkpoint to resume (checkpoint.resume; its contents are
    /// returned), else the job's model.init with a fresh optimizer.
    func initialize(tokenizer: Tokenizer) throws -> (OPTModel, AdamW, TrainingCheckpoint.Contents?) {
        func optimizer(for model: OPTModel) -> AdamW { TrainingState.optimizer(for: model, job.train.optimizer) }
        let resumeFrom: String?
        switch job.checkpoint.resume {
        case .never:
            if let latest = try run.latestCheckpoint() {
                throw TrainError("\(job.file): checkpoint.resume is never, but \(latest.path) exists; "
                                 + "use resume: auto, or move \(run.root.path) away")
            }
            resumeFrom = nil
        case .auto: resumeFrom = try run.latestCheckpoint()?.path
        case .from(let path): resumeFrom = path
        }
        if let resumeFrom {
            let model = try OPTModel(config: job.model.config)
            let adam = optimizer(for: model)
            let contents = try TrainingCheckpoint.restore(resumeFrom, model: model, optimizer: adam)
            if contents.provenance.tokenizerSHA256 != tokenizer.sha256 {
                throw TrainError("\(resumeFrom) was trained with another tokenizer than \(job.tokenizer.path)")
            }
            if contents.provenance.worldSize != comm.size {
                log("note: \(resumeFrom) was written by \(contents.provenance.worldSize) ranks, this run has \(comm.size): "
                    + "the same steps, but sums in another order (not bit-identical)")
            }
            return (model, adam, contents)
        }
        let model = try Trainer.initialModel(job: job, tokenizer: tokenizer)
        return (model, optimizer(for: model), nil)
    }

    /// The model a fresh run of `job` starts from (model.init): random with the job's seed, a ToolTune model
    /// file (trained with the job's tokenizer), or a Hugging Face folder.
    public static func initialModel(job: JobSpec, tokenizer: Tokenizer) throws -> OPTModel {
        switch job.model.initialization {
        case .random:
            return try OPTModel(config: job.model.config, seed: UInt64(job.seed))
        case .checkpoint:
            let model = try OPTModel(config: job.model.config)
            let file = try HDF5File(job.model.path!, mode: .readOnly)
            if let recorded = try ModelCheckpoint.tokenizerSHA256(of: file), recorded != tokenizer.sha256 {
                throw TrainError("\(job.model.path!) was trained with another tokenizer (\(recorded.prefix(12))…) than "
                                 + "\(job.tokenizer.path) (\(tokenizer.sha256.prefix(12))…)")
            }
            try ModelCheckpoint.read(into: model, from: file)
            return model
        case .hf:
            return try HuggingFaceModel.load(folder: job.model.path!)
        }
    }

    /// Every rank must hold the same weights (before step 1, and at each checkpoint, since the one
    /// written stands for all): compares a checksum of the parameter bits.
    func verifyIdenticalWeights(_ model: OPTModel, when: String = "before step 1") throws {
        guard comm.size > 1 else { return }
        let checksum = Int64(bitPattern: weightChecksum(model.parameters.pointer, count: model.layout.count))
        let low = try comm.allreduce(checksum, .min), high = try comm.allreduce(checksum, .max)
        guard low == high else {
            throw TrainError("rank \(comm.rank): the ranks hold different weights \(when) (checksums differ)")
        }
    }

    // MARK: Checkpoints

    /// Rank 0 writes step-NNNNNN.h5 atomically, points LATEST at it and prunes old ones; the other
    /// ranks go on to the next step and wait for rank 0 in its first collective.
    func writeCheckpoint(_ state: TrainingState, _ metrics: [StepMetrics], tokenizer: Tokenizer) throws -> String {
        let cursor = state.cursor
        try verifyIdenticalWeights(state.model, when: "after step \(cursor.globalStep)")
        let path = run.checkpointPath(step: cursor.globalStep)
        guard coordinator else { return path.path }
        let start = Date()
        try TrainingCheckpoint.write(to: path.path, model: state.model, optimizer: state.optimizer,
                                     optimizerSettings: job.train.optimizer, state: cursor, metrics: metrics,
                                     provenance: .init(jobText: job.text, tokenizerSHA256: tokenizer.sha256, worldSize: comm.size))
        try run.setLatest(path)
        try run.prune(keepLast: job.checkpoint.keepLast)
        let size = (try? FileManager.default.attributesOfItem(atPath: path.path))?[.size] as? Int ?? 0
        log(String(format: "checkpoint: %@ (%.1f MB, %.2f s)", path.path, Double(size) / 1e6, Date().timeIntervalSince(start)))
        return path.path
    }
}

/// FNV-1a over the bit patterns of `count` floats: equal buffers give equal sums, and one flipped bit
/// changes it.
func weightChecksum(_ values: UnsafePointer<Float>, count: Int) -> UInt64 {
    var hash: UInt64 = 0xCBF2_9CE4_8422_2325
    for i in 0..<count {
        hash = (hash ^ UInt64(values[i].bitPattern)) &* 0x0000_0100_0000_01B3
    }
    return hash
}
