import Data
import Foundation
import Interop
import Job
import Storage
import Tokenizer

/// What a run of a job trains on, written for another trainer (`tooltune export-steps`; scripts/trl_twin.py
/// feeds it to TRL's SFTTrainer): the model the run starts from, and every chain of the first optimizer
/// steps, step by step as the coordinator plans them, with Hugging Face labels.
///
/// ```
/// <folder>/initial.h5       the job's initial model (model file: /model, model_config, tokenizer_sha256)
/// <folder>/examples.jsonl   one chain per line (one attention block: an example, or the examples sharing its
///                           prefix), in training order:
///                           {"step", "epoch", "rank", "micro_batch", "sequence", "examples", "input_ids", "labels"}
///                           step is 1-based; rank/micro_batch/sequence say where the trainer runs it; examples
///                           are the chain's indices in the prepared dataset, shortest first; labels[i] is the
///                           target predicted from input_ids[..<i] (transformers shifts them: position i-1
///                           predicts labels[i]), -100 outside the loss: input_ids[i], or EOS where a shorter
///                           example of the chain ends and the next input token is the longer one's
/// <folder>/plan.json        the schedule (total and warmup steps), steps per epoch, and per exported step its
///                           examples, chains, tokens run, example tokens and target tokens
/// ```
/// A chain goes out as one row, as ToolTune trains it, rather than one row per example: the other trainer
/// then computes the same logits at the same positions from the same rows, so the losses differ only by the
/// two implementations' rounding and the wall times are for the same work. Transformers' causal-LM loss
/// reads its targets from the labels alone, so an EOS label over another input token trains as ToolTune's.
public enum StepExport {
    public struct Step: Codable, Sendable, Equatable {
        public var step: Int
        public var epoch: Int
        public var examples: Int
        /// Rows of examples.jsonl: chains (as many as examples without shared prefixes).
        public var chains: Int
        /// Tokens run (each chain once).
        public var tokens: Int
        /// The tokens of the step's examples on their own.
        public var exampleTokens: Int
        public var targetTokens: Int
        /// Micro-batches over all ranks, as the trainer runs the step.
        public var microBatches: Int

        enum CodingKeys: String, CodingKey {
            case step, epoch, examples, chains, tokens
            case exampleTokens = "example_tokens"
            case targetTokens = "target_tokens"
            case microBatches = "micro_batches"
        }
    }

    /// plan.json.
    public struct Plan: Codable, Sendable, Equatable {
        public var dataset: String
        public var ranks: Int
        /// The steps the job's learning-rate schedule spans (min of the planned steps and train.max_steps).
        public var totalSteps: Int
        public var warmupSteps: Int
        public var schedule: String
        public var stepsPerEpoch: [Int]
        public var steps: [Step]

        enum CodingKeys: String, CodingKey {
            case dataset, ranks, schedule, steps
            case totalSteps = "total_steps"
            case warmupSteps = "warmup_steps"
            case stepsPerEpoch = "steps_per_epoch"
        }
    }

    /// One line of examples.jsonl: a chain.
    struct Row: Codable {
        var step: Int
        var epoch: Int
        var rank: Int
        var microBatch: Int
        var sequence: Int
        var examples: [Int]
        var inputIDs: [Int32]
        var labels: [Int32]

        enum CodingKeys: String, CodingKey {
            case step, epoch, rank, sequence, examples, labels
            case microBatch = "micro_batch"
            case inputIDs = "input_ids"
        }
    }

