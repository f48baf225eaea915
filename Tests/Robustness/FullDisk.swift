import Foundation
import TestSupport
import Testing

/// Every command that writes, on a disk that fills up while it writes: a tmpfs mount of a few sizes from
/// one page to just under what the output needs. HDF5 caches writes, so a full disk can first show when
/// an object or the file is closed; the command must then say so naming the file, close everything
/// (an HDF5 object left open crashed the process at exit) and publish nothing.
enum FullDisk {
    /// Root can mount a tmpfs here (not in every container): the reason to skip otherwise.
    static let unavailable: String? = {
        guard getuid() == 0 else { return "ENOSPC is tested on a small tmpfs mount, which needs root" }
        guard let folder = try? makeTemporaryFolder("robustness-mount-probe") else { return "no temporary folder" }
        defer { try? FileManager.default.removeItem(at: folder) }
        guard mount(tmpfs: folder.path, bytes: 4096) else { return "mount -t tmpfs failed (no CAP_SYS_ADMIN here?)" }
        unmount(folder.path)
        return nil
    }()

    @discardableResult
    static func mount(tmpfs path: String, bytes: Int) -> Bool {
        guard let result = try? runProcess("/bin/mount", ["-t", "tmpfs", "-o", "size=\(bytes)", "tmpfs", path], timeout: 20) else { return false }
        return result.status == 0
    }

    static func unmount(_ path: String) {
        _ = try? runProcess("/bin/umount", [path], timeout: 20)
    }

    /// A small answer-file folder (the first 40 demo files), so prepare's output is ~50 KB.
    static func smallTrain(in folder: URL) throws -> String {
        let source = URL(fileURLWithPath: Inputs.demoTrain).appendingPathComponent("G1_answer")
        let target = folder.appendingPathComponent("train/G1_answer")
        try FileManager.default.createDirectory(at: target, withIntermediateDirectories: true)
        for name in try FileManager.default.contentsOfDirectory(atPath: source.path).sorted().prefix(40) {
            try FileManager.default.copyItem(at: source.appendingPathComponent(name), to: target.appendingPathComponent(name))
        }
        return folder.appendingPathComponent("train").path
    }

    /// tmpfs sizes from one page to a page short of what the output needs, in pages of 4 KB.
    static func sizes(upTo needed: Int) -> [Int] {
        let pages = (needed + 4095) / 4096 - 1
        return Array(Set([1, pages / 4, pages / 2, 3 * pages / 4, pages].filter { $0 >= 1 })).sorted().map { $0 * 4096 }
    }

    static func cases() -> [HostileCase] {
        var all: [HostileCase] = []
        /// Also a mount filled to the last byte before the command starts (`filled`).
        func onFullDisk(_ name: String, needs: Int, mentions: [String], allowed: Set<String> = [],
                        _ make: @escaping @Sendable (URL) throws -> [String]) {
            for (bytes, filled) in sizes(upTo: needs).map({ ($0, false) }) + [(65_536, true)] {
                all.append(HostileCase(family: "full-disk", name: "\(name) onto \(bytes / 1024) KB\(filled ? ", full" : "")", make: { folder in
                    let mountPoint = folder.appendingPathComponent("mnt")
                    try FileManager.default.createDirectory(at: mountPoint, withIntermediateDirectories: true)
                    let arguments = try make(folder)
                    guard mount(tmpfs: mountPoint.path, bytes: bytes) else { throw TestSetupError("cannot mount a tmpfs") }
                    if filled {
                        // Written until the mount refuses; the watched listing is taken after this.
                        let filler = mountPoint.appendingPathComponent("filler")
                        FileManager.default.createFile(atPath: filler.path, contents: nil)
                        let handle = try FileHandle(forWritingTo: filler)
                        while (try? handle.write(contentsOf: Data(count: 4096))) != nil {}
                        try? handle.close()
                    }
                    return arguments
                }, mentions: mentions + ["No space left on device"], watched: ["mnt"], allowed: allowed,
                teardown: { unmount($0.appendingPathComponent("mnt").path) }))
            }
        }
        // Output sizes measured on the inputs: train.h5 43 KB (51 KB without shared prefixes) + summary.json, and
        // prepare's spill file beside it while it writes; model.h5 67 KB; logits.h5 12 KB,
        // 8 KB of it written (tmpfs stores no holes); the exported folder 53 KB.
        onFullDisk("prepare", needs: 57_000, mentions: ["mnt/run/data"]) { folder in
            let train = try smallTrain(in: folder)
            let job = try Inputs.job(in: folder, train: train, format: "toolbench-answers")
            let text = try String(contentsOfFile: job, encoding: .utf8)
                .replacingOccurrences(of: folder.appendingPathComponent("run").path, with: folder.appendingPathComponent("mnt/run").path)
            try text.write(toFile: job, atomically: true, encoding: .utf8)
            return ["prepare", job]
        }
        onFullDisk("import-hf", needs: 67_000, mentions: ["mnt/model.h5"]) { folder in
            ["import-hf", Inputs.hfFolder, folder.appendingPathComponent("mnt/model.h5").path]
        }
        onFullDisk("forward --logits", needs: 8_000, mentions: ["mnt/logits.h5"]) { folder in
            ["forward", try modelFile.get(), "--ids", (2...21).map(String.init).joined(separator: ","),
             "--logits", folder.appendingPathComponent("mnt/logits.h5").path]
        }
        onFullDisk("export-hf", needs: 52_000, mentions: ["mnt/out"]) { folder in
            ["export-hf", try modelFile.get(), folder.appendingPathComponent("mnt/out").path, "--no-tokenizer"]
        }
        // A checkpoint of the small run's tiny model (5,197,048 bytes: weights and both AdamW moments); the
        // prepared data stays outside the mount (data.train names its train.h5). metrics.jsonl is a log,
        // appended as steps finish: a run that resumes rewrites it from its checkpoint.
        onFullDisk("train's checkpoint", needs: 5_197_000, mentions: ["mnt/run"], allowed: ["run/metrics.jsonl"]) { folder in
            let prepared = try SmallRun.prepared.get().run.appendingPathComponent("data/train.h5").path
            let job = try SmallRun.write(in: folder, train: prepared, run: folder.appendingPathComponent("mnt/run").path)
            return ["train", job, "--stop-after-step", "1"]
        }
        return all
    }
}
