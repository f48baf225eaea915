import Distributed
import Foundation
import Job
import Kernels
import Reporting
import Storage
import Tokenizer

/// `tooltune eval`: which checkpoints to score, scoring them on every rank, and rank 0's files and
/// printout.
public struct EvalSession {
    public enum Selection: Sendable {
        /// These files, in this order.
        case files([String])
        /// Every `step-NNNNNN.h5` in a folder by step; `firstAndLast` keeps only those two.
        case folder(String, firstAndLast: Bool)
        /// The job's checkpoints folder, polled every `seconds` for checkpoints without an evaluation;
        /// runs until interrupted, or until a checkpoint of step `untilStep` or later has an evaluation.
        case watch(seconds: Double, untilStep: Int?)
    }

    public let job: JobSpec
    public let evaluator: Evaluator
    public let comm: Communicator
    let output: (String) -> Void

    /// Loads the job's cases (or, with `bfcl`, that BFCL data) on every rank; `output` prints rank 0's lines.
    public init(job: JobSpec, limit: Int?, comm: Communicator, bfcl: BFCLSelection? = nil,
                output: @escaping (String) -> Void = { print($0) }) throws {
        self.job = job
        self.comm = comm
        self.output = output
        let tokenizer = try Tokenizer(folder: job.tokenizer.path)
        evaluator = try Evaluator(job: job, tokenizer: tokenizer, limit: limit, bfcl: bfcl)
    }

    /// `<checkpoint.dir>/eval`, or `<checkpoint.dir>/eval/bfcl` for BFCL: a report of its own.
    public var evalFolder: URL {
        let folder = URL(fileURLWithPath: job.checkpoint.dir).appendingPathComponent("eval")
        return evaluator.bfcl == nil ? folder : folder.appendingPathComponent("bfcl")
    }
    /// The rollouts in StableToolBench's converted format: `<name>/<query group>.json` per checkpoint, laid
    /// out as `eval_pass_rate.py` reads them (`--converted_answer_path` this folder, `--reference_model`
    /// the checkpoint's name, `--test_set` the groups).
    public var convertedFolder: URL { evalFolder.appendingPathComponent("stabletoolbench") }

    /// Scores the selected checkpoints; returns rank 0's evaluations (empty elsewhere).
    @discardableResult
    public func run(_ selection: Selection) throws -> [CheckpointEvaluation] {
        if comm.rank == 0 {
            let c = evaluator.cases
            let what = evaluator.bfcl.map { "BFCL \(c.bfcl.count) entries (\($0.categories.joined(separator: ", ")))" }
                ?? "\(c.steps.count) held-out steps, \(c.queries.count) queries"
            output("eval \(job.name): \(what) on \(comm.size) rank(s)" + (evaluator.limit.map { " (limit \($0))" } ?? ""))
            for note in c.notes { output("note: \(note)") }
        }
        var done: [CheckpointEvaluation] = []
        switch selection {
        case .files(let files):
            for file in files { done += try evaluate(file) }
        case .folder(let folder, let firstAndLast):
            var files = try Self.checkpoints(in: folder)
            guard !files.isEmpty else { throw EvalError("\(folder): no step-NNNNNN.h5 checkpoints") }
            if firstAndLast { files = files.count > 1 ? [files.first!, files.last!] : files }
            for file in files { done += try evaluate(file) }
        case .watch(let seconds, let untilStep):
            let folder = RunDirectory(job.checkpoint.dir).checkpointsFolder.path
            if comm.rank == 0 {
                output("watching \(folder) every \(seconds) s for new checkpoints ("
                       + (untilStep.map { "until step \($0) is scored" } ?? "Ctrl-C stops") + ")")
            }
            while true {
                // Rank 0 decides, so every rank does the same: "score <file>", "wait" or "stop".
                var next = "wait"
                if comm.rank == 0 {
                    var waiting: [String] = [], finished = false
                    for file in try Self.checkpoints(in: folder) {
                        let info = try CheckpointInfo.read(file)
                        if FileManager.default.fileExists(atPath: evalFolder.appendingPathComponent(info.evaluationName + ".json").path) {
                            if let untilStep, let step = info.step, step >= untilStep { finished = true }
                        } else {
                            waiting.append(file)
                        }
                    }
                    if let file = job.eval.everyCheckpoint ? waiting.first : waiting.last {
                        next = "score " + file
                    } else if finished {
                        next = "stop"
                    }
                }
                next = try comm.broadcast(next)
                if next == "stop" { break }
                if next == "wait" {
                    Thread.sleep(forTimeInterval: seconds)
                } else {
                    done += try evaluate(String(next.dropFirst("score ".count)))
                }
            }
        }
        if comm.rank == 0 && done.count > 1 {
            output("\n" + EvalReport.comparison(done))
        }
        return done
    }

    /// Scores one checkpoint; rank 0 writes the files and prints the overall numbers.
    func evaluate(_ path: String) throws -> [CheckpointEvaluation] {
        let info = try CheckpointInfo.read(path)
        let bar = comm.rank == 0 ? ProgressBar(label: "eval \(info.evaluationName)") : nil
        let result = try evaluator.evaluate(checkpoint: path, comm: comm) { bar?.update(done: $0.done, total: $0.total, detail: $0.detail) }
        bar?.finish()
        guard let result else { return [] }
        if !result.queryCases.isEmpty {
            try StableToolBenchAnswers.write(result, answers: evaluator.convertedAnswers(result),
                                             folder: convertedFolder.appendingPathComponent(info.evaluationName))
        }
        try EvalReport.write(result, name: info.evaluationName, folder: evalFolder, trainingLoss: info.trainingLoss)
        let rate = result.timing.generatedTokensPerSecond.map { String(format: "%.1f", $0) } ?? "n/a"
        output("\(info.evaluationName): \(String(format: "%.1f", result.timing.seconds)) s, \(result.timing.generatedTokens) tokens generated (\(rate) tokens/s)")
        output(EvalReport.comparison([result]))
        output("wrote \(evalFolder.appendingPathComponent(info.evaluationName + ".json").path) and \(evalFolder.appendingPathComponent("report.md").path)")
        return [result]
    }

    /// The `step-NNNNNN.h5` files of a folder, by step.
    public static func checkpoints(in folder: String) throws -> [String] {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: folder) else {
            throw EvalError("\(folder): cannot list the folder")
        }
        return names.compactMap { name -> (Int, String)? in
            guard !name.hasPrefix("."), let step = CheckpointInfo.stepInFileName(name) else { return nil }
            return (step, (folder as NSString).appendingPathComponent(name))
        }.sorted { $0.0 < $1.0 }.map(\.1)
    }
}
