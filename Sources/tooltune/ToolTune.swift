import ArgumentParser

@main
struct ToolTune: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tooltune",
        abstract: "Fine-tune OPT language models for tool calling on CPU clusters (MPI, OpenBLAS, HDF5).",
        version: "0.1.0",
        subcommands: [Prepare.self, Train.self, Eval.self, Generate.self, Validate.self, Inspect.self, Forward.self,
                      ImportHF.self, ExportHF.self, ExportSteps.self, Tokenize.self, Doctor.self, Bench.self])
}
