import Foundation
import Kernels
import Storage
import TestSupport
import Testing
@testable import Training

/// A training job on the demo's held-out data (139 examples), small enough to train in a second with
/// the release binary (`make test` sets TOOLTUNE_BIN to it).
struct TrainingJob {
    let root: URL
    let file: URL
    var runFolder: URL { root.appendingPathComponent("run") }
    var run: RunDirectory { RunDirectory(runFolder.path) }

    /// `settings` replaces lines of the template (key: "value" as YAML text), e.g. ["dropout": "0.0"].
    /// The job's folder goes in `parent` (by default the system's temporary folder).
    init(_ label: String, hidden: Int = 32, layers: Int = 2, steps: Int = 6, epochs: Int = 1, everySteps: Int = 3,
         micro: Int = 1024, global: Int = 2048, dropout: Double = 0.1, precision: Precision = .fp32,
         extra: String = "", in parent: URL? = nil) throws {
        root = try makeTemporaryFolder(label, in: parent)
        file = root.appendingPathComponent("job.yaml")
        let project = ToolTuneBinary.projectRoot.path
        let yaml = """
            name: \(label)
            seed: 7
            model:
              init: random
              config: {preset: tiny, hidden_size: \(hidden), num_hidden_layers: \(layers), num_attention_heads: 2, ffn_dim: \(2 * hidden)}
            tokenizer: {path: \(project)/demo/tokenizer}
            data:
              train: \(project)/demo/data/eval
              max_seq_len: 1024
            train:
              epochs: \(epochs)
              max_steps: \(steps)
              micro_batch_tokens: \(micro)
              global_batch_tokens: \(global)
              optimizer: {lr: 2.0e-3, weight_decay: 0.1}
              schedule: {name: linear, warmup_steps: 2}
              dropout: \(dropout)
              max_grad_norm: 1.0
              precision: \(precision.rawValue)
            checkpoint: {dir: \(root.path)/run, every_steps: \(everySteps), keep_last: 0}
            \(extra)
            """
        try Data(yaml.utf8).write(to: file)
    }

    func train(ranks: Int? = nil, _ arguments: [String] = [], timeout: TimeInterval = 240) throws -> ProcessResult {
        let args = ["train", file.path] + arguments
        guard let ranks else { return try runProcess(ToolTuneBinary.path, args, timeout: timeout) }
        return try runMPI(ranks: ranks, args, timeout: timeout)
    }

    func metrics() throws -> [StepMetrics] { try MetricsLog(url: run.metricsFile).read() }

    /// Every float tensor under `group` of the checkpoint at `step`, by name.
    func tensors(step: Int, group: String) throws -> [String: [Float]] {
        let file = try HDF5File(run.checkpointPath(step: step).path)
        var result: [String: [Float]] = [:]
        func collect(_ g: HDF5Group, prefix: String) throws {
            for child in try g.children() {
                switch child.kind {
                case .group: try collect(try g.group(child.name), prefix: prefix + child.name + "/")
                case .dataset: result[prefix + child.name] = try g.read(child.name, as: Float.self).values
                case .other: break
                }
            }
        }
        try collect(try file.root.group(group), prefix: "")
        return result
    }
}

func expectSuccess(_ result: ProcessResult, _ what: String) {
    #expect(result.status == 0 && !result.timedOut, "\(what) failed (\(result.status)):\n\(result.stdout.suffix(2000))\n\(result.stderr.suffix(3000))")
}

/// The largest |a - b| over a tensor, relative to the tensor's largest |a|.
func worstRelativeDifference(_ a: [String: [Float]], _ b: [String: [Float]]) -> (name: String, error: Double) {
    var worst = ("", 0.0)
    for (name, x) in a {
        guard let y = b[name], y.count == x.count else { return (name, .infinity) }
        let scale = max(1e-12, Double(x.map { abs($0) }.max() ?? 0))
        let error = zip(x, y).map { Double(abs($0 - $1)) }.max() ?? 0
        if error / scale > worst.1 { worst = (name, error / scale) }
    }
    return worst
}

