import Foundation
import Interop
import OPT
import Storage
import Testing
import TestSupport
@testable import Tokenizer
import Training

/// `tooltune train`, run as a user runs it on 1 and 2 ranks, against PyTorch taking the same steps
/// (Tests/Fixtures/train, written by scripts/make_training_reference.py): the data order, every step's loss,
/// gradient norm and learning rate, and the weights after the last step.
@Suite(.serialized) struct TrainingReferenceTests {
    static let names = ["tiny-run", "tiny-run-postln-proj"]

    @Test(arguments: names)
    func epochPlannerCutsTheReferenceSteps(name: String) throws {
        let fixture = try TrainingFixture(name)
        for ranks in [1, 2] {
            let planner = EpochPlanner(sequenceTokens: fixture.sequenceLengths, globalBatchTokens: fixture.globalBatchTokens,
                                       microBatchTokens: fixture.microBatchTokens, ranks: ranks, seed: UInt64(fixture.seed))
            // In permutation order, as the reference draws them.
            var ordered: [(epoch: Int, sequences: [Int])] = []
            var planned: [Set<Int>] = []
            for epoch in 0..<fixture.epochs {
                let order = planner.permutation(epoch: epoch)
                ordered += planner.stepBoundaries(epoch: epoch).map { (epoch, Array(order[$0])) }
                planned += planner.steps(epoch: epoch).map { Set($0.sequences) }
            }
            let steps = fixture.steps
            try #require(ordered.count >= steps.count)
            for (k, step) in steps.enumerated() {
                #expect(ordered[k].epoch == step.epoch && ordered[k].sequences == step.sequences,
                        "\(name) step \(k + 1): planner \(ordered[k]), reference epoch \(step.epoch) \(step.sequences)")
                #expect(planned[k] == Set(step.sequences), "\(name) step \(k + 1), \(ranks) ranks")
            }
            if fixture.maxSteps == 0 { #expect(ordered.count == steps.count, "\(name): the run is every step of its epochs") }
        }
    }

    @Test(arguments: names, [1, 2])
    func trainingMatchesPyTorch(name: String, ranks: Int) throws {
        let fixture = try TrainingFixture(name)
        let folder = try makeTemporaryFolder("train-reference")
        defer { try? FileManager.default.removeItem(at: folder) }
        let job = try fixture.writeJob(in: folder)
        let result = ranks == 1 ? try runProcess(ToolTuneBinary.path, ["train", job.path])
                                : try runMPI(ranks: ranks, ["train", job.path])
        try #require(result.status == 0 && !result.timedOut, "\(name), \(ranks) ranks: \(result.stderr)\n\(result.stdout)")

        let run = RunDirectory(folder.appendingPathComponent("run").path)
        let metrics = try MetricsLog(url: run.metricsFile).read()
        let steps = fixture.steps
        try #require(metrics.count == steps.count, "\(name): \(metrics.count) steps logged, the reference took \(steps.count)")
        var worst = (loss: 0.0, norm: 0.0)
        for (k, (ours, step)) in zip(metrics, steps).enumerated() {
            let label = "\(name), \(ranks) ranks, step \(k + 1)"
            #expect(ours.step == k + 1 && ours.epoch == step.epoch && !ours.skipped, "\(label): \(ours)")
            // The step trained on the reference's sequences: the same tokens and targets.
            #expect(ours.tokens == step.tokens && ours.targetTokens == step.targetTokens,
                    "\(label): \(ours.tokens) tokens, \(ours.targetTokens) targets; reference \(step.tokens), \(step.targetTokens)")
            let lossError = abs(ours.loss - step.loss) / step.loss, normError = abs(ours.gradNorm - step.gradNorm) / step.gradNorm
            worst = (max(worst.loss, lossError), max(worst.norm, normError))
            #expect(lossError <= 1e-5, "\(label): loss \(ours.loss), PyTorch \(step.loss)")
            #expect(normError <= 1e-5, "\(label): grad norm \(ours.gradNorm), PyTorch \(step.gradNorm)")
            // Both compute the schedule in Double with the same operations.
            #expect(abs(ours.lr - step.lr) <= 1e-12 * fixture.lr, "\(label): lr \(ours.lr), PyTorch \(step.lr)")
        }

        let model = try ModelCheckpoint.load(run.checkpointPath(step: steps.count).path)
        // The Trainer's parameter groups: no weight decay on biases and LayerNorm parameters.
        #expect(Set(model.layout.entries.filter { !$0.weightDecay }.map(\.name)) == Set(fixture.noDecay))
        let report = try fixture.compareFinalWeights(model)
        #expect(report.failures.isEmpty, "\(name), \(ranks) ranks: final weights \(report.failures.prefix(10).joined(separator: "; "))")
        print("\(name), \(ranks) ranks: max relative error loss \(worst.loss), grad norm \(worst.norm); "
              + "final weights \(report.worst.error) (\(report.worst.name)), k_proj.bias max |diff| \(report.kBias)")
    }
}

