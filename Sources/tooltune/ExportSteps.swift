import ArgumentParser
import Foundation
import Preflight
import Storage
import Training

struct ExportSteps: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export-steps",
        abstract: "Write what a job trains on for another trainer: its initial model and the examples of each step.",
        discussion: """
            Writes FOLDER/initial.h5 (the model the run starts from; `tooltune export-hf` makes it a Hugging Face \
            folder), FOLDER/examples.jsonl (one chain per line in training order, as the trainer runs it: step, epoch, \
            rank, micro_batch, sequence, examples, input_ids, labels as transformers takes them: -100 outside the \
            loss, EOS where a shorter example of a chain of shared prefixes ends) and FOLDER/plan.json (the \
            schedule's total and warmup steps, steps per epoch, and per step its examples, chains, tokens run, \
            example tokens and target tokens). Steps are planned as `tooltune train` plans them on distributed.ranks ranks \
            (1 if unset) from the job's prepared training data, which must exist. scripts/trl_twin.py uses it to \
            train the same steps with TRL.
            """)

    @Argument(help: "The job YAML file.")
    var job: String

    @Argument(help: "The folder to write; it must not exist or be empty unless --force.")
    var folder: String

    @Option(parsing: .unconditional, help: "Export the first N optimizer steps (default: all the job's steps).")
    var steps: Int?

    @Flag(help: "Replace the folder if it has files.")
    var force = false

    func validate() throws { try OptionCheck.atLeast(1, steps, "--steps") }

    func run() throws {
        let spec = try JobPreflight.load(job)
        let plan: StepExport.Plan
        do {
            plan = try StepExport.run(job: spec, to: folder, steps: steps, replacing: force)
        } catch let error as AtomicFolder.NotEmpty {
            FileHandle.standardError.write(Data("Error: \(error); --force replaces it\n".utf8))
            throw ExitCode(1)
        }
        let examples = plan.steps.reduce(0) { $0 + $1.examples }, chains = plan.steps.reduce(0) { $0 + $1.chains }
        let tokens = plan.steps.reduce(0) { $0 + $1.tokens }, exampleTokens = plan.steps.reduce(0) { $0 + $1.exampleTokens }
        print("exported \(plan.steps.count) of \(plan.totalSteps) steps (\(examples.formatted()) examples in \(chains.formatted()) "
              + "chains, \(tokens.formatted()) tokens, \(exampleTokens.formatted()) on their own) from \(plan.dataset) -> \(folder)")
    }
}
