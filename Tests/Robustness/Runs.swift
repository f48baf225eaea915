import Foundation
import Storage
import TestSupport

/// A small prepared run the run-level families start from, made once per test process: 40 demo answer
/// files, a tiny model, checkpoints every step. Cases copy it into their own folder.
enum SmallRun {
    static let job = """
        name: small
        model: {init: random, config: {preset: tiny, vocab_size: 4096, max_position_embeddings: 1024}}
        tokenizer: {path: \(Inputs.demoTokenizer)}
        data: {train: TRAIN, format: toolbench-answers, max_seq_len: 1024}
        train: {epochs: 2, micro_batch_tokens: 2048, global_batch_tokens: 8192, dropout: 0.0}
        checkpoint: {dir: RUN, every_steps: 1, keep_last: 0}
        """

    /// The shared training input and a prepared run folder.
    static let prepared: Result<(train: String, run: URL), any Error> = Result {
        let folder = try makeTemporaryFolder("robustness-small-run")
        let train = try FullDisk.smallTrain(in: folder)
        let run = folder.appendingPathComponent("run")
        let jobPath = try write(in: folder, train: train, run: run.path)
        let result = try runProcess(ToolTuneBinary.path, ["prepare", jobPath])
        guard result.status == 0 else { throw TestSetupError("prepare of the small run failed: \(result.stderr)") }
        return (train, run)
    }

    /// A trained copy: two steps done, checkpoints step-000001 and step-000002, LATEST naming the second.
    static let trained: Result<URL, any Error> = Result {
        let (train, run) = try prepared.get()
        let folder = try makeTemporaryFolder("robustness-small-trained")
        let copy = folder.appendingPathComponent("run")
        try FileManager.default.copyItem(at: run, to: copy)
        let jobPath = try write(in: folder, train: train, run: copy.path)
        let result = try runProcess(ToolTuneBinary.path, ["train", jobPath, "--stop-after-step", "2"])
        guard result.status == 0 else { throw TestSetupError("training the small run failed: \(result.stderr)") }
        return copy
    }

    /// The trained run's second checkpoint (a model file of the demo tokenizer's vocabulary).
    static func checkpoint() throws -> String {
        try trained.get().appendingPathComponent("checkpoints/step-000002.h5").path
    }

    /// Writes the job for `run` into `folder`; returns its path.
    @discardableResult
    static func write(in folder: URL, train: String, run: String, extra: String = "") throws -> String {
        let path = folder.appendingPathComponent("job.yaml").path
        try (job.replacingOccurrences(of: "TRAIN", with: train).replacingOccurrences(of: "RUN", with: run) + "\n" + extra)
            .write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    /// The prepared (or, with `trained`, the trained) run copied to `folder/run`, and its job; returns
    /// the job's path.
    static func copy(to folder: URL, trained: Bool = false, extra: String = "") throws -> String {
        let source = trained ? try self.trained.get() : try prepared.get().run
        let run = folder.appendingPathComponent("run")
        try FileManager.default.copyItem(at: source, to: run)
        return try write(in: folder, train: try prepared.get().train, run: run.path, extra: extra)
    }
}