/// One file of Tests/Fixtures/train: the model before training, the packed dataset, the hyperparameters,
/// and PyTorch's steps and final weights.
struct TrainingFixture {
    static let folder = ToolTuneBinary.projectRoot.appendingPathComponent("Tests/Fixtures/train")

    struct Step {
        var epoch: Int
        var sequences: [Int]
        var tokens: Int
        var targetTokens: Int
        var loss: Double
        var gradNorm: Double
        var lr: Double
    }

    typealias Example = (tokens: [Int32], lossMask: [UInt8], inputIndex: Int)

    let name: String
    let path: String
    let root: HDF5Group
    /// The dataset's sequences, each a list of its examples, as the prepared format holds them.
    let sequences: [[Example]]
    let steps: [Step]
    // The run's settings (attributes of /train and /data).
    let seed: Int, epochs: Int, maxSteps: Int, microBatchTokens: Int, globalBatchTokens: Int
    let lr: Double, beta1: Double, beta2: Double, eps: Double, weightDecay: Double, maxGradNorm: Double, dropout: Double
    let schedule: String, warmupSteps: Int, noDecay: [String]
    let maxSeqLen: Int, bosID: Int, eosID: Int

    init(_ name: String) throws {
        self.name = name
        path = Self.folder.appendingPathComponent(name + ".h5").path
        root = try HDF5File(path, mode: .readOnly).root

        let tokens = try root.read("data/tokens", as: Int32.self).values, mask = try root.read("data/loss_mask", as: UInt8.self).values
        let examples = try root.read("data/examples/offsets", as: Int64.self).values.map { Int($0) }
        let sequenceOffsets = try root.read("data/sequences/example_offsets", as: Int64.self).values.map { Int($0) }
        sequences = (0..<(sequenceOffsets.count - 1)).map { s in
            (sequenceOffsets[s]..<sequenceOffsets[s + 1]).map { e in
                (Array(tokens[examples[e]..<examples[e + 1]]), Array(mask[examples[e]..<examples[e + 1]]), e)
            }
        }

        let epochs = try root.read("steps/epoch", as: Int32.self).values
        let offsets = try root.read("steps/sequence_offsets", as: Int64.self).values.map { Int($0) }
        let members = try root.read("steps/sequences", as: Int64.self).values.map { Int($0) }
        let stepTokens = try root.read("steps/tokens", as: Int64.self).values
        let targets = try root.read("steps/target_tokens", as: Int64.self).values
        let loss = try root.read("steps/loss", as: Double.self).values, norm = try root.read("steps/grad_norm", as: Double.self).values
        let lr = try root.read("steps/lr", as: Double.self).values
        steps = epochs.indices.map { k in
            Step(epoch: Int(epochs[k]), sequences: Array(members[offsets[k]..<offsets[k + 1]]), tokens: Int(stepTokens[k]),
                 targetTokens: Int(targets[k]), loss: loss[k], gradNorm: norm[k], lr: lr[k])
        }

        let train = try root.group("train"), data = try root.group("data")
        seed = try train.intAttribute("seed")
        self.epochs = try train.intAttribute("epochs")
        maxSteps = try train.intAttribute("max_steps")
        microBatchTokens = try train.intAttribute("micro_batch_tokens")
        globalBatchTokens = try train.intAttribute("global_batch_tokens")
        self.lr = try train.doubleAttribute("lr")
        beta1 = try train.doubleAttribute("beta1")
        beta2 = try train.doubleAttribute("beta2")
        eps = try train.doubleAttribute("eps")
        weightDecay = try train.doubleAttribute("weight_decay")
        maxGradNorm = try train.doubleAttribute("max_grad_norm")
        dropout = try train.doubleAttribute("dropout")
        schedule = try train.stringAttribute("schedule")
        warmupSteps = try train.intAttribute("warmup_steps")
        noDecay = try train.jsonAttribute("no_decay", as: [String].self)
        maxSeqLen = try data.intAttribute("max_seq_len")
        bosID = try data.intAttribute("bos_id")
        eosID = try data.intAttribute("eos_id")
    }

    var sequenceLengths: [Int] { sequences.map { $0.reduce(0) { $0 + $1.tokens.count } } }

