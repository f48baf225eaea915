import Foundation
import Storage
import TestSupport

/// Numeric options with values no run can use: each a usage error (exit 64) naming the option, where
/// "-5" was once "Missing value", nan and 0 threads were accepted.
enum BadOptions {
    static func cases() -> [HostileCase] {
        var all: [HostileCase] = []
        func add(_ option: String, _ values: [String], _ command: @escaping @Sendable (String) throws -> [String]) {
            for value in values {
                all.append(HostileCase(family: "options", name: "\(option) \(value)", make: { _ in try command(value) },
                                       status: 64, mentions: [option]))
            }
        }
        let threads = ["0", "-1", "-9223372036854775808", "100000", "nan", "1.5", "x"]
        @Sendable func model() throws -> String { try modelFile.get() }
        add("--max-new-tokens", ["-5", "0", "nan"]) { ["generate", try model(), "--prompt", "hi", "--max-new-tokens", $0] }
        add("--temperature", ["nan", "inf", "-1", "-inf"]) { ["generate", try model(), "--prompt", "hi", "--temperature", $0] }
        add("--top-p", ["0", "1.5", "nan", "-0.5"]) { ["generate", try model(), "--prompt", "hi", "--top-p", $0] }
        add("--index", ["-1"]) { ["generate", try model(), "--query", "q.json", "--index", $0] }
        add("--max-steps", ["0", "-3"]) { ["generate", try model(), "--query", "q.json", "--max-steps", $0] }
        add("--max-seq-len", ["1", "-2048"]) { ["generate", try model(), "--query", "q.json", "--max-seq-len", $0] }
        add("--threads", threads) { ["generate", try model(), "--prompt", "hi", "--threads", $0] }
        add("--threads", threads) { ["forward", try model(), "--ids", "2,5", "--threads", $0] }
        add("--threads", ["0", "-4", "5000"]) { ["doctor", "--threads", $0] }
        add("--threads", ["0", "100000"]) { ["bench", "train-step", "--preset", "tiny", "--threads", $0] }
        add("--threads", ["-1"]) { ["bench", "generate", "--model", try model(), "--threads", $0] }
        add("--poll", ["0", "-1", "nan", "inf"]) { ["eval", "job.yaml", "--watch", "--poll", $0] }
        add("--limit", ["0", "-1"]) { ["eval", "job.yaml", "--checkpoint", "x.h5", "--limit", $0] }
        add("--until-step", ["-1"]) { ["eval", "job.yaml", "--watch", "--until-step", $0] }
        add("--threads", ["0", "2000"]) { ["eval", "job.yaml", "--checkpoint", "x.h5", "--threads", $0] }
        add("--stop-after-step", ["0", "-1"]) { ["train", "job.yaml", "--stop-after-step", $0] }
        add("--preview", ["0", "-3"]) { ["prepare", "job.yaml", "--preview", $0] }
        add("--sizes", ["inf", "nan", "-1", "0"]) { ["bench", "allreduce", "--sizes", $0] }
        add("--steps", ["0", "-2"]) { ["export-steps", "job.yaml", "out", "--steps", $0] }
        return all
    }
}

