import ArgumentParser
import Distributed
import Foundation
import Job
import Preflight
import Training

struct Train: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Train a job, data-parallel over the ranks of mpirun (or as one rank without it).",
        discussion: """
            Rank 0 prepares the data if <checkpoint.dir>/data/train.h5 is missing, plans every step and \
            broadcasts it; gradients are allreduced in buckets while backward runs; checkpoints go to \
            <checkpoint.dir>/checkpoints, LATEST and metrics.jsonl beside them. SIGINT/SIGTERM/SIGUSR1 stop \
            at the next step boundary with a checkpoint (exit 128 + signal); checkpoint.resume: auto continues. \
            Under mpirun send SIGUSR1 (kill -USR1 <mpirun pid>): mpirun kills the ranks 1 s after a TERM or INT.
            """)

    @Argument(help: "The job YAML file.")
    var job: String

    @Option(parsing: .unconditional, help: ArgumentHelp("Stop with a checkpoint once this many optimizer steps are done; the job's schedule is unchanged, so resuming continues exactly.", valueName: "STEP"))
    var stopAfterStep: Int?

    func validate() throws { try OptionCheck.atLeast(1, stopAfterStep, "--stop-after-step") }

    func run() throws {
        // SERIALIZED lets a background thread reduce gradient buckets while backward runs.
        let comm = try Communicator.world(threadLevel: .serialized)
        let spec = try loadJobOnEveryRank(comm)
        let summary = try comm.runCollectively { comm in
            try Trainer(job: spec, comm: comm, options: TrainOptions(stopAfterStep: stopAfterStep)).train()
        }
        if let signal = summary.stoppedBySignal { throw ExitCode(128 + signal) }
    }

    /// Every rank reads the job; if any rank cannot, each failing rank says why and all exit 1 together
    /// (no rank is left waiting in a collective).
    private func loadJobOnEveryRank(_ comm: Communicator) throws -> JobSpec {
        var loaded: JobSpec?
        do {
            loaded = try JobPreflight.load(job)
        } catch {
            let prefix = comm.size > 1 ? "rank \(comm.rank): " : ""
            FileHandle.standardError.write(Data("\(prefix)\(error)\n".utf8))
        }
        let failures = try comm.allreduce(Int32(loaded == nil ? 1 : 0), .sum)
        guard failures == 0, let loaded else { throw ExitCode(1) }
        return loaded
    }
}
