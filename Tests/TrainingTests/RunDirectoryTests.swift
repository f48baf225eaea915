import Foundation
import Storage
import TestSupport
import Testing
@testable import Training

@Suite struct RunDirectoryTests {
    func makeRun() throws -> RunDirectory {
        let run = RunDirectory(try makeTemporaryFolder("run").appendingPathComponent("demo").path)
        try run.create()
        return run
    }

    func touch(_ url: URL) { _ = FileManager.default.createFile(atPath: url.path, contents: Data("x".utf8)) }

    @Test func latestPointsAtTheNewestCheckpoint() throws {
        let run = try makeRun()
        #expect(try run.latestCheckpoint() == nil)
        let path = run.checkpointPath(step: 400)
        #expect(path.lastPathComponent == "step-000400.h5")
        touch(path)
        try run.setLatest(path)
        #expect(String(decoding: FileManager.default.contents(atPath: run.latestFile.path)!, as: UTF8.self)
                == "checkpoints/step-000400.h5\n")
        #expect(try run.latestCheckpoint()?.standardizedFileURL == path.standardizedFileURL)
    }

    @Test func latestNamingAMissingFileIsAnError() throws {
        let run = try makeRun()
        try AtomicFile.write(Data("checkpoints/step-000009.h5\n".utf8), to: run.latestFile.path)
        let error = #expect(throws: RunDirectoryError.self) { try run.latestCheckpoint() }
        #expect(error?.description.contains("step-000009.h5, which does not exist") == true)
    }

    @Test func pruneKeepsTheNewestAndLatestAndRemovesTemporaries() throws {
        let run = try makeRun()
        for step in [10, 20, 30, 40] { touch(run.checkpointPath(step: step)) }
        touch(run.checkpointsFolder.appendingPathComponent(".step-000050.h5\(AtomicFile.temporaryMarker)123-456"))
        try run.setLatest(run.checkpointPath(step: 20))  // e.g. a resume from 20 that has not written yet
        try run.prune(keepLast: 2)
        #expect(try run.checkpoints().map(\.step) == [20, 30, 40])
        #expect(try FileManager.default.contentsOfDirectory(atPath: run.checkpointsFolder.path).count == 3)
        try run.prune(keepLast: 0)
        #expect(try run.checkpoints().map(\.step) == [20, 30, 40], "keep_last 0 keeps all")
    }
}

@Suite struct MetricsLogTests {
    func record(_ step: Int, loss: Double = 1.5) -> StepMetrics {
        StepMetrics(step: step, epoch: 0, loss: loss, lr: 1e-3, gradNorm: 0.5, tokens: 100, targetTokens: 20,
                    exampleTokens: 250, tokensPerSecond: 1000, exampleTokensPerSecond: 2500, seconds: 0.1, computeSeconds: 0.08,
                    communicationSeconds: 0.01, waitSeconds: 0.01, skipped: false)
    }

    @Test func appendReadAndRestart() throws {
        let log = MetricsLog(url: try makeTemporaryFolder("metrics").appendingPathComponent("metrics.jsonl"))
        for step in 1...5 { try log.append(record(step, loss: Double(step))) }
        #expect(try log.read().map(\.step) == [1, 2, 3, 4, 5])
        // A run killed mid-append leaves half a line: restarting from a checkpoint's records replaces it all.
        let handle = try FileHandle(forWritingTo: log.url)
        try handle.seekToEnd()
        try handle.write(contentsOf: Data(#"{"comm_s":0.0"#.utf8))
        try handle.close()
        #expect(throws: RunDirectoryError.self) { try log.read() }
        try log.restart(from: (1...3).map { record($0, loss: Double($0)) })
        #expect(try log.read().map(\.loss) == [1, 2, 3])
        let text = String(decoding: FileManager.default.contents(atPath: log.url.path)!, as: UTF8.self)
        #expect(text.hasPrefix(#"{"comm_s":0.01,"compute_s":0.08,"epoch":0,"example_tokens":250,"example_tokens_per_s":2500,"grad_norm":0.5,"#))
    }

    /// A run logged before example tokens were counted resumes: its records read them as its tokens
    /// (without shared prefixes they are the same).
    @Test func recordsWithoutExampleTokensReadAsUnshared() throws {
        let log = MetricsLog(url: try makeTemporaryFolder("metrics").appendingPathComponent("metrics.jsonl"))
        try Data(#"{"comm_s":0.01,"compute_s":0.08,"epoch":0,"grad_norm":0.5,"loss":1,"lr":0.001,"seconds":0.1,"skipped":false,"step":1,"target_tokens":20,"tokens":100,"tokens_per_s":1000,"wait_s":0.01}"#.utf8 + [0x0A])
            .write(to: log.url)
        let read = try #require(try log.read().first)
        #expect(read.exampleTokens == 100 && read.exampleTokensPerSecond == 1000 && read.tokens == 100)
        try log.append(record(2))
        #expect(try log.read().map(\.exampleTokens) == [100, 250])
    }

    /// The same for a checkpoint's metrics table written before the example-token columns.
    @Test func checkpointTablesWithoutExampleTokensReadAsUnshared() throws {
        let path = try makeTemporaryFolder("metrics").appendingPathComponent("old.h5").path
        let file = try HDF5File(path, mode: .create)
        let group = try file.root.createGroup("metrics")
        let records = [record(1), record(2)]
        for column in StepMetrics.columns {
            switch column {
            case .integer(let key, let field) where StepMetrics.addedColumns[key] == nil:
                try group.write(key.rawValue, records.map { Int64($0[keyPath: field]) })
            case .real(let key, let field) where StepMetrics.addedColumns[key] == nil:
                try group.write(key.rawValue, records.map { $0[keyPath: field] })
            case .flag(let key, let field):
                try group.write(key.rawValue, records.map { UInt8($0[keyPath: field] ? 1 : 0) })
            default: continue
            }
        }
        let read = try TrainingCheckpoint.readMetrics(group)
        #expect(read.map(\.exampleTokens) == [100, 100] && read.map(\.exampleTokensPerSecond) == [1000, 1000])
        #expect(read.map(\.loss) == records.map(\.loss))
        try file.close()
    }

    @Test func nonFiniteLossesAreWrittenAsStrings() throws {
        let log = MetricsLog(url: try makeTemporaryFolder("metrics").appendingPathComponent("metrics.jsonl"))
        try log.append(record(1, loss: .nan))
        #expect(try log.read().first?.loss.isNaN == true)
    }
}
