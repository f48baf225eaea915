import Foundation
import Interop
import Job
import OPT
import Storage

/// A job checked against the files it names, before any work starts: what `validate`, `prepare`, `train` and
/// `eval` read a job with. `JobSpec.parse` reads the text alone; here the model's architecture comes from
/// `model.path` (init hf: config.json; init checkpoint: its `model_config`), the tokenizer folder must hold
/// vocab.json and merges.txt with ids inside the model's vocab_size, and every other path the job names
/// must be readable. Every problem, of the text or of the files, is reported at once at its key.
public enum JobPreflight {
    /// Reads the job file and checks it (`check`).
    public static func load(_ file: String) throws -> JobSpec {
        guard let data = FileManager.default.contents(atPath: file) else {
            let why = FileManager.default.fileExists(atPath: file) ? "cannot read the file" : "no such file"
            throw JobSpecError(file: file, issues: [JobIssue(keyPath: "", line: nil, column: nil, message: why)])
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw JobSpecError(file: file, issues: [JobIssue(keyPath: "", line: nil, column: nil, message: "not UTF-8 text")])
        }
        return try check(text, file: file)
    }

    /// The job in `text` (`file` names it in errors), its architecture read from the files; throws a
    /// `JobSpecError` with every problem found.
    public static func check(_ text: String, file: String) throws -> JobSpec {
        let reading = JobSpec.read(text, file: file, architecture: architecture)
        let issues = reading.issues + reading.paths.compactMap(problem)
        if let job = reading.job, issues.isEmpty { return job }
        throw JobSpecError(file: file, issues: issues)
    }

    /// The architecture stored with a model the job names by path.
    static func architecture(_ model: JobSpec.ModelFile) throws -> OPTConfig {
        switch model {
        case .huggingFace(let folder):
            return try HuggingFaceModel.config(folder: folder)
        case .checkpoint(let path):
            do {
                return try ModelCheckpoint.config(of: HDF5File(path, mode: .readOnly))
            } catch let error as ModelCheckpointError {
                throw error
            } catch {
                throw ModelCheckpointError(file: path, message: "expected a ToolTune checkpoint (.h5 with a model_config attribute): \(error)")
            }
        }
    }

    /// What is wrong with a path the job names, if anything.
    static func problem(_ named: NamedPath) -> JobIssue? {
        switch named.kind {
        case .readable:
            guard FileManager.default.isReadableFile(atPath: named.path) else {
                let cwd = FileManager.default.currentDirectoryPath
                return named.issue("no readable file or folder at \(named.path) (relative paths start at the current directory, \(cwd))")
            }
            return nil
        case .tokenizer(let vocabSize):
            let folder = URL(fileURLWithPath: named.path)
            for name in ["vocab.json", "merges.txt"] where !FileManager.default.isReadableFile(atPath: folder.appendingPathComponent(name).path) {
                return named.issue("expected a folder with vocab.json and merges.txt, found no readable \(folder.appendingPathComponent(name).path)")
            }
            let vocabFile = folder.appendingPathComponent("vocab.json").path
            guard let data = FileManager.default.contents(atPath: vocabFile),
                  let vocab = (try? JSONSerialization.jsonObject(with: data)) as? [String: Int]
            else {
                return named.issue("\(vocabFile): expected a JSON object of token -> id")
            }
            if let vocabSize, let maxID = vocab.values.max(), maxID >= vocabSize {
                return named.issue("\(vocabFile) has token id \(maxID), but the model's vocab_size is \(vocabSize)")
            }
            return nil
        }
    }
}