/// A checkpoint.dir no folder can be made in, and LATEST files that do not name a checkpoint of the run:
/// a clear error naming the field or the file, instead of an NSError dump or a followed path.
enum RunFolders {
    static func cases() -> [HostileCase] {
        var all: [HostileCase] = []
        let places: [(String, @Sendable (URL) -> String)] = [
            ("under /proc", { _ in "/proc/tooltune-robustness/run" }),
            ("below a regular file", { $0.appendingPathComponent("file/run").path }),
            ("a regular file", { $0.appendingPathComponent("file").path }),
        ]
        // prepare makes <dir>/data; train too when it must prepare first, else (data.train a prepared .h5
        // elsewhere) <dir>/checkpoints.
        for (label, dir) in places {
            for command in ["prepare", "train", "train on prepared data"] {
                all.append(HostileCase(family: "run-folder", name: "checkpoint.dir \(label) (\(command))", make: { folder in
                    try Data("x".utf8).write(to: folder.appendingPathComponent("file"))
                    let (train, run) = try SmallRun.prepared.get()
                    let prepared = command == "train on prepared data"
                    let job = try SmallRun.write(in: folder, train: prepared ? run.appendingPathComponent("data/train.h5").path : train,
                                                 run: dir(folder))
                    return [command == "prepare" ? "prepare" : "train", job]
                }, mentions: ["checkpoint.dir", dir(URL(fileURLWithPath: "/X")).hasPrefix("/proc") ? "/proc/tooltune-robustness" : "file"]))
            }
        }
        let latest: [(String, Data)] = [
            ("binary", Data((0..<64).map { UInt8(($0 * 37) % 256) })),
            ("a path outside the run", Data("/etc/passwd\n".utf8)),
            ("a relative path out of the run", Data("../../../etc/passwd\n".utf8)),
            ("another file of the run", Data("metrics.jsonl\n".utf8)),
            ("a missing checkpoint", Data("checkpoints/step-999999.h5\n".utf8)),
            ("two lines", Data("checkpoints/step-000001.h5\ncheckpoints/step-000002.h5\n".utf8)),
            ("empty", Data()),
            ("10 MB", Data(repeating: UInt8(ascii: "a"), count: 10 << 20)),
            ("NUL bytes", Data("checkpoints/step-000001.h5\0\0".utf8)),
        ]
        for (label, contents) in latest {
            all.append(HostileCase(family: "latest", name: "LATEST is \(label)", make: { folder in
                let job = try SmallRun.copy(to: folder)
                try contents.write(to: folder.appendingPathComponent("run/LATEST"))
                return ["train", job]
            }, mentions: ["run/LATEST"]))
        }
        all.append(HostileCase(family: "latest", name: "LATEST is a folder", make: { folder in
            let job = try SmallRun.copy(to: folder)
            try FileManager.default.createDirectory(at: folder.appendingPathComponent("run/LATEST"), withIntermediateDirectories: true)
            return ["train", job]
        }, mentions: ["run/LATEST", "not a regular file"]))
        return all
    }
}

/// Prepared datasets damaged after `prepare` wrote them: ids outside the vocabulary, masks that are
/// not 0/1, target counts that disagree, an input index that is not a permutation. Each is refused when
/// the run opens the file, naming it, before any step reads a sequence.
enum DamagedDatasets {
    static func cases() -> [HostileCase] {
        let edits: [(String, String, @Sendable (HDF5Group) throws -> Void)] = [
            ("a token id = vocab_size", "outside the vocabulary", { try poke($0, "tokens", at: 17, Int32(4096)) }),
            ("a token id = 2^31 - 1", "outside the vocabulary", { try poke($0, "tokens", at: 5, Int32.max) }),
            ("a negative token id", "outside the vocabulary", { try poke($0, "tokens", at: 1000, Int32(-7)) }),
            ("a token id in the last sequence", "outside the vocabulary", { root in
                let n = try root.dataset("tokens").count
                try poke(root, "tokens", at: n - 1, Int32(99_999))
            }),
            ("a loss mask of 2", "loss mask 2", { try poke($0, "loss_mask", at: 40, UInt8(2)) }),
            ("a target count off by one", "target_counts", { root in
                let counts = try root.dataset("sequences/target_counts")
                var values = try counts.read(as: Int32.self)
                values[3] += 1
                try counts.write(values)
            }),
            ("an input index repeated", "input_index", { root in
                let index = try root.dataset("examples/input_index")
                var values = try index.read(as: Int64.self)
                values[1] = values[0]
                try index.write(values)
            }),
            ("an input index past the end", "input_index", { try poke($0, "examples/input_index", at: 0, Int64(1 << 40)) }),
            ("a sequence starting inside a chain", "extends a chain", { root in
                let second = try root.dataset("sequences/example_offsets").readRows(1..<2, as: Int64.self)[0]
                try poke(root, "examples/extends_chain", at: Int(second), UInt8(1))
            }),
            ("an EOS label at a chain's end", "is the last of its chain", { root in
                let n = try root.dataset("examples/eos_label").count
                try poke(root, "examples/eos_label", at: n - 1, UInt8(1))
            }),
            ("max_token_id lying", "outside the vocabulary", { root in
                try poke(root, "tokens", at: 3, Int32(5000))
                try root.setAttribute("max_token_id", 10)
            }),
        ]
        return edits.map { label, message, edit in
            HostileCase(family: "damaged-dataset", name: label, make: { folder in
                let job = try SmallRun.copy(to: folder)
                let file = try HDF5File(folder.appendingPathComponent("run/data/train.h5").path, mode: .readWrite)
                try edit(try file.root)
                try file.close()
                return ["train", job]
            }, mentions: ["run/data/train.h5", message])
        }
    }

    static func poke<T: HDF5Scalar>(_ root: HDF5Group, _ name: String, at index: Int, _ value: T) throws {
        try root.dataset(name).writeRows(index..<(index + 1), [value])
    }
}