@Suite(.serialized) struct TrainTests {
    /// One rank accumulating two micro-batches per step computes the same steps as two ranks with one
    /// each, bit for bit, in fp32 and in bf16 (dropout on: masks follow the sequence, not the rank; each
    /// micro-batch's gradient is summed from zero before it is added, as the allreduce adds two ranks').
    @Test(arguments: [Precision.fp32] + (GEMMEngine.available.contains { $0.precision == .bf16 } ? [.bf16] : []))
    func oneRankAccumulatingEqualsTwoRanks(precision: Precision) throws {
        let single = try TrainingJob("equiv1", precision: precision)
        let pair = try TrainingJob("equiv2", precision: precision)
        expectSuccess(try single.train(ranks: 1), "1 rank")
        expectSuccess(try pair.train(ranks: 2), "2 ranks")
        let a = try single.metrics(), b = try pair.metrics()
        #expect(a.count == 6 && b.count == 6)
        for (x, y) in zip(a, b) {
            #expect(x.loss == y.loss && x.gradNorm == y.gradNorm, "step \(x.step): loss \(x.loss) vs \(y.loss), grad norm \(x.gradNorm) vs \(y.gradNorm)")
            #expect(x.targetTokens == y.targetTokens && x.tokens == y.tokens)
        }
        for group in ["model", "optimizer"] {
            let a1 = try single.tensors(step: 6, group: group), b1 = try pair.tensors(step: 6, group: group)
            #expect(a1.keys.sorted() == b1.keys.sorted())
            for name in a1.keys.sorted() where a1[name]!.map(\.bitPattern) != b1[name]!.map(\.bitPattern) {
                Issue.record("\(group) \(name) differs between 1 rank x 2 micro-batches and 2 ranks x 1")
            }
        }
    }

