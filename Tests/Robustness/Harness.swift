import Foundation
import Storage
import TestSupport
import Testing

/// One hostile input: how to make it, the `tooltune` command that meets it, and what a clean refusal
/// looks like. Every case must end with the expected exit status (1, or 64 for a usage error), never by
/// a signal or a timeout, with a message on stderr naming the file and the field or option, and leave
/// no file under a final name and no temporary file in the folders it watches.
struct HostileCase: Sendable, CustomTestStringConvertible {
    let family: String
    let name: String
    /// Makes the input inside the case's own folder; returns the command's arguments.
    let make: @Sendable (_ folder: URL) throws -> [String]
    var status: Int32 = 1
    /// Substrings stderr must hold (`{dir}` stands for the case's folder).
    var mentions: [String] = []
    /// Folders (relative to the case's folder) whose contents must not change.
    var watched: [String] = ["."]
    /// Files (relative to a watched folder) that may appear: logs written as the work goes, not outputs.
    var allowed: Set<String> = []
    var timeout: TimeInterval = 60
    /// Undoes what `make` set up outside the folder (a mount), before the folder is removed.
    var teardown: (@Sendable (_ folder: URL) -> Void)?

    var testDescription: String { "\(family): \(name)" }
}

/// What `run` observed, for cases that check more.
struct Observed {
    let folder: URL
    let result: ProcessResult
}

/// Files (not folders) in `folder` and below, relative to it, hidden ones too.
func listing(_ folder: URL) -> Set<String> {
    guard let walker = FileManager.default.enumerator(atPath: folder.path) else { return [] }
    var files = Set<String>()
    while let name = walker.nextObject() as? String {
        if walker.fileAttributes?[.type] as? FileAttributeType != .typeDirectory { files.insert(name) }
    }
    return files
}

/// Runs one case in a fresh folder under `parent` and checks the clean refusal.
@discardableResult
func check(_ hostile: HostileCase, in parent: URL) throws -> Observed {
    let folder = parent.appendingPathComponent("\(hostile.family)-\(UUID().uuidString.prefix(8))")
    try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    defer {
        hostile.teardown?(folder)
        try? FileManager.default.removeItem(at: folder)
    }
    let arguments = try hostile.make(folder)
    let watched = hostile.watched.map { folder.appendingPathComponent($0) }
    let before = watched.map(listing)
    let result = try runProcess(ToolTuneBinary.path, arguments, cwd: folder, timeout: hostile.timeout)
    expectCleanRefusal(result, status: hostile.status, mentions: hostile.mentions.map {
        $0.replacingOccurrences(of: "{dir}", with: folder.path)
    }, command: arguments)
    for (url, was) in zip(watched, before) {
        let now = listing(url)
        let added = now.subtracting(was).subtracting(hostile.allowed)
        #expect(added.isEmpty, "new files in \(url.lastPathComponent): \(added.sorted())")
        let temporaries = now.filter { $0.contains(AtomicFile.temporaryMarker) || $0.contains(".spill-") }
        #expect(temporaries.isEmpty, "temporary files left: \(temporaries.sorted())")
    }
    return Observed(folder: folder, result: result)
}

/// Exit `status` (not a signal, not a timeout), each of `mentions` on stderr, no crash report.
func expectCleanRefusal(_ result: ProcessResult, status: Int32, mentions: [String], command: [String],
                        sourceLocation: SourceLocation = #_sourceLocation) {
    let shown = "tooltune \(command.joined(separator: " ").prefix(300))\nstderr: \(result.stderr.prefix(2000))"
    #expect(!result.timedOut, "timed out: \(shown)", sourceLocation: sourceLocation)
    #expect(!result.signaled, "killed by signal \(result.status): \(shown)", sourceLocation: sourceLocation)
    #expect(result.status == status, "exit \(result.status), expected \(status): \(shown)", sourceLocation: sourceLocation)
    for crash in ["Fatal error", "Program crashed", "Backtrace", "Segmentation fault", "HDF5-DIAG"] {
        #expect(!result.stderr.contains(crash), "\(crash): \(shown)", sourceLocation: sourceLocation)
    }
    for mention in mentions {
        #expect(result.stderr.contains(mention), "stderr does not mention \"\(mention)\": \(shown)", sourceLocation: sourceLocation)
    }
}

/// Fixtures the families build on.
enum Inputs {
    static let project = ToolTuneBinary.projectRoot
    static let demoTokenizer = project.appendingPathComponent("demo/tokenizer").path
    static let demoTrain = project.appendingPathComponent("demo/data/train").path
    static let hfFolder = HFFixtures.path("preln/fp32-safetensors")
    static let hfBinFolder = HFFixtures.path("preln/fp32-bin")

    /// A job over `train` (a folder or file of ToolBench data) with its run folder in `folder/run`.
    static func job(in folder: URL, train: String, format: String = "auto", data: String? = nil, extra: String = "") throws -> String {
        let text = """
            name: hostile
            model: {init: random, config: {preset: tiny, vocab_size: 4096, max_position_embeddings: 1024}}
            tokenizer: {path: \(demoTokenizer)}
            data: {train: \(train), format: \(format), max_seq_len: 1024\(data.map { ", " + $0 } ?? "")}
            checkpoint: {dir: \(folder.appendingPathComponent("run").path)}
            \(extra)
            """
        let path = folder.appendingPathComponent("job.yaml").path
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    /// Copies a folder (or file) into `folder` under `name`; returns the copy's path.
    static func copy(_ source: String, to folder: URL, as name: String) throws -> String {
        let target = folder.appendingPathComponent(name).path
        try FileManager.default.copyItem(atPath: source, toPath: target)
        return target
    }
}

/// A ToolTune model file made once per test process from the Hugging Face fixture (import-hf).
let modelFile: Result<String, any Error> = Result {
    let folder = try makeTemporaryFolder("robustness-model")
    let path = folder.appendingPathComponent("model.h5").path
    let result = try runProcess(ToolTuneBinary.path, ["import-hf", Inputs.hfFolder, path])
    guard result.status == 0 else { throw TestSetupError("import-hf of the fixture failed: \(result.stderr)") }
    return path
}

struct TestSetupError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
