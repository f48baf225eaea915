import Diagnostics
import Foundation
import Storage
import TestSupport
import Testing
@testable import Training

/// Training across simulated hosts (scripts/simcluster.sh: a network namespace per host, Open MPI over
/// TCP between them, shaped links, a Slurm cluster): what a multi-node job meets, on one machine. Needs
/// root; skipped, saying why, where network namespaces cannot be made.
@Suite(.serialized, .enabled(if: SimulatedCluster.unavailable == nil, Comment(rawValue: SimulatedCluster.unavailable ?? "")))
struct ClusterTests {
    /// mpirun on host 1 of `cluster`, ranks spread over the hosts by the cluster's hostfile, or all on
    /// host 1. Every process a test starts runs on the cluster's hosts, so taking the cluster down (or
    /// pruning the cluster of a killed test process) ends them all.
    func mpirun(_ cluster: SimulatedCluster, ranks: Int, onHost1: Bool = false, _ arguments: [String]) -> [String] {
        let placement = onHost1 ? ["--host", "\(cluster.hostName(1)):\(ranks)", "--oversubscribe"] : []
        return ["mpirun", "-n", "\(ranks)", "--bind-to", "none"] + placement + [ToolTuneBinary.path] + arguments
    }

    /// 2 hosts x 1 rank, gradients over TCP, compute the same steps bit for bit as 1 host x 2 ranks over
    /// shared memory (two addends: the sum has one rounding whatever the transport), and doctor sees two hosts.
    @Test func twoHostsOverTCPTrainLikeOneHost() throws {
        let cluster = try SimulatedCluster(hosts: 2)
        defer { cluster.down() }
        let doctor = try cluster.run(mpirun(cluster, ranks: 2, ["doctor", "--threads", "1", "--json"]))
        expectSuccess(doctor, "doctor on 2 hosts")
        let reports = try JSONSerialization.jsonObject(with: Data(doctor.stdout.utf8)) as? [[String: Any]] ?? []
        #expect(reports.map { $0["host"] as? String } == [cluster.hostName(1), cluster.hostName(2)], "\(doctor.stdout)")
        #expect(reports.allSatisfy { ($0["problems"] as? [Any])?.isEmpty == true })

        let local = try TrainingJob("one-host", in: cluster.scratch)
        let remote = try TrainingJob("two-hosts", in: cluster.scratch)
        expectSuccess(try cluster.run(mpirun(cluster, ranks: 2, onHost1: true, ["train", local.file.path])), "1 host x 2 ranks")
        let before = try cluster.linkBytes(host: 2)
        expectSuccess(try cluster.run(mpirun(cluster, ranks: 2, ["train", remote.file.path])), "2 hosts x 1 rank")
        let a = try local.metrics(), b = try remote.metrics()
        #expect(a.count == 6 && b.count == 6)
        #expect(a.map(\.loss.bitPattern) == b.map(\.loss.bitPattern), "\(a.map(\.loss)) vs \(b.map(\.loss))")
        #expect(a.map(\.gradNorm.bitPattern) == b.map(\.gradNorm.bitPattern))
        let x = try local.tensors(step: 6, group: "model"), y = try remote.tensors(step: 6, group: "model")
        #expect(!x.isEmpty && x.allSatisfy { $0.value.map(\.bitPattern) == y[$0.key]?.map(\.bitPattern) })
        // The gradients went over host 2's link: each step's allreduce sends and receives them whole.
        let gradientBytes = try TrainingCheckpoint.describe(remote.run.checkpointPath(step: 6).path).config.parameterCount * 4
        let moved = try cluster.linkBytes(host: 2) - before
        #expect(moved >= 6 * 2 * gradientBytes, "\(moved) bytes through host 2's link for 6 steps of \(gradientBytes)-byte gradients")
    }