    /// Writes into `folder` everything `tooltune train` needs: a byte-level tokenizer whose ids fit the
    /// model (256 byte tokens, `<pad>` 1, `</s>` 2), the dataset as a prepared dataset made with that
    /// tokenizer, the initial weights as a checkpoint, and the job. Returns the job file.
    func writeJob(in folder: URL) throws -> URL {
        let tokenizerFolder = folder.appendingPathComponent("tokenizer")
        try FileManager.default.createDirectory(at: tokenizerFolder, withIntermediateDirectories: true)
        var vocab = ["<pad>": 1, "</s>": 2]
        for (b, character) in ByteLevel.characters.enumerated() { vocab[String(character)] = b == 0 ? 0 : b + 2 }
        try JSONSerialization.data(withJSONObject: vocab, options: .sortedKeys).write(to: tokenizerFolder.appendingPathComponent("vocab.json"))
        try Data("#version: 0.2\n".utf8).write(to: tokenizerFolder.appendingPathComponent("merges.txt"))
        let tokenizer = try Tokenizer(folder: tokenizerFolder.path)

        let data = folder.appendingPathComponent("train.h5").path
        let stored = sequences.map { $0.map { PreparedExample(tokens: $0.tokens, lossMask: $0.lossMask, inputIndex: $0.inputIndex) } }
        try PreparedDatasetWriter.write(to: data, sequences: stored, metadata: PreparedDatasetMetadata(
            tokenizerSHA256: tokenizer.sha256, template: "none (\(name) fixture)", lossTurns: "fixture", maxSeqLen: maxSeqLen,
            bosID: bosID, eosID: eosID, packing: "fixture", sourcesJSON: "{\"fixture\":\"\(path)\"}", countsJSON: "{}", fitJSON: "{}"))

        let initial = folder.appendingPathComponent("initial.h5").path
        try ModelCheckpoint.save(try ModelCheckpoint.load(path), to: initial)

        let text = """
            name: \(name)
            seed: \(seed)
            model: {init: checkpoint, path: \(initial)}
            tokenizer: {path: \(tokenizerFolder.path)}
            data: {train: \(data), max_seq_len: \(maxSeqLen)}
            train:
              epochs: \(epochs)
            \(maxSteps > 0 ? "  max_steps: \(maxSteps)\n" : "")\
              micro_batch_tokens: \(microBatchTokens)
              global_batch_tokens: \(globalBatchTokens)
              optimizer: {name: adamw, lr: \(lr), betas: [\(beta1), \(beta2)], eps: \(eps), weight_decay: \(weightDecay)}
              schedule: {name: \(schedule), warmup_steps: \(warmupSteps)}
              max_grad_norm: \(maxGradNorm)
              dropout: \(dropout)
            checkpoint: {dir: \(folder.appendingPathComponent("run").path), every_steps: 1000, keep_last: 0, resume: never}
            distributed: {threads_per_rank: 1, bucket_mb: 0.01}

            """
        let job = folder.appendingPathComponent("job.yaml")
        try Data(text.utf8).write(to: job)
        return job
    }

    struct WeightReport {
        var failures: [String] = []
        var worst = (name: "", error: 0.0)
        var kBias = 0.0
    }

    /// The trained weights against PyTorch's, as the AdamW test of Tests/OPTTests reasons: Adam divides each
    /// gradient by its own magnitude, so where a gradient is rounding noise its steps are noise too.
    /// - Every tensor but k_proj.bias: over these 8 steps float32 PyTorch stays within 5.5e-7 of its own
    ///   float64 run (of the tensor's largest weight; /final's float64_max_rel_err): no gradient the model
    ///   uses is near the noise. A float32 trainer that rounds differently must be within 1e-5; a missing
    ///   weight decay, a wrong beta2 or eps, a schedule one step off or a skipped clip is 1e-2 or more.
    /// - k_proj.bias: its exact gradient is zero (softmax ignores a per-query constant), so each Adam turns
    ///   rounding noise into steps of about lr in no particular direction (float32 PyTorch is 1.8e-3 from
    ///   its own float64 run): only |diff| <= 2 sum(lr) can be promised.
    func compareFinalWeights(_ model: OPTModel) throws -> WeightReport {
        var report = WeightReport()
        let kBiasBound = 2 * steps.reduce(0) { $0 + $1.lr }
        for entry in model.layout.entries {
            let reference = try root.read("final/" + entry.name, as: Float.self)
            guard reference.shape == entry.shape else {
                report.failures.append("\(entry.name): shape \(reference.shape), ours \(entry.shape)")
                continue
            }
            let ours = model.parameter(entry.name)!
            let largest = Double(zip(ours, reference.values).map { abs($0 - $1) }.max()!)
            if entry.name.hasSuffix("k_proj.bias") {
                report.kBias = max(report.kBias, largest)
                if largest > kBiasBound { report.failures.append("\(entry.name): max |diff| \(largest) > 2 sum(lr) = \(kBiasBound)") }
                continue
            }
            let error = largest / Double(reference.values.map { abs($0) }.max()!)
            if error > report.worst.error { report.worst = (entry.name, error) }
            if error > 1e-5 { report.failures.append("\(entry.name): max |diff| \(error) of its largest weight") }
        }
        return report
    }
}