/// A checkpoint whose run state (the /trainer cursor, the optimizer's step, the metrics table) cannot be
/// where the job's plan is: step_in_epoch -7 or 10^12 once indexed past the plan, epoch -3 trapped, a
/// global_step of 2^62 declared the run complete. Each is refused before the first step, naming the
/// checkpoint and the attribute.
enum CorruptResume {
    static func cases() -> [HostileCase] {
        let edits: [(String, String, @Sendable (HDF5Group) throws -> Void)] = [
            ("step_in_epoch -7", "step_in_epoch", { try $0.group("trainer").setAttribute("step_in_epoch", -7) }),
            ("step_in_epoch 10^12", "step_in_epoch", { try $0.group("trainer").setAttribute("step_in_epoch", 1_000_000_000_000) }),
            ("step_in_epoch one ahead", "global_step", { root in
                let trainer = try root.group("trainer")
                try trainer.setAttribute("step_in_epoch", try trainer.intAttribute("step_in_epoch") + 1)
            }),
            ("epoch -3", "epoch", { try $0.group("trainer").setAttribute("epoch", -3) }),
            ("epoch 7 of 2", "epoch", { try $0.group("trainer").setAttribute("epoch", 7) }),
            ("epoch 2 of 2 mid-epoch", "epoch", { root in
                try root.group("trainer").setAttribute("epoch", 2)
                try root.group("trainer").setAttribute("step_in_epoch", 1)
            }),
            ("global_step 2^62", "global_step", { try $0.group("trainer").setAttribute("global_step", 1 << 62) }),
            ("global_step -1", "global_step", { try $0.group("trainer").setAttribute("global_step", -1) }),
            ("global_step one behind", "global_step", { root in
                let trainer = try root.group("trainer")
                try trainer.setAttribute("global_step", try trainer.intAttribute("global_step") - 1)
            }),
            ("tokens_seen -1", "tokens_seen", { try $0.group("trainer").setAttribute("tokens_seen", -1) }),
            ("tokens_seen off the metrics", "tokens_seen", { try $0.group("trainer").setAttribute("tokens_seen", 12) }),
            ("skipped_steps above global_step", "skipped_steps", { try $0.group("trainer").setAttribute("skipped_steps", 5) }),
            ("optimizer step 99", "/optimizer step", { try $0.group("optimizer").setAttribute("step", 99) }),
            ("metrics steps out of order", "/trainer/metrics", { root in
                let steps = try root.dataset("trainer/metrics/step")
                try steps.write(try steps.read(as: Int64.self).reversed())
            }),
            ("global_step a string", "global_step", { try $0.group("trainer").setAttribute("global_step", "two") }),
            ("format_version 7", "format_version", { try $0.setAttribute("format_version", 7) }),
        ]
        return edits.map { label, field, edit in
            HostileCase(family: "resume", name: label, make: { folder in
                let job = try SmallRun.copy(to: folder, trained: true)
                let file = try HDF5File(folder.appendingPathComponent("run/checkpoints/step-000002.h5").path, mode: .readWrite)
                try edit(try file.root)
                try file.close()
                return ["train", job]
            }, mentions: ["step-000002.h5", field], watched: ["run/checkpoints"])
        }
    }
}

/// Files `inspect` is pointed at that are not whole HDF5 files: refused naming the file.
enum DamagedFiles {
    static func cases() -> [HostileCase] {
        let files: [(String, @Sendable (URL) throws -> Void)] = [
            ("empty", { try Data().write(to: $0) }),
            ("text", { try Data("hello\n".utf8).write(to: $0) }),
            ("a checkpoint cut in half", { target in
                let whole = try Data(contentsOf: URL(fileURLWithPath: try SmallRun.checkpoint()))
                try whole.prefix(whole.count / 2).write(to: target)
            }),
            ("a checkpoint's first 4 KB", { target in
                try Data(contentsOf: URL(fileURLWithPath: try SmallRun.checkpoint())).prefix(4096).write(to: target)
            }),
            ("a checkpoint with its superblock zeroed", { target in
                var whole = try Data(contentsOf: URL(fileURLWithPath: try SmallRun.checkpoint()))
                whole.replaceSubrange(0..<512, with: Data(count: 512))
                try whole.write(to: target)
            }),
            ("a folder", { try FileManager.default.createDirectory(at: $0, withIntermediateDirectories: true) }),
        ]
        return files.map { label, make in
            HostileCase(family: "damaged-file", name: "inspect \(label)", make: { folder in
                let file = folder.appendingPathComponent("x.h5")
                try make(file)
                return ["inspect", file.path]
            }, mentions: ["x.h5"])
        }
    }
}
