import ArgumentParser
import Foundation
import Interop
import Storage

struct ImportHF: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "import-hf",
        abstract: "Read a Hugging Face OPT model folder into a ToolTune model file (/model, model_config, tokenizer_sha256).",
        discussion: """
            Reads config.json and model.safetensors, sharded safetensors (model.safetensors.index.json) or \
            pytorch_model.bin (read without running any pickle code), in F32, F16 or BF16, with model.decoder.* or \
            decoder.* names and an optional lm_head.weight (which must equal embed_tokens). Every tensor the config \
            implies must be there with its shape, and nothing else. Prints what it read, the time and the peak memory.
            """)

    @Argument(help: "The Hugging Face model folder.")
    var folder: String

    @Argument(help: "The model file to write (HDF5).")
    var output: String

    @Flag(help: "Replace OUTPUT if it exists.")
    var force = false

    @Flag(help: "Print one JSON line instead of the report.")
    var json = false

    func run() throws {
        let report = try HuggingFaceImport.run(folder: folder, output: output, replacing: force)
        try printResult(report, json: json, report: HuggingFaceImport.lines)
    }
}

struct ExportHF: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export-hf",
        abstract: "Write a checkpoint's model as a Hugging Face model folder (transformers, vLLM, TGI).",
        discussion: """
            Writes config.json, model.safetensors (model.decoder.* names, no tied lm_head, as save_pretrained), \
            generation_config.json and the tokenizer files (vocab.json, merges.txt, special_tokens_map.json, \
            tokenizer_config.json) of the job's tokenizer folder or --tokenizer. When the checkpoint records a \
            tokenizer_sha256, the tokenizer folder must have it. The folder is written under a temporary name and \
            renamed when complete.
            """)

    @Argument(help: "A ToolTune checkpoint or model file (/model and model_config).")
    var checkpoint: String

    @Argument(help: "The folder to write; it must not exist or be empty unless --force.")
    var folder: String

    @Option(help: "Element type of the weights: fp32, fp16 or bf16 (rounded to nearest even).")
    var dtype = "fp32"

    @Option(help: "Tokenizer folder to copy (default: tokenizer.path of the job stored in the checkpoint).")
    var tokenizer: String?

    @Flag(help: "Write the model files only, no tokenizer.")
    var noTokenizer = false

    @Flag(help: "Replace the folder if it has files.")
    var force = false

    func validate() throws {
        if TensorDType(option: dtype) == nil { throw ValidationError("--dtype: expected fp32, fp16 or bf16, found \"\(dtype)\"") }
        if noTokenizer && tokenizer != nil { throw ValidationError("--tokenizer and --no-tokenizer exclude each other") }
    }

    func run() throws {
        let source: HuggingFaceExport.TokenizerSource = noTokenizer ? .none : tokenizer.map { .folder($0) } ?? .checkpointJob
        let summary: HuggingFaceExport.Summary
        do {
            summary = try HuggingFaceExport.export(checkpoint: checkpoint, to: folder, dtype: TensorDType(option: dtype)!,
                                                   tokenizer: source, replacing: force)
        } catch let error as AtomicFolder.NotEmpty {
            FileHandle.standardError.write(Data("Error: \(error); --force replaces it\n".utf8))
            throw ExitCode(1)
        }
        print("exported \(checkpoint) -> \(summary.folder): \(summary.parameters.formatted()) parameters as \(summary.dtype)")
        print("  " + summary.files.joined(separator: ", "))
        if let folder = summary.tokenizerFolder, let sha = summary.tokenizerSHA256 {
            print("  tokenizer: \(folder) (sha256 \(sha))")
        } else {
            print("  tokenizer: none")
        }
    }
}