    /// Every process of host 2 killed mid-run: the job ends within 60 s, non-zero, naming the lost rank
    /// and host; every checkpoint left is whole; the same command again resumes from the last one and
    /// ends with the losses of a run that was never broken.
    @Test func aLostHostEndsTheJobAndTheRunResumes() throws {
        let cluster = try SimulatedCluster(hosts: 2)
        defer { cluster.down() }
        let job = try TrainingJob("lost-host", hidden: 128, steps: 30, everySteps: 5, in: cluster.scratch)
        let unbroken = try TrainingJob("unbroken", hidden: 128, steps: 30, everySteps: 5, in: cluster.scratch)
        let command = mpirun(cluster, ranks: 2, ["train", job.file.path])

        let log = job.root.appendingPathComponent("train.log")
        let process = try cluster.start(command, log: log)
        defer { if process.isRunning { process.terminate() } }
        let deadline = Date().addingTimeInterval(120)
        // Mid-run: a checkpoint at step 5 and a few steps after it.
        while process.isRunning, (try? job.metrics().count) ?? 0 < 8, Date() < deadline { usleep(20_000) }
        let early = (try? String(contentsOf: log, encoding: .utf8)) ?? ""
        try #require(process.isRunning, "the job ended before host 2 was lost: \(early)")
        try cluster.kill(host: 2)
        let killed = Date()
        while process.isRunning, Date().timeIntervalSince(killed) < 90 { usleep(20_000) }
        let ended = Date().timeIntervalSince(killed)
        let output = try String(contentsOf: log, encoding: .utf8)
        #expect(!process.isRunning && ended <= 60, "the job was still running \(ended) s after host 2 was lost")
        process.waitUntilExit()
        #expect(process.terminationStatus != 0)
        #expect(output.contains("lost rank 1 on host \(cluster.hostName(2))"), "\(output.suffix(3000))")
        let stoppedAt = try job.metrics().count
        #expect(stoppedAt < 30, "the run finished before the kill")

        // Only whole checkpoints, LATEST naming the newest; nothing half-written beside them.
        let latest = try #require(try job.run.latestCheckpoint())
        let saved = try job.run.checkpoints()
        #expect(latest.lastPathComponent == String(format: "step-%06d.h5", saved.map(\.0).max() ?? -1))
        for (step, _) in saved { #expect(try TrainingCheckpoint.describe(job.run.checkpointPath(step: step).path).state.globalStep == step) }
        let stray = try FileManager.default.contentsOfDirectory(atPath: job.run.checkpointsFolder.path)
            .filter { !$0.hasPrefix("step-") || !$0.hasSuffix(".h5") }
        #expect(stray.isEmpty, "left in checkpoints/: \(stray)")

        let resumed = try cluster.run(command)
        expectSuccess(resumed, "resume on the same hosts")
        #expect(resumed.stdout.contains("resuming after step \(saved.map(\.0).max() ?? 0)"), "\(resumed.stdout.prefix(3000))")
        expectSuccess(try cluster.run(mpirun(cluster, ranks: 2, ["train", unbroken.file.path])), "unbroken run")
        let a = try job.metrics(), b = try unbroken.metrics()
        #expect(a.map(\.step) == Array(1...30))
        #expect(a.map(\.loss.bitPattern) == b.map(\.loss.bitPattern))
    }

    /// A 1 Gbit/s link: training works, and metrics.jsonl's comm_s holds the allreduce time, which the
    /// link bounds from below: each rank must receive the other's whole gradient every step.
    @Test func aSlowLinkShowsInTheAllreduceTime() throws {
        let cluster = try SimulatedCluster(hosts: 2, link: "1gbit")
        defer { cluster.down() }
        let job = try TrainingJob("slow-link", hidden: 128, steps: 4, in: cluster.scratch)
        expectSuccess(try cluster.run(mpirun(cluster, ranks: 2, ["train", job.file.path])), "training over 1 Gbit/s")
        let records = try job.metrics()
        #expect(records.count == 4 && records.allSatisfy { $0.loss.isFinite })
        let gradientBytes = try TrainingCheckpoint.describe(job.run.checkpointPath(step: 4).path).config.parameterCount * 4
        // Less tbf's burst, which leaves at once (scripts/simcluster.sh: 1 ms of traffic, 125 kB at 1 Gbit/s).
        let floor = Double(gradientBytes - 125_000) * 8 / 1e9
        for record in records {
            #expect(record.communicationSeconds >= 0.9 * floor,
                    "step \(record.step): comm_s \(record.communicationSeconds) s, but \(gradientBytes) bytes at 1 Gbit/s take \(floor) s")
            #expect(record.communicationSeconds <= record.seconds)
        }
    }

