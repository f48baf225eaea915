import Foundation

/// The files of one run under `checkpoint.dir`:
///
///     checkpoints/step-000400.h5   written atomically (temporary name, fsync, rename)
///     LATEST                       "checkpoints/step-000400.h5\n", replaced atomically after each checkpoint
///     metrics.jsonl                one JSON object per optimizer step
///     data/train.h5, data/eval.h5  prepared datasets (`tooltune prepare`), data/summary.json what it did
public struct RunDirectory: Sendable {
    public let root: URL

    public init(_ path: String) { root = URL(fileURLWithPath: path) }

    public var checkpointsFolder: URL { root.appendingPathComponent("checkpoints") }
    public var latestFile: URL { root.appendingPathComponent("LATEST") }
    public var metricsFile: URL { root.appendingPathComponent("metrics.jsonl") }
    public var dataFolder: URL { root.appendingPathComponent("data") }
    public var prepareSummaryFile: URL { dataFolder.appendingPathComponent("summary.json") }

    /// The prepared dataset of a split ("train", "eval").
    public func preparedDataset(_ split: String) -> URL { dataFolder.appendingPathComponent("\(split).h5") }

    public func checkpointPath(step: Int) -> URL {
        checkpointsFolder.appendingPathComponent(String(format: "step-%06d.h5", step))
    }

    public func create() throws {
        try Folders.create(checkpointsFolder.path)
    }

    /// The checkpoint LATEST names, if there is one. LATEST must be what `setLatest` writes, one line
    /// `checkpoints/step-NNNNNN.h5` naming an existing file of this run: anything else (a damaged or
    /// binary file, a path outside the run folder, a missing checkpoint) is an error, since the run's
    /// state is then not what the user thinks.
    public func latestCheckpoint() throws -> URL? {
        func fail(_ message: String) -> RunDirectoryError { RunDirectoryError(path: latestFile.path, message: message) }
        var info = stat()
        guard stat(latestFile.path, &info) == 0 else { return nil }
        guard info.st_mode & S_IFMT == S_IFREG else { throw fail("is not a regular file") }
        // One short line; a large file is not read into memory to say so.
        guard info.st_size <= 4096, let data = FileManager.default.contents(atPath: latestFile.path) else {
            throw fail("is \(info.st_size) bytes; expected one line naming a checkpoint (checkpoints/step-NNNNNN.h5)")
        }
        guard let text = String(validating: data, as: UTF8.self),
              !text.unicodeScalars.contains(where: { $0.value < 0x20 && $0 != "\n" && $0 != "\r" }) else {
            throw fail("holds \(data.count) bytes that are not a line of text; expected checkpoints/step-NNNNNN.h5")
        }
        let name = text.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !name.isEmpty else { throw fail("is empty") }
        let shown = name.count > 80 ? String(name.prefix(80)) + "..." : name
        let parts = name.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2, parts[0] == "checkpoints", let file = parts.last, file.hasPrefix("step-"), file.hasSuffix(".h5"),
              Int(file.dropFirst(5).dropLast(3)) != nil else {
            throw fail("names \"\(shown)\"; expected checkpoints/step-NNNNNN.h5 inside \(root.path) (what train writes)")
        }
        let url = root.appendingPathComponent(name)
        guard FileManager.default.fileExists(atPath: url.path) else { throw fail("names \(name), which does not exist") }
        return url
    }

    /// Points LATEST at `checkpoint` (a path inside this run directory).
    public func setLatest(_ checkpoint: URL) throws {
        let relative = checkpoint.path.hasPrefix(root.path + "/")
            ? String(checkpoint.path.dropFirst(root.path.count + 1)) : checkpoint.path
        try AtomicFile.write(Data((relative + "\n").utf8), to: latestFile.path)
    }

    /// Finished checkpoints (step-NNNNNN.h5), oldest first. Temporary files of interrupted writes
    /// start with "." and are not listed.
    public func checkpoints() throws -> [(step: Int, url: URL)] {
        guard FileManager.default.fileExists(atPath: checkpointsFolder.path) else { return [] }
        return try FileManager.default.contentsOfDirectory(atPath: checkpointsFolder.path).compactMap { name in
            guard name.hasPrefix("step-"), name.hasSuffix(".h5"),
                  let step = Int(name.dropFirst(5).dropLast(3)) else { return nil }
            return (step, checkpointsFolder.appendingPathComponent(name))
        }.sorted { $0.step < $1.step }
    }

    /// Deletes all but the newest `keepLast` checkpoints (0 keeps all), never the one LATEST names,
    /// and any temporary file an interrupted write left behind.
    public func prune(keepLast: Int) throws {
        let files = FileManager.default
        if let names = try? files.contentsOfDirectory(atPath: checkpointsFolder.path) {
            for name in names where name.hasPrefix(".") && name.contains(AtomicFile.temporaryMarker) {
                try? files.removeItem(at: checkpointsFolder.appendingPathComponent(name))
            }
        }
        guard keepLast > 0 else { return }
        let latest = try? latestCheckpoint()
        for (_, url) in try checkpoints().dropLast(keepLast) where url.standardizedFileURL != latest?.standardizedFileURL {
            try files.removeItem(at: url)
        }
    }
}

public struct RunDirectoryError: Error, CustomStringConvertible {
    public let path: String
    public let message: String
    public init(path: String, message: String) {
        self.path = path
        self.message = message
    }
    public var description: String { "\(path): \(message)" }
}
