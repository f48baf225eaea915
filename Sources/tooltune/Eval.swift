import ArgumentParser
import Distributed
import Evaluation
import Foundation
import Kernels
import Preflight

struct Eval: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Score checkpoints on held-out ToolBench steps and query rollouts, or on BFCL.",
        discussion: """
            Teacher-forced loss on data.eval (prepared by `tooltune prepare`), one generated step per held-out \
            example scored against the gold step, and closed-loop rollouts on eval.queries (canned observations, or \
            eval.toolserver's; SoPR when eval.judge names a judge). Writes <checkpoint.dir>/eval/step-NNNNNN.json per \
            checkpoint, report.md and charts/*.svg. With --bfcl, the Berkeley Function Calling Leaderboard's \
            single-turn categories instead, checked by bfcl's AST rules without a judge, in <checkpoint.dir>/eval/bfcl/. \
            Under mpirun the cases are sharded over the ranks and rank 0 writes the files.
            """)

    @Argument(help: "The job YAML file.")
    var job: String

    @Option(help: ArgumentHelp("A checkpoint to score (repeat for several, scored in order).", valueName: "FILE.h5"))
    var checkpoint: [String] = []

    @Option(help: ArgumentHelp("Score every step-NNNNNN.h5 in this folder, by step.", valueName: "DIR"))
    var checkpoints: String?

    @Flag(help: "With --checkpoints: only the first and the last.")
    var firstLast = false

    @Flag(help: "Score each new checkpoint of the job as it lands (eval.every_checkpoint false: only the newest waiting), until interrupted or --until-step.")
    var watch = false

    @Option(parsing: .unconditional, help: ArgumentHelp("With --watch: seconds between looks.", valueName: "S"))
    var poll: Double = 30

    @Option(parsing: .unconditional, help: ArgumentHelp("With --watch: stop once a checkpoint of this step or later is scored.", valueName: "N"))
    var untilStep: Int?

    @Option(parsing: .unconditional, help: ArgumentHelp("Only the first N held-out steps and the first N queries of each query file (--bfcl: the first N entries of each category).",
                               valueName: "N"))
    var limit: Int?

    @Option(help: ArgumentHelp("Score on BFCL: bfcl-eval's data folder (pip install bfcl-eval; <site-packages>/bfcl_eval/data).",
                               valueName: "DIR"))
    var bfcl: String?

    @Option(help: ArgumentHelp("With --bfcl: the categories, comma-separated (default: \(BFCLData.categories.joined(separator: ","))).",
                               valueName: "LIST"))
    var categories: String?

    @Option(parsing: .unconditional, help: "BLAS and parallel-for threads per rank (default: the job's distributed.threads_per_rank).")
    var threads: Int?

    func validate() throws {
        let ways = (checkpoint.isEmpty ? 0 : 1) + (checkpoints == nil ? 0 : 1) + (watch ? 1 : 0)
        guard ways == 1 else { throw ValidationError("give exactly one of --checkpoint, --checkpoints and --watch") }
        if firstLast && checkpoints == nil { throw ValidationError("--first-last goes with --checkpoints") }
        try OptionCheck.atLeast(1, limit, "--limit")
        try OptionCheck.number(poll, "--poll", "of seconds > 0") { $0 > 0 }
        try OptionCheck.atLeast(0, untilStep, "--until-step")
        try OptionCheck.threads(threads)
        if untilStep != nil && !watch { throw ValidationError("--until-step goes with --watch") }
        if categories != nil && bfcl == nil { throw ValidationError("--categories goes with --bfcl") }
        for category in chosenCategories where !BFCLData.categories.contains(category) {
            throw ValidationError("--categories: \(category) is not one of \(BFCLData.categories.joined(separator: ", "))")
        }
    }

    var chosenCategories: [String] {
        categories.map { $0.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) } } ?? BFCLData.categories
    }

    func run() throws {
        do {
            let spec = try JobPreflight.load(job)
            useThreads(threads ?? spec.distributed.threadsPerRank)
            let comm = try Communicator.world()
            try comm.runCollectively { comm in
                let session = try EvalSession(job: spec, limit: limit, comm: comm,
                                              bfcl: bfcl.map { BFCLSelection(folder: $0, categories: chosenCategories) }) {
                    if comm.rank == 0 { print($0) }
                }
                let selection: EvalSession.Selection = watch ? .watch(seconds: poll, untilStep: untilStep)
                    : checkpoints.map { .folder($0, firstAndLast: firstLast) } ?? .files(checkpoint)
                try session.run(selection)
            }
        } catch {
            FileHandle.standardError.write(Data("\(error)\n".utf8))
            throw ExitCode(1)
        }
    }
}
