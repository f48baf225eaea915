import Foundation
import Interop
import OPT
import Storage
import Testing
import TestSupport
import Tokenizer

/// `tooltune import-hf` and `tooltune export-hf` run as a user runs them.
@Suite final class HuggingFaceCommandTests {
    let scratch: URL

    init() throws { scratch = try makeTemporaryFolder("hf-command") }
    deinit { try? FileManager.default.removeItem(at: scratch) }

    func path(_ name: String) -> String { scratch.appendingPathComponent(name).path }

    func tooltune(_ arguments: String...) throws -> ProcessResult {
        try runProcess(ToolTuneBinary.path, arguments)
    }

    /// A copy of a fixture folder to break.
    func copy(_ fixture: String, to name: String) throws -> String {
        try FileManager.default.copyItem(atPath: HFFixtures.path(fixture), toPath: path(name))
        return path(name)
    }

    /// Files in the scratch folder (temporary names included), to see that a failure left nothing behind.
    func leftovers() throws -> [String] { try FileManager.default.contentsOfDirectory(atPath: scratch.path).sorted() }

    @Test func importReportsWhatItReadAndWritesTheModel() throws {
        let out = path("hub.h5")
        let result = try tooltune("import-hf", HFFixtures.path("postln-proj/fp16-bin-hub"), out)
        #expect(result.status == 0, "\(result.stderr)")
        for text in ["pytorch_model.bin, 1 weight file, tensors 36 F16", "10,936 parameters", "post-LN, word_embed_proj_dim 16",
                     "tokenizer: none", "wrote \(out): /model, model_config", "peak RSS"] {
            #expect(result.stdout.contains(text), "\(text) not in:\n\(result.stdout)")
        }
        let imported = try ModelCheckpoint.load(out)
        let direct = try HuggingFaceModel.load(folder: HFFixtures.path("postln-proj/fp16-bin-hub"))
        #expect(imported.config == direct.config && imported.parameters.array == direct.parameters.array)
        #expect(try ModelCheckpoint.tokenizerSHA256(of: HDF5File(out)) == nil)

        let json = try tooltune("import-hf", HFFixtures.path("preln/fp32-sharded"), out, "--force", "--json")
        #expect(json.status == 0, "\(json.stderr)")
        let report = try JSONDecoder().decode(HuggingFaceImport.Report.self, from: Data(json.stdout.utf8))
        #expect(report.format == "model.safetensors.index.json" && report.files.count == 4 && report.dtypes == ["F32": 36])
        #expect(report.parameters == 11_000 && report.peakRSSMiB > 0)
    }

    @Test func importRefusesAnExistingOutputWithoutForce() throws {
        let out = path("exists.h5")
        try Data("keep".utf8).write(to: URL(fileURLWithPath: out))
        let result = try tooltune("import-hf", HFFixtures.path("preln/fp32-safetensors"), out)
        #expect(result.status != 0 && result.stderr.contains("\(out): exists"))
        #expect(try String(contentsOfFile: out, encoding: .utf8) == "keep")
    }

    @Test func importWithoutConfigJSONFailsByName() throws {
        let folder = try copy("preln/fp32-safetensors", to: "no-config")
        try FileManager.default.removeItem(atPath: "\(folder)/config.json")
        let result = try tooltune("import-hf", folder, path("out.h5"))
        #expect(result.status != 0)
        #expect(result.stderr.contains("\(folder)/config.json: missing"), "\(result.stderr)")
        #expect(try leftovers() == ["no-config"])
    }

    @Test func importOfWrongShapesNamesEveryTensor() throws {
        let folder = try copy("preln/fp32-safetensors", to: "wide-ffn")
        let config = "\(folder)/config.json"
        let text = try String(contentsOfFile: config, encoding: .utf8).replacingOccurrences(of: #""ffn_dim": 40"#, with: #""ffn_dim": 48"#)
        try text.write(toFile: config, atomically: true, encoding: .utf8)
        let result = try tooltune("import-hf", folder, path("out.h5"))
        #expect(result.status != 0)
        for layer in 0..<2 {
            #expect(result.stderr.contains("model.decoder.layers.\(layer).fc1.weight has shape [40, 24], expected [48, 24]"), "\(result.stderr)")
            #expect(result.stderr.contains("model.decoder.layers.\(layer).fc2.weight has shape [24, 40], expected [24, 48]"))
        }
        #expect(try leftovers() == ["wide-ffn"])
    }

    /// A trained checkpoint names its tokenizer through the stored job; export copies it, and import of
    /// the export records the same tokenizer hash and gives the same weights.
    @Test func exportWithTheJobsTokenizerThenImportRoundTrips() throws {
        let tokenizer = try Tokenizer(folder: HuggingFaceModelTests.demoTokenizer)
        let model = try HuggingFaceModelTests.tinyModel()
        let checkpoint = try writeCheckpoint(model, sha: tokenizer.sha256, job: "tokenizer: {path: \(HuggingFaceModelTests.demoTokenizer)}\n")
        let folder = path("exported")
        let export = try tooltune("export-hf", checkpoint, folder)
        #expect(export.status == 0, "\(export.stderr)")
        #expect(export.stdout.contains("as F32") && export.stdout.contains("sha256 \(tokenizer.sha256)"), "\(export.stdout)")
        let back = path("back.h5")
        let result = try tooltune("import-hf", folder, back)
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("tokenizer: vocab.json + merges.txt, sha256 \(tokenizer.sha256)"))
        #expect(try ModelCheckpoint.tokenizerSHA256(of: HDF5File(back)) == tokenizer.sha256)
        let imported = try ModelCheckpoint.load(back)
        #expect(imported.config == model.config)
        #expect(imported.parameters.array.map(\.bitPattern) == model.parameters.array.map(\.bitPattern))
    }