    /// 6 steps straight, and 3 steps + stop + resume for 3 more, give bit-identical losses, weights and
    /// optimizer moments (same rank count).
    @Test func resumeContinuesBitForBit() throws {
        let straight = try TrainingJob("straight")
        let resumed = try TrainingJob("resumed")
        expectSuccess(try straight.train(ranks: 2), "straight run")
        expectSuccess(try resumed.train(ranks: 2, ["--stop-after-step", "3"]), "first half")
        #expect(try resumed.metrics().count == 3)
        let second = try resumed.train(ranks: 2)
        expectSuccess(second, "resume")
        #expect(second.stdout.contains("resuming after step 3"), "\(second.stdout)")
        let a = try straight.metrics(), b = try resumed.metrics()
        // The checkpoint's metrics table holds every step of metrics.jsonl, every field.
        let latest = try #require(try resumed.run.latestCheckpoint())
        #expect(try TrainingCheckpoint.describe(latest.path).metrics == b)
        // Once complete, another start trains nothing and says so.
        let again = try resumed.train(ranks: 2)
        expectSuccess(again, "start of a complete run")
        #expect(again.stdout.contains("the run is already complete (step 6 of 6)"), "\(again.stdout)")
        #expect(try resumed.metrics() == b)
        #expect(a.map(\.loss) == b.map(\.loss))
        #expect(a.map(\.gradNorm) == b.map(\.gradNorm))
        #expect(b.map(\.step) == Array(1...6))
        for group in ["model", "optimizer"] {
            let x = try straight.tensors(step: 6, group: group), y = try resumed.tensors(step: 6, group: group)
            #expect(x.keys.count > 0 && Set(x.keys) == Set(y.keys))
            for (name, values) in x { #expect(values.map(\.bitPattern) == y[name]?.map(\.bitPattern), "\(group)/\(name)") }
        }
    }

    /// SIGKILL at any moment, checkpoints included, leaves LATEST naming a complete checkpoint, and
    /// the run resumes from it to the end with every step logged once.
    @Test func killedRunsResumeFromACompleteCheckpoint() throws {
        // A larger model so each checkpoint takes a while to write; one every step.
        let job = try TrainingJob("crash", hidden: 384, layers: 4, steps: 12, everySteps: 1, dropout: 0)
        for pause in [0.0, 0.02, 0.05, 0.1, 0.2] {
            let before = (try? job.run.checkpoints().count) ?? 0
            let process = Process()
            process.executableURL = URL(fileURLWithPath: ToolTuneBinary.path)
            process.arguments = ["train", job.file.path]
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle.nullDevice
            try process.run()
            // Kill while it is checkpointing: once this run has written a checkpoint (it writes one per
            // step), the next write is under way or about to be.
            let deadline = Date().addingTimeInterval(120)
            while process.isRunning, (try? job.run.checkpoints().count) ?? 0 <= before, Date() < deadline { usleep(5_000) }
            Thread.sleep(forTimeInterval: pause)
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
            guard let latest = try job.run.latestCheckpoint() else { continue }
            let contents = try TrainingCheckpoint.describe(latest.path)
            #expect(latest.lastPathComponent == String(format: "step-%06d.h5", contents.state.globalStep))
            #expect(try job.tensors(step: contents.state.globalStep, group: "model").count > 0)
            for (step, _) in try job.run.checkpoints() { _ = try TrainingCheckpoint.describe(job.run.checkpointPath(step: step).path) }
        }
        #expect(try job.run.latestCheckpoint() != nil, "no checkpoint was written before the kills")
        expectSuccess(try job.train(), "resume after kills")
        #expect(try job.metrics().map(\.step) == Array(1...12))
    }

    /// SIGTERM stops at the next step boundary with a checkpoint and exit 128 + 15 (under mpirun, which
    /// forwards it to every rank: a non-zero exit); resume finishes.
    @Test(arguments: [nil, 2]) func sigtermCheckpointsAndExits(ranks: Int?) throws {
        let job = try TrainingJob("sigterm", hidden: 128, steps: 40, everySteps: 1000, dropout: 0)
        let process = Process()
        if let ranks {
            let command = MPICommand(ranks: ranks, ["train", job.file.path])
            process.executableURL = URL(fileURLWithPath: command.executable)
            process.arguments = command.arguments
            process.environment = ProcessInfo.processInfo.environment
                .filter { !$0.key.hasPrefix("OMPI_") && !$0.key.hasPrefix("PMIX_") }.merging(command.environment) { $1 }
        } else {
            process.executableURL = URL(fileURLWithPath: ToolTuneBinary.path)
            process.arguments = ["train", job.file.path]
        }
        let output = Pipe()
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        try process.run()
        // Signal once training has started (its first step logged).
        let deadline = Date().addingTimeInterval(60)
        func logged() -> Int { FileManager.default.contents(atPath: job.run.metricsFile.path)?.count ?? 0 }
        while logged() == 0, Date() < deadline { usleep(20_000) }
        if ranks == nil {
            kill(process.processIdentifier, SIGTERM)
        } else {
            // What mpirun does with a SIGUSR1 (and with a SIGTERM, which it follows with a SIGKILL 1 s later):
            // send it to every rank. (Signalling mpirun itself proves nothing here: it inherits the test
            // runner's blocked signals; ClusterTests' Slurm test signals a real mpirun.)
            _ = try runProcess("/usr/bin/pkill", ["-TERM", "-P", "\(process.processIdentifier)", "tooltune"])
        }
        process.waitUntilExit()
        let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(ranks == nil ? process.terminationStatus == 128 + SIGTERM : process.terminationStatus != 0, "\(text)")
        #expect(text.contains("stopped by signal 15"), "\(text)")
        let stopped = try job.metrics().count
        #expect(stopped >= 1 && stopped < 40)
        #expect(try job.run.latestCheckpoint()?.lastPathComponent == String(format: "step-%06d.h5", stopped))
        expectSuccess(try job.train(), "resume")
        #expect(try job.metrics().map(\.step) == Array(1...40))
    }

    /// A rank that cannot read its dataset ends the whole job promptly with its message.
    @Test func aFailingRankEndsTheJob() throws {
        let good = try TrainingJob("rank-ok")
        let corrupt = good.root.appendingPathComponent("corrupt.h5")
        try Data("not an HDF5 file".utf8).write(to: corrupt)
        let badYAML = try String(contentsOf: good.file, encoding: .utf8)
            .replacingOccurrences(of: "  train: \(ToolTuneBinary.projectRoot.path)/demo/data/eval", with: "  train: \(corrupt.path)")
        let bad = good.root.appendingPathComponent("bad.yaml")
        try Data(badYAML.utf8).write(to: bad)
        // Different job files per rank (MPMD): rank 1's dataset is unreadable.
        let result = try runProcess(mpirunPath, ["--oversubscribe", "--bind-to", "none",
                                                 "-n", "1", ToolTuneBinary.path, "train", good.file.path, ":",
                                                 "-n", "1", ToolTuneBinary.path, "train", bad.path],
                                    environment: ["OMPI_ALLOW_RUN_AS_ROOT": "1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1"],
                                    timeout: 90)
        #expect(!result.timedOut, "the job hung")
        #expect(result.status != 0)
        #expect(result.stderr.contains("rank 1 of 2") && result.stderr.contains("corrupt.h5"), "\(result.stderr)")
    }

    /// A NaN weight makes step 1 non-finite: the job stops naming the step, or skips and counts it.
    @Test func nonFiniteStepsStopOrAreSkipped() throws {
        let job = try TrainingJob("nan", steps: 3, dropout: 0)
        let model = job.root.appendingPathComponent("nan-model.h5")
        // A model file from a normal run, with one weight made NaN.
        expectSuccess(try job.train(["--stop-after-step", "1"]), "make a model")
        try FileManager.default.copyItem(at: job.run.checkpointPath(step: 1), to: model)
        do {
            let file = try HDF5File(model.path, mode: .readWrite)
            let weight = try file.root.dataset("model/model.decoder.layers.0.fc1.weight")
            var values = try weight.read(as: Float.self)
            values[5] = .nan
            try weight.write(values)
        }
        var lines = try String(contentsOf: job.file, encoding: .utf8).components(separatedBy: "\n")
        let initLine = lines.firstIndex(of: "  init: random")!
        lines[initLine] = "  init: checkpoint"
        lines[initLine + 1] = "  path: \(model.path)"
        let yaml = lines.joined(separator: "\n").replacingOccurrences(of: "/run,", with: "/run2,")
        let stopping = job.root.appendingPathComponent("stop.yaml"), skipping = job.root.appendingPathComponent("skip.yaml")
        try Data(yaml.utf8).write(to: stopping)
        let stopped = try runProcess(ToolTuneBinary.path, ["train", stopping.path])
        #expect(stopped.status != 0)
        #expect(stopped.stderr.contains("step 1: loss nan"), "\(stopped.stderr)")
        try Data(yaml.replacingOccurrences(of: "/run2,", with: "/run3,")
            .replacingOccurrences(of: "  max_grad_norm: 1.0", with: "  max_grad_norm: 1.0\n  skip_nonfinite: true").utf8).write(to: skipping)
        let skipped = try runProcess(ToolTuneBinary.path, ["train", skipping.path])
        expectSuccess(skipped, "skip_nonfinite run")
        let records = try MetricsLog(url: job.root.appendingPathComponent("run3/metrics.jsonl")).read()
        #expect(records.count == 3 && records.allSatisfy(\.skipped))
    }

    /// `model.init: hf` starts from a Hugging Face folder exactly where `init: checkpoint` starts from the
    /// checkpoint it was exported from.
    @Test func hfInitStartsFromTheExportedWeights() throws {
        let source = try TrainingJob("hf-source", steps: 2, dropout: 0)
        expectSuccess(try source.train(), "source run")
        let checkpoint = source.run.checkpointPath(step: 2).path
        let folder = source.root.appendingPathComponent("hf").path
        expectSuccess(try runProcess(ToolTuneBinary.path, ["export-hf", checkpoint, folder]), "export-hf")
        var losses: [[Double]] = []
        for (label, model) in [("from-checkpoint", "  init: checkpoint\n  path: \(checkpoint)"),
                               ("from-hf", "  init: hf\n  path: \(folder)")] {
            let job = try TrainingJob(label, steps: 2, dropout: 0)
            var lines = try String(contentsOf: job.file, encoding: .utf8).components(separatedBy: "\n")
            let initLine = lines.firstIndex(of: "  init: random")!
            lines.replaceSubrange(initLine...(initLine + 1), with: [model])
            try Data(lines.joined(separator: "\n").utf8).write(to: job.file)
            expectSuccess(try job.train(), label)
            losses.append(try job.metrics().map(\.loss))
        }
        #expect(losses[0].count == 2 && losses[0] == losses[1], "\(losses)")
    }

    /// The loss falls over a short run, and `inspect` summarizes the checkpoint.
    @Test func lossFallsAndInspectSummarizesTheCheckpoint() throws {
        let job = try TrainingJob("falls", hidden: 64, steps: 30, everySteps: 30, micro: 2048, global: 4096, dropout: 0)
        let result = try job.train(ranks: 2)
        expectSuccess(result, "training")
        // Shared prefixes: a step's examples hold more tokens than it runs, and steps are cut by them (at most
        // global_batch_tokens, or one sequence).
        let metrics = try job.metrics()
        let dataset = try PreparedDataset(path: job.run.preparedDataset("train").path)
        #expect(dataset.exampleTokenCount > dataset.tokenCount)
        let longest = (0..<dataset.sequenceCount).map(dataset.exampleTokens(ofSequence:)).max()!
        #expect(metrics.allSatisfy { $0.exampleTokens <= max(4096, longest) })
        #expect(metrics.reduce(0) { $0 + $1.exampleTokens } > metrics.reduce(0) { $0 + $1.tokens })
        #expect(metrics.allSatisfy { $0.exampleTokens >= $0.tokens && $0.exampleTokensPerSecond >= $0.tokensPerSecond })
        #expect(result.stdout.contains(" example) tok/s") && result.stdout.contains("example tok/s)"), "\(result.stdout)")
        let losses = metrics.map(\.loss)
        let early = losses.prefix(3).reduce(0, +) / 3, late = losses.suffix(3).reduce(0, +) / 3
        #expect(late < early - 1.0, "loss \(early) -> \(late)")
        let inspect = try runProcess(ToolTuneBinary.path, ["inspect", job.run.checkpointPath(step: 30).path])
        expectSuccess(inspect, "inspect")
        #expect(inspect.stdout.contains("ToolTune checkpoint: step 30"), "\(inspect.stdout)")
        #expect(inspect.stdout.contains("written by 2 ranks"))
        #expect(inspect.stdout.contains("metrics: 30 steps"))
        #expect(inspect.stdout.contains("optimizer/"))
    }
}
