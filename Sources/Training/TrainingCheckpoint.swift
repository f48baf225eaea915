import Foundation
import Interop
import Job
import Kernels
import OPT
import Storage

/// Where a run stands between two optimizer steps: enough, with the model and the optimizer moments, to
/// continue exactly. Data order is a function of (seed, epoch) and dropout masks of (seed, step), so the
/// cursor below is the whole random state.
public struct TrainerState: Equatable, Sendable {
    /// Optimizer steps done so far (the next step is `globalStep + 1`, 1-based).
    public var globalStep = 0
    /// The epoch and the index within it of the next step.
    public var epoch = 0
    public var stepInEpoch = 0
    /// Tokens trained on so far, over all ranks (padding excluded).
    public var tokensSeen = 0
    /// Steps skipped for a non-finite loss or gradient (train.skip_nonfinite).
    public var skippedSteps = 0

    public init() {}
}

/// The checkpoint file (README.md, "Training", Checkpoints): root attributes naming the run, `/model` (Hugging Face names and
/// shapes, via ModelCheckpoint), `/optimizer/exp_avg/<name>` and `/optimizer/exp_avg_sq/<name>` with the
/// AdamW settings as attributes, and `/trainer` (the data cursor as attributes, the metrics table as one
/// dataset per column under `/trainer/metrics`).
public enum TrainingCheckpoint {
    public static let format = "tooltune.checkpoint"
    public static let formatVersion = 1

    /// What identifies the run that wrote a checkpoint.
    public struct Provenance: Sendable {
        public var jobText: String
        public var tokenizerSHA256: String
        public var worldSize: Int

        public init(jobText: String, tokenizerSHA256: String, worldSize: Int) {
            self.jobText = jobText
            self.tokenizerSHA256 = tokenizerSHA256
            self.worldSize = worldSize
        }
    }

    /// Writes the checkpoint atomically: readers see the previous file or the whole new one.
    public static func write(to path: String, model: OPTModel, optimizer: AdamW, optimizerSettings: JobSpec.OptimizerSpec,
                             state: TrainerState, metrics: [StepMetrics], provenance: Provenance) throws {
        try HDF5File.writeAtomically(to: path) { file in
            let root = try file.root
            try root.setAttribute("format", format)
            try root.setAttribute("format_version", formatVersion)
            try root.setAttribute("step", state.globalStep)
            try root.setAttribute("epoch", state.epoch)
            try root.setAttribute("tokens_seen", state.tokensSeen)
            try root.setAttribute("world_size", provenance.worldSize)
            try root.setAttribute("job", provenance.jobText)
            try root.setAttribute(ModelCheckpoint.tokenizerAttribute, provenance.tokenizerSHA256)
            try root.setAttribute("created_utc", ISO8601DateFormatter().string(from: Date()))
            try ModelCheckpoint.write(model, to: file)

            let tensors = ModelCheckpoint.tensors(model.layout)
            let optimizerGroup = try root.createGroup("optimizer")
            try optimizerGroup.setAttribute("name", optimizerSettings.name)
            try optimizerGroup.setAttribute("step", optimizer.step)
            try optimizerGroup.setAttribute("lr", optimizerSettings.lr)
            try optimizerGroup.setAttribute("beta1", optimizerSettings.betas.0)
            try optimizerGroup.setAttribute("beta2", optimizerSettings.betas.1)
            try optimizerGroup.setAttribute("eps", optimizerSettings.eps)
            try optimizerGroup.setAttribute("weight_decay", optimizerSettings.weightDecay)
            for (name, buffer) in [("exp_avg", optimizer.expAvg), ("exp_avg_sq", optimizer.expAvgSq)] {
                try optimizerGroup.createGroup(name).writeTensors(tensors) { tensor in
                    let entry = model.layout[tensor.name]!
                    return UnsafeBufferPointer(start: buffer.pointer + entry.offset, count: entry.count)
                }
            }

            let trainer = try root.createGroup("trainer")
            try trainer.setAttribute("global_step", state.globalStep)
            try trainer.setAttribute("epoch", state.epoch)
            try trainer.setAttribute("step_in_epoch", state.stepInEpoch)
            try trainer.setAttribute("tokens_seen", state.tokensSeen)
            try trainer.setAttribute("skipped_steps", state.skippedSteps)
            try trainer.setAttribute("random_state", "counter-based: data order from (seed, epoch), dropout from (seed, step)")
            try writeMetrics(metrics, to: trainer.createGroup("metrics"))
        }
    }

    /// Everything a resume needs from a checkpoint file.
    public struct Contents {
        /// The checkpoint file.
        public var path: String
        public var state: TrainerState
        public var metrics: [StepMetrics]
        public var config: OPTConfig
        public var provenance: Provenance
    }

    /// Checks the file is a ToolTune checkpoint and reads its run information (not the tensors).
    public static func describe(_ path: String) throws -> Contents {
        let file = try HDF5File(path, mode: .readOnly)
        return try describe(file)
    }

    static func describe(_ file: HDF5File) throws -> Contents {
        let root = try file.root
        guard root.hasAttribute("format"), try root.stringAttribute("format") == format else {
            throw ModelCheckpointError(file: file.path, message: "not a ToolTune training checkpoint (no format = \"\(format)\")")
        }
        let version = try root.intAttribute("format_version")
        guard version == formatVersion else {
            throw ModelCheckpointError(file: file.path, message: "format_version \(version); this ToolTune reads \(formatVersion)")
        }
        let trainer = try root.group("trainer")
        var state = TrainerState()
        state.globalStep = try trainer.intAttribute("global_step")
        state.epoch = try trainer.intAttribute("epoch")
        state.stepInEpoch = try trainer.intAttribute("step_in_epoch")
        state.tokensSeen = try trainer.intAttribute("tokens_seen")
        state.skippedSteps = try trainer.intAttribute("skipped_steps")
        let provenance = Provenance(jobText: try root.stringAttribute("job"),
                                    tokenizerSHA256: try root.stringAttribute(ModelCheckpoint.tokenizerAttribute),
                                    worldSize: try root.intAttribute("world_size"))
        return Contents(path: file.path, state: state, metrics: try readMetrics(trainer.group("metrics")),
                        config: try ModelCheckpoint.config(of: file), provenance: provenance)
    }