    @Test func exportRefusesATokenizerWithAnotherHash() throws {
        let checkpoint = try writeCheckpoint(try HuggingFaceModelTests.tinyModel(), sha: String(repeating: "ab", count: 32), job: nil)
        let folder = path("never")
        let result = try tooltune("export-hf", checkpoint, folder, "--tokenizer", HuggingFaceModelTests.demoTokenizer)
        #expect(result.status != 0)
        #expect(result.stderr.contains("but \(checkpoint) was made with \(String(repeating: "ab", count: 32))"), "\(result.stderr)")
        let noJob = try tooltune("export-hf", checkpoint, folder)
        #expect(noJob.status != 0 && noJob.stderr.contains("records no job"), "\(noJob.stderr)")
        let notATokenizer = try tooltune("export-hf", checkpoint, folder, "--tokenizer", scratch.path)
        #expect(notATokenizer.status != 0 && notATokenizer.stderr.contains("\(scratch.path): no vocab.json or merges.txt"),
                "\(notATokenizer.stderr)")
        #expect(try leftovers() == ["model.h5"])
    }

    @Test func exportRefusesANonEmptyFolderUnlessForced() throws {
        let checkpoint = try writeCheckpoint(try HuggingFaceModelTests.tinyModel(), sha: nil, job: nil)
        let folder = path("busy")
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        try Data("mine".utf8).write(to: URL(fileURLWithPath: "\(folder)/notes.txt"))
        let refused = try tooltune("export-hf", checkpoint, folder, "--no-tokenizer")
        #expect(refused.status != 0)
        #expect(refused.stderr.contains("\(folder): the folder is not empty (notes.txt); --force replaces it"), "\(refused.stderr)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: folder) == ["notes.txt"])
        #expect(try leftovers() == ["busy", "model.h5"])

        let forced = try tooltune("export-hf", checkpoint, folder, "--no-tokenizer", "--force", "--dtype", "bf16")
        #expect(forced.status == 0, "\(forced.stderr)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: folder).sorted() == ["config.json", "generation_config.json", "model.safetensors"])
        #expect(try SafetensorsFile("\(folder)/model.safetensors").tensors.allSatisfy { $0.dtype == .bfloat16 })
        #expect(try leftovers() == ["busy", "model.h5"])

        let empty = path("empty")
        try FileManager.default.createDirectory(atPath: empty, withIntermediateDirectories: true)
        #expect(try tooltune("export-hf", checkpoint, empty, "--no-tokenizer").status == 0)
    }

    @Test func badOptionsAreRefused() throws {
        let result = try tooltune("export-hf", path("missing.h5"), path("out"), "--dtype", "fp8")
        #expect(result.status != 0 && result.stderr.contains("--dtype: expected fp32, fp16 or bf16, found \"fp8\""), "\(result.stderr)")
        let missing = try tooltune("export-hf", path("missing.h5"), path("out"), "--no-tokenizer")
        #expect(missing.status != 0 && missing.stderr.contains(path("missing.h5")), "\(missing.stderr)")
        #expect(try leftovers().isEmpty)
    }

    /// A model file as a trainer writes one: /model, model_config, and optionally the tokenizer hash and the job.
    func writeCheckpoint(_ model: OPTModel, sha: String?, job: String?) throws -> String {
        let checkpoint = path("model.h5")
        try ModelCheckpoint.save(model, to: checkpoint, tokenizerSHA256: sha)
        if let job {
            let file = try HDF5File(checkpoint, mode: .readWrite)
            try file.root.setAttribute("job", job)
            try file.close()
        }
        return checkpoint
    }
}