    /// 2 hosts x 2 ranks: every reduction sums exactly, and host 2's link carries what each one's algorithm
    /// says (S = the Float32 bytes summed, both directions counted, plus ~4% of TCP/IP headers):
    /// hierarchical fp32, the two node leaders exchange S each way (any 2-rank allreduce must): 2 S;
    /// hierarchical bf16, half of that: 1 S; flat bf16, each rank sends a quarter of its bf16 values to
    /// each other rank and gathers the other quarters back: 2 S, no better than Float32 between nodes.
    @Test func bfloat16OverNodeLeadersHalvesTheBytesOnTheLink() throws {
        let cluster = try SimulatedCluster(hosts: 2, slots: 2)
        defer { cluster.down() }
        var ratios: [String: Double] = [:]
        for (topology, wire) in [("hierarchical", "fp32"), ("hierarchical", "bf16"), ("flat", "bf16")] {
            let before = try cluster.linkBytes(host: 2)
            let run = try cluster.run(mpirun(cluster, ranks: 4, ["bench", "allreduce", "--sizes", "2,6", "--preset", "tiny",
                                                                  "--bucket-mb", "1", "--iterations", "2", "--warmup", "0",
                                                                  "--allreduce", topology, "--allreduce-dtype", wire, "--json"]))
            expectSuccess(run, "bench allreduce \(topology) \(wire)")
            let line = try #require(run.stdout.split(separator: "\n").last)
            let result = try JSONDecoder().decode(AllreduceBenchmark.Result.self, from: Data(line.utf8))
            #expect(result.verified && result.nodes == (topology == "flat" ? nil : 2))
            // Float32 bytes summed: two iterations of each message and of the gradient, bucketed and whole.
            let summed = 2 * (result.messages.reduce(0) { $0 + $1.bytes } + 2 * 4 * result.gradientElements)
            ratios["\(topology) \(wire)"] = Double(try cluster.linkBytes(host: 2) - before) / Double(summed)
        }
        #expect((2.0...2.25).contains(ratios["hierarchical fp32"]!), "\(ratios)")
        #expect((1.0...1.15).contains(ratios["hierarchical bf16"]!), "\(ratios)")
        #expect((2.0...2.25).contains(ratios["flat bf16"]!), "\(ratios)")
    }

