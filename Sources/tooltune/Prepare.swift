import ArgumentParser
import Data
import Foundation
import Preflight
import Reporting
import Storage
import Tokenizer

struct Prepare: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Turn a job's ToolBench data into the tokenized, packed datasets training reads.",
        discussion: """
            Reads data.train (and data.eval), renders every example with ToolLLaMA's tool-llama-single-round \
            template, fits it into data.max_seq_len (data.fit), drops training examples of data.test_query_ids, \
            chains the examples of one file that are token prefixes of a longer one (data.share_prefixes), packs \
            them and writes <checkpoint.dir>/data/train.h5 (eval.h5) and data/summary.json. \
            Bad input files are all listed (file, JSON path, problem) and nothing is written.
            """)

    @Argument(help: "The job YAML file.")
    var job: String

    @Option(name: .long, parsing: .unconditional, help: ArgumentHelp("Print the first N training sequences as trained (a chain of examples sharing a prefix, or one example), every loss span and EOS label marked, and write nothing.",
                                            valueName: "N"))
    var preview: Int?

    func validate() throws { try OptionCheck.atLeast(1, preview, "--preview") }

    func run() throws {
        // From the start, so that no moment of prepare dies of a signal (it stops at its next check).
        StopSignal.install()
        do {
            let spec = try JobPreflight.load(job)
            let tokenizer = try Tokenizer(folder: spec.tokenizer.path)
            let preparation = DataPreparation(job: spec, encoder: tokenizer, tokenizerSHA256: tokenizer.sha256)
            if let preview {
                let split = try preparation.prepare(.train, limit: preview)
                let style: PreparePreview.Style = isatty(STDOUT_FILENO) == 1 ? .ansi : .brackets
                for (i, chain) in split.chains.enumerated() {
                    print(PreparePreview.render(chain.map { split.examples[$0] }, number: i + 1, encoder: tokenizer, style: style))
                }
                return
            }
            let summary = try preparation.run(progress: DataPreparation.progressBars())
            for line in summary.lines() { print(line) }
            print("summary: \(RunDirectory(spec.checkpoint.dir).prepareSummaryFile.path)")
        } catch let error as ValidationError {
            throw error
        } catch let error as StopSignal.Interrupted {
            FileHandle.standardError.write(Data("\(error)\n".utf8))
            throw ExitCode(error.exitStatus)
        } catch {
            FileHandle.standardError.write(Data("\(error)\n".utf8))
            throw ExitCode(1)
        }
    }
}