    /// Writes the folder atomically for the first `steps` optimizer steps of `job` (all its steps when nil),
    /// planned for the job's `distributed.ranks` (1 when unset). The prepared training data must exist and be
    /// the job's.
    public static func run(job: JobSpec, to folder: String, steps: Int?, replacing: Bool) throws -> Plan {
        let tokenizer = try Tokenizer(folder: job.tokenizer.path)
        guard let path = DataPreparation.datasetPath(.train, job: job) else {
            throw TrainError("\(job.file): data.train is not set")
        }
        guard FileManager.default.fileExists(atPath: path) else {
            throw TrainError("\(path) does not exist; run `tooltune prepare \(job.file)` first")
        }
        let dataset = try PreparedDataset(path: path)
        try DataPreparation(job: job, encoder: tokenizer, tokenizerSHA256: tokenizer.sha256)
            .checkUpToDate(dataset, at: path, split: .train)

        let ranks = job.distributed.ranks ?? 1
        let planner = EpochPlanner(dataset: dataset, train: job.train, ranks: ranks, seed: job.seed)
        let stepsPerEpoch = (0..<job.train.epochs).map { planner.stepCount(epoch: $0) }
        let planned = stepsPerEpoch.reduce(0, +)
        let totalSteps = min(planned, job.train.maxSteps ?? planned)
        if let steps, !(1...totalSteps).contains(steps) {
            throw TrainError("--steps \(steps): the job has \(totalSteps) steps")
        }
        let schedule = LearningRateSchedule(job.train.schedule, baseLR: job.train.optimizer.lr, totalSteps: totalSteps)
        let model = try Trainer.initialModel(job: job, tokenizer: tokenizer)

        var plan = Plan(dataset: path, ranks: ranks, totalSteps: totalSteps, warmupSteps: schedule.warmupSteps,
                        schedule: job.train.schedule.name.rawValue, stepsPerEpoch: stepsPerEpoch, steps: [])
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        try AtomicFolder.write(to: folder, replacing: replacing) { temporary in
            try ModelCheckpoint.save(model, to: "\(temporary)/initial.h5", tokenizerSHA256: tokenizer.sha256)
            guard FileManager.default.createFile(atPath: "\(temporary)/examples.jsonl", contents: nil) else {
                throw TrainError("\(temporary)/examples.jsonl: cannot create the file")
            }
            let lines = try FileHandle(forWritingTo: URL(fileURLWithPath: "\(temporary)/examples.jsonl"))
            defer { try? lines.close() }
            var number = 0
            epochs: for epoch in 0..<job.train.epochs {
                for stepPlan in planner.steps(epoch: epoch) {
                    guard number < (steps ?? totalSteps) else { break epochs }
                    number += 1
                    var step = Step(step: number, epoch: epoch, examples: 0, chains: 0, tokens: 0, exampleTokens: 0,
                                    targetTokens: 0, microBatches: stepPlan.microBatches.reduce(0) { $0 + $1.count })
                    for (rank, micro) in stepPlan.microBatches.enumerated() {
                        for (m, sequences) in micro.enumerated() {
                            for s in sequences {
                                for chain in try chains(of: s, in: dataset) {
                                    let line = Row(step: number, epoch: epoch, rank: rank, microBatch: m, sequence: s,
                                                   examples: chain.examples, inputIDs: chain.ids, labels: chain.labels)
                                    try lines.write(contentsOf: try encoder.encode(line) + Data("\n".utf8))
                                    step.examples += chain.examples.count
                                    step.chains += 1
                                    step.tokens += chain.ids.count
                                    step.targetTokens += chain.labels.reduce(0) { $0 + ($1 == PreparedDatasetFormat.ignoreIndex ? 0 : 1) }
                                }
                                step.exampleTokens += dataset.exampleTokens(ofSequence: s)
                            }
                        }
                    }
                    plan.steps.append(step)
                }
            }
            try lines.synchronize()
            encoder.outputFormatting = [.sortedKeys, .prettyPrinted]
            try encoder.encode(plan).write(to: URL(fileURLWithPath: "\(temporary)/plan.json"))
        }
        return plan
    }

    /// The chains of packed sequence `s` as the trainer runs them (tokens, next-token targets inside each
    /// chain), with Hugging Face labels: the target of position i is the label of position i + 1.
    static func chains(of s: Int, in dataset: PreparedDataset) throws -> [(examples: [Int], ids: [Int32], labels: [Int32])] {
        let sequence = try dataset.readSequence(s)
        let members = Int(dataset.sequenceExampleOffsets[s])..<Int(dataset.sequenceExampleOffsets[s + 1])
        let starts = members.filter { dataset.chainStart[$0] == $0 }
        return zip(zip(sequence.boundaries, sequence.boundaries.dropFirst()), starts).map { bounds, first in
            let (a, b) = bounds
            var labels = [Int32](repeating: PreparedDatasetFormat.ignoreIndex, count: b - a)
            for i in a..<(b - 1) { labels[i + 1 - a] = sequence.targets[i] }
            let examples = members.filter { dataset.chainStart[$0] == first }
            return (examples, Array(sequence.tokens[a..<b]), labels)
        }
    }
}