    /// 2 hosts x 2 ranks train with distributed.allreduce: hierarchical and allreduce_dtype: bf16 (the
    /// checkpoints' weight check proves every rank took the same steps) close to flat fp32.
    @Test func hierarchicalBFloat16TrainingStaysCloseToFlatFloat32() throws {
        let cluster = try SimulatedCluster(hosts: 2, slots: 2)
        defer { cluster.down() }
        let flat = try TrainingJob("flat-fp32", global: 4096, in: cluster.scratch)
        let tuned = try TrainingJob("hierarchical-bf16", global: 4096,
                                    extra: "distributed: {allreduce: hierarchical, allreduce_dtype: bf16}", in: cluster.scratch)
        expectSuccess(try cluster.run(mpirun(cluster, ranks: 4, ["train", flat.file.path])), "flat fp32")
        let run = try cluster.run(mpirun(cluster, ranks: 4, ["train", tuned.file.path]))
        expectSuccess(run, "hierarchical bf16")
        #expect(run.stdout.contains("hierarchical over 2 nodes (2 ranks on this node), bf16 on the wire"), "\(run.stdout.prefix(2000))")
        let a = try flat.metrics(), b = try tuned.metrics()
        #expect(a.count == 6 && b.count == 6 && a[0].loss == b[0].loss)
        for (x, y) in zip(a, b) { #expect(abs(x.loss - y.loss) <= 1e-3 * x.loss, "step \(x.step): \(x.loss) vs \(y.loss)") }
    }

    /// Slurm (Debian's slurm-wlm: slurmctld and a slurmd per simulated host) runs cluster/train.sbatch as
    /// a user submits it, on the demo job with a step limit: `scancel --batch --signal=TERM` makes it
    /// checkpoint and stop, and submitting it again resumes and runs to the end with the losses of an
    /// unbroken run. Only the allocation's size is given on the command line (the script asks for 2 nodes
    /// x 4 tasks x 8 CPUs; these hosts have 1 slot each).
    @Test(.enabled(if: SimulatedCluster.slurmUnavailable == nil, Comment(rawValue: SimulatedCluster.slurmUnavailable ?? "")))
    func slurmRunsTheBatchScriptStopsOnTermAndResumes() throws {
        let project = ToolTuneBinary.projectRoot
        try #require(FileManager.default.isExecutableFile(atPath: project.appendingPathComponent(".build/release/tooltune").path),
                     "cluster/train.sbatch runs .build/release/tooltune: swift build -c release --product tooltune")
        let cluster = try SimulatedCluster(hosts: 2, slurm: true)
        defer { cluster.down() }
        let folder = cluster.scratch
        /// jobs/demo.yaml, 40 steps, its checkpoints in `run`.
        func demo(_ run: String) throws -> URL {
            let text = try String(contentsOf: project.appendingPathComponent("jobs/demo.yaml"), encoding: .utf8)
            let edited = text.replacingOccurrences(of: "  dir: runs/demo\n", with: "  dir: \(folder.path)/\(run)\n")
                .replacingOccurrences(of: "\ntrain:\n", with: "\ntrain:\n  max_steps: 40\n")
            try #require(edited.contains("\(folder.path)/\(run)") && edited.contains("max_steps: 40"), "jobs/demo.yaml changed shape")
            let file = folder.appendingPathComponent("\(run).yaml")
            try Data(edited.utf8).write(to: file)
            return file
        }
        let job = try demo("run"), unbroken = try demo("unbroken")
        let run = RunDirectory(folder.appendingPathComponent("run").path)
        let submit = ["sbatch", "--parsable", "--ntasks-per-node=1", "--cpus-per-task=1",
                      "--output=\(folder.path)/slurm-%j.out", "cluster/train.sbatch", job.path]
        /// The job's output, and the nodes Slurm gave it.
        func submitAndWait(stopAfter steps: Int? = nil) throws -> (output: String, nodes: Set<String>) {
            let submitted = try cluster.run(submit, cwd: project, timeout: 60)
            expectSuccess(submitted, "sbatch")
            let id = submitted.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
            let deadline = Date().addingTimeInterval(180)
            var nodes = Set<String>()
            func queued() throws -> Bool {
                let state = try cluster.run(["squeue", "-h", "-j", id, "-o", "%t %N"], timeout: 30).stdout
                    .trimmingCharacters(in: .whitespacesAndNewlines)
                if state.hasPrefix("R "), nodes.isEmpty {
                    let list = try cluster.run(["scontrol", "show", "hostnames", String(state.dropFirst(2))], timeout: 30).stdout
                    nodes = Set(list.split(separator: "\n").map(String.init))
                }
                return !state.isEmpty
            }
            if let steps {
                while try queued(), (try? MetricsLog(url: run.metricsFile).read().count) ?? 0 < steps, Date() < deadline { usleep(50_000) }
                expectSuccess(try cluster.run(["scancel", "--batch", "--signal=TERM", id], timeout: 30), "scancel")
            }
            while try queued(), Date() < deadline { usleep(100_000) }
            #expect(Date() < deadline, "Slurm job \(id) did not end")
            return ((try? String(contentsOf: folder.appendingPathComponent("slurm-\(id).out"), encoding: .utf8)) ?? "", nodes)
        }

        let (first, nodes) = try submitAndWait(stopAfter: 5)
        #expect(nodes == [cluster.hostName(1), cluster.hostName(2)])
        let stopped = try MetricsLog(url: run.metricsFile).read().count
        #expect(first.contains("stopped by signal \(SIGUSR1) after step \(stopped)/40"), "\(first.suffix(3000))")
        #expect(stopped >= 5 && stopped < 40)
        #expect(try run.latestCheckpoint()?.lastPathComponent == String(format: "step-%06d.h5", stopped))

        let second = try submitAndWait().output
        #expect(second.contains("resuming after step \(stopped)"), "\(second.prefix(3000))")
        #expect(second.contains("done: 40/40 steps"), "\(second.suffix(2000))")
        expectSuccess(try cluster.run(mpirun(cluster, ranks: 2, onHost1: true, ["train", unbroken.path]), cwd: project), "unbroken run")
        let a = try MetricsLog(url: run.metricsFile).read()
        let b = try MetricsLog(url: folder.appendingPathComponent("unbroken/metrics.jsonl")).read()
        #expect(a.map(\.step) == Array(1...40))
        #expect(a.map(\.loss.bitPattern) == b.map(\.loss.bitPattern))
    }
}