    /// Reads the model and the optimizer moments of `path` into `model` and `optimizer`.
    public static func restore(_ path: String, model: OPTModel, optimizer: AdamW) throws -> Contents {
        let file = try HDF5File(path, mode: .readOnly)
        let contents = try describe(file)
        guard contents.config == model.config else {
            throw ModelCheckpointError(file: path, message: "its model_config differs from the job's model; resume with the job that wrote it")
        }
        try ModelCheckpoint.read(into: model, from: file)
        let group = try file.root.group("optimizer")
        optimizer.step = try group.intAttribute("step")
        let tensors = ModelCheckpoint.tensors(model.layout)
        for (name, buffer) in [("exp_avg", optimizer.expAvg), ("exp_avg_sq", optimizer.expAvgSq)] {
            try group.group(name).readTensors(tensors) { tensor in
                let entry = model.layout[tensor.name]!
                return UnsafeMutableBufferPointer(start: buffer.pointer + entry.offset, count: entry.count)
            }
        }
        return contents
    }

    // MARK: The metrics table

    /// One dataset per `StepMetrics.columns` entry (integers as int64, flags as uint8).
    static func writeMetrics(_ metrics: [StepMetrics], to group: HDF5Group) throws {
        for column in StepMetrics.columns {
            switch column {
            case .integer(let key, let field): try group.write(key.rawValue, metrics.map { Int64($0[keyPath: field]) })
            case .real(let key, let field): try group.write(key.rawValue, metrics.map { $0[keyPath: field] })
            case .flag(let key, let field): try group.write(key.rawValue, metrics.map { UInt8($0[keyPath: field] ? 1 : 0) })
            }
        }
    }

    static func readMetrics(_ group: HDF5Group) throws -> [StepMetrics] {
        let count = try group.read(StepMetrics.CodingKeys.step.rawValue, as: Int64.self).values.count
        var metrics = [StepMetrics](repeating: .zero, count: count)
        func fill<T: HDF5Scalar, V>(_ key: StepMetrics.CodingKeys, _ type: T.Type, _ field: WritableKeyPath<StepMetrics, V>,
                                     _ convert: (T) -> V) throws {
            let stored = !group.contains(key.rawValue) ? StepMetrics.addedColumns[key] ?? key : key
            let values = try group.read(stored.rawValue, as: type).values
            guard values.count == count else {
                throw ModelCheckpointError(file: group.file.path, message: "\(group.path)/\(key.rawValue) has \(values.count) rows, step has \(count)")
            }
            for (i, value) in values.enumerated() { metrics[i][keyPath: field] = convert(value) }
        }
        for column in StepMetrics.columns {
            switch column {
            case .integer(let key, let field): try fill(key, Int64.self, field) { Int($0) }
            case .real(let key, let field): try fill(key, Double.self, field) { $0 }
            case .flag(let key, let field): try fill(key, UInt8.self, field) { $0 != 0 }
            }
        }
        return metrics
    }
}

extension TrainingCheckpoint.Contents {
    /// What `tooltune inspect` shows of a training checkpoint before its tree.
    public func summaryLines() -> [String] {
        let c = config
        let variant = c.doLayerNormBefore ? "pre-LN" : "post-LN"
        var lines = [
            "ToolTune checkpoint: step \(state.globalStep) (next: epoch \(state.epoch + 1), step \(state.stepInEpoch + 1)), "
                + "\(state.tokensSeen.formatted()) tokens seen, written by \(provenance.worldSize) rank\(provenance.worldSize == 1 ? "" : "s")",
            "model: OPT \(variant), hidden \(c.hiddenSize), \(c.numHiddenLayers) layers, \(c.numAttentionHeads) heads, "
                + "ffn \(c.ffnDim), vocab \(c.vocabSize), positions \(c.maxPositionEmbeddings)"
                + (c.hasProjections ? ", word_embed_proj_dim \(c.wordEmbedProjDim)" : "")
                + "; \(c.parameterCount.formatted()) parameters",
            "tokenizer sha256: \(provenance.tokenizerSHA256)",
        ]
        if state.skippedSteps > 0 { lines.append("skipped steps (non-finite): \(state.skippedSteps)") }
        if let first = metrics.first, let last = metrics.last {
            let losses = metrics.filter { !$0.skipped }.map(\.loss)
            // Sums in Double: a damaged table's numbers must not overflow an Int (inspect reads any file).
            let seconds = metrics.reduce(0) { $0 + $1.seconds }
            let tokens = metrics.reduce(0.0) { $0 + Double($1.tokens) }
            let communication = metrics.reduce(0) { $0 + $1.communicationSeconds }
            let rate = seconds > 0 ? tokens / seconds : 0
            lines.append(String(format: "metrics: %d steps; loss %.4f (step %d) -> %.4f (step %d), lowest %.4f; %@ tok/s; %.0f%% of step time in allreduce",
                                metrics.count, first.loss, first.step, last.loss, last.step, losses.min() ?? .nan,
                                rate.isFinite && abs(rate) < 1e18 ? Int(rate.rounded()).formatted() : "\(rate)",
                                seconds > 0 ? 100 * communication / seconds : 0))
        }
        return lines
    }
}
