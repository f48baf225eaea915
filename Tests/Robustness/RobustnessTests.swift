import Foundation
import Storage
import TestSupport
import Testing

/// Every family of hostile input, each case run as a user would run `tooltune` (the release binary
/// through TOOLTUNE_BIN) and checked by `check`: a clean refusal, nothing published, nothing left.
@Suite struct RobustnessTests {
    let scratch: URL
    init() throws { scratch = try makeTemporaryFolder("robustness") }

    @Test(arguments: DeepNesting.cases())
    func deepNesting(_ hostile: HostileCase) throws { try check(hostile, in: scratch) }

    @Test(arguments: HostilePickles.cases())
    func deepPickles(_ hostile: HostileCase) throws { try check(hostile, in: scratch) }

    @Test(arguments: HugeConfigs.cases())
    func hugeConfigs(_ hostile: HostileCase) throws { try check(hostile, in: scratch) }

    @Test(arguments: HostileSafetensors.cases())
    func safetensorsHeaders(_ hostile: HostileCase) throws { try check(hostile, in: scratch) }

    @Test(.enabled(if: FullDisk.unavailable == nil, "\(FullDisk.unavailable ?? "")"), arguments: FullDisk.cases())
    func fullDisk(_ hostile: HostileCase) throws { try check(hostile, in: scratch) }
}

extension RobustnessTests {
    @Test(arguments: BadOptions.cases())
    func badOptions(_ hostile: HostileCase) throws { try check(hostile, in: scratch) }

    @Test(arguments: RunFolders.cases())
    func runFolders(_ hostile: HostileCase) throws { try check(hostile, in: scratch) }

    @Test(arguments: DamagedDatasets.cases())
    func damagedDatasets(_ hostile: HostileCase) throws { try check(hostile, in: scratch) }

    /// One SIGINT at each of several moments of a prepare: it stops cleanly (exit 130, nothing written,
    /// no temporary) or, signalled after the work, finished whole. A signal before the process has
    /// installed its handler (its first milliseconds) ends it as any program ends; nothing is written then.
    @Test func prepareStopsCleanlyOnSIGINT() throws {
        var stopped = 0
        for delay in Interrupts.delays {
            let folder = scratch.appendingPathComponent("sigint-\(delay)")
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(at: folder) }
            let job = try Interrupts.job(in: folder)
            let result = try Interrupts.prepare(job, signalsAfter: [delay])
            let data = folder.appendingPathComponent("run/data")
            let left = listing(data)
            if result.signaled {
                #expect(result.status == SIGINT && !FileManager.default.fileExists(atPath: data.path), "at \(delay) s: \(result.stderr)")
            } else if result.status == 130 {
                stopped += 1
                #expect(result.stderr.contains("stopped by SIGINT"), "\(result.stderr)")
                #expect(left.isEmpty && !FileManager.default.fileExists(atPath: data.path), "after SIGINT at \(delay) s: \(left.sorted())")
            } else {
                #expect(result.status == 0, "exit \(result.status): \(result.stderr)")
                #expect(left == ["summary.json", "train.h5"], "\(left.sorted())")
                #expect(try PreparedDataset(path: data.appendingPathComponent("train.h5").path).sequenceCount > 0)
            }
        }
        #expect(stopped > 0, "no SIGINT landed while prepare worked")
    }

    /// Two signals end prepare at once (no clean-up); the next prepare removes what was left.
    @Test(arguments: [0.3, 0.8])
    func temporariesOfAKilledPrepareAreRemovedByTheNext(after delay: Double) throws {
        let folder = scratch.appendingPathComponent("sigint2-\(delay)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let job = try Interrupts.job(in: folder)
        let first = try Interrupts.prepare(job, signalsAfter: [delay, delay])
        #expect(!first.signaled && [0, 130].contains(first.status), "\(first.status): \(first.stderr)")
        let again = try runProcess(ToolTuneBinary.path, ["prepare", job])
        #expect(again.status == 0, "\(again.stderr)")
        let left = listing(folder.appendingPathComponent("run/data"))
        #expect(left == ["summary.json", "train.h5"], "\(left.sorted())")
    }
}

extension RobustnessTests {
    @Test(arguments: CorruptResume.cases())
    func corruptResume(_ hostile: HostileCase) throws { try check(hostile, in: scratch) }
}

extension RobustnessTests {
    @Test(arguments: HostileVocabularies.cases())
    func vocabularies(_ hostile: HostileCase) throws { try check(hostile, in: scratch) }
}

extension RobustnessTests {
    @Test(arguments: DamagedFiles.cases())
    func damagedFiles(_ hostile: HostileCase) throws { try check(hostile, in: scratch) }

    /// A checkpoint whose metrics table holds numbers no run writes (2^62 tokens a step, 1e-300 seconds):
    /// inspect still describes it (its summary once overflowed an Int and trapped).
    @Test func inspectDescribesAnyNumbersInAMetricsTable() throws {
        let folder = scratch.appendingPathComponent("inspect-metrics")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let path = folder.appendingPathComponent("odd.h5").path
        try FileManager.default.copyItem(atPath: try SmallRun.checkpoint(), toPath: path)
        do {
            let file = try HDF5File(path, mode: .readWrite)
            let root = try file.root
            try root.dataset("trainer/metrics/tokens").write([Int64](repeating: 1 << 62, count: 2))
            try root.dataset("trainer/metrics/seconds").write([1e-300, -1e-300])
            try root.dataset("trainer/metrics/loss").write([Double.infinity, -.nan])
            try file.close()
        }
        let result = try runProcess(ToolTuneBinary.path, ["inspect", path])
        #expect(result.status == 0 && !result.signaled, "\(result.stderr)")
        #expect(result.stdout.contains("ToolTune checkpoint: step 2"), "\(result.stdout.prefix(500))")
    }
}
