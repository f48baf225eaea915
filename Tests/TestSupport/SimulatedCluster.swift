import Foundation

/// Simulated hosts of `scripts/simcluster.sh` (network namespaces joined by shaped links, optionally a
/// Slurm cluster) for one test. Each cluster gets a name of its own, so nothing a crashed earlier run
/// left behind can be in the way. Call `down()` in a `defer`: it removes the namespaces, links,
/// processes and files, the test's `scratch` folder included. What test processes that were killed left
/// (clusters, scratch folders, probe namespaces) is removed before a new cluster comes up.
public final class SimulatedCluster: @unchecked Sendable {
    public let name: String
    public let hosts: Int
    /// The test's files (jobs, runs, logs) on the file system the hosts share, removed by `down()`.
    public let scratch: URL

    /// Scratch folders are "tooltune-cluster-PID-NAME" in the temporary folder, PID the test process's.
    private static let scratchPrefix = "tooltune-cluster-"
    /// The namespace `unavailable` probes with is "ttprobe-PID".
    private static let probePrefix = "ttprobe-"

    public static var script: String { ToolTuneBinary.projectRoot.appendingPathComponent("scripts/simcluster.sh").path }

    /// Why simulated hosts cannot be made here, or nil when they can (probed once: root, iproute2, a
    /// network namespace actually created and removed).
    public static let unavailable: String? = {
        guard getuid() == 0 else { return "simulated hosts need root (network namespaces)" }
        for tool in ["ip", "tc", "nsenter", "unshare"] where executablePath(tool) == nil {
            return "simulated hosts need \(tool) (Debian: iproute2, util-linux)"
        }
        let probe = "\(SimulatedCluster.probePrefix)\(getpid())"
        guard let made = try? runProcess(executablePath("ip")!, ["netns", "add", probe], timeout: 20) else {
            return "cannot run ip netns add"
        }
        _ = try? runProcess(executablePath("ip")!, ["netns", "del", probe], timeout: 20)
        if made.status != 0 { return "cannot create a network namespace: \(made.stderr.trimmingCharacters(in: .whitespacesAndNewlines))" }
        return nil
    }()

    /// Why a Slurm cluster cannot be made here, or nil.
    public static let slurmUnavailable: String? = {
        if let unavailable { return unavailable }
        for tool in ["slurmctld", "slurmd", "sbatch", "scancel", "squeue", "munged"] where executablePath(tool) == nil {
            return "a Slurm test cluster needs \(tool) (Debian: slurm-wlm munge)"
        }
        return nil
    }()

    /// `hosts` simulated hosts; `link` is a tc rate ("1gbit"), nil for unshaped links.
    public init(hosts: Int, link: String? = nil, slots: Int = 1, slurm: Bool = false) throws {
        name = "tt\(String(UInt32.random(in: 0...UInt32.max), radix: 36))"
        self.hosts = hosts
        SimulatedCluster.removeLeftovers()
        scratch = FileManager.default.temporaryDirectory.appendingPathComponent("\(SimulatedCluster.scratchPrefix)\(getpid())-\(name)")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
        var arguments = ["up", "\(hosts)", "--name", name, "--slots", "\(slots)", "--owner", "\(getpid())"]
        if let link { arguments += ["--link", link] }
        if slurm { arguments.append("--slurm") }
        let result = try runProcess(SimulatedCluster.script, arguments, timeout: 120)
        guard result.status == 0, !result.timedOut else {
            down()
            throw ClusterError(message: "simcluster.sh \(arguments.joined(separator: " ")) failed (\(result.status)):\n"
                               + result.stdout + result.stderr)
        }
    }

    /// Host k's name (1-based), as MPI_Get_processor_name and Slurm see it.
    public func hostName(_ k: Int) -> String { "\(name)-\(k)" }

    /// CMD on host `host` with the cluster's environment (Open MPI's agent, hostfile, TCP on the cluster's
    /// subnet; SLURM_CONF for a Slurm cluster), from `cwd`.
    public func run(_ command: [String], host: Int = 1, cwd: URL? = nil, timeout: TimeInterval = 180) throws -> ProcessResult {
        try runProcess(SimulatedCluster.script, ["run", "--name", name, "--host", "\(host)"] + command, cwd: cwd, timeout: timeout)
    }

    /// `run` in the background, its stdout and stderr going to `log`; the caller waits for the process.
    public func start(_ command: [String], host: Int = 1, log: URL) throws -> Process {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: SimulatedCluster.script)
        process.arguments = ["run", "--name", name, "--host", "\(host)"] + command
        process.environment = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("OMPI_") && !$0.key.hasPrefix("PMIX_") }
        _ = FileManager.default.createFile(atPath: log.path, contents: nil)
        let handle = try FileHandle(forWritingTo: log)
        process.standardOutput = handle
        process.standardError = handle
        try process.run()
        try handle.close()
        return process
    }

    /// SIGKILL to every process of host k: the host is lost.
    public func kill(host k: Int) throws {
        let result = try runProcess(SimulatedCluster.script, ["kill", "\(k)", "--name", name], timeout: 30)
        guard result.status == 0 else { throw ClusterError(message: "simcluster.sh kill \(k) failed: \(result.stderr)") }
    }

    /// Bytes that went through host k's switch port so far, both ways.
    public func linkBytes(host k: Int) throws -> Int {
        let result = try runProcess(executablePath("ip")!, ["-n", "\(name)-sw", "-s", "-j", "link", "show", "h\(k)"], timeout: 20)
        guard let data = result.stdout.data(using: .utf8),
              let links = try JSONSerialization.jsonObject(with: data) as? [[String: Any]],
              let stats = links.first?["stats64"] as? [String: Any],
              let rx = (stats["rx"] as? [String: Any])?["bytes"] as? Int, let tx = (stats["tx"] as? [String: Any])?["bytes"] as? Int
        else { throw ClusterError(message: "cannot read the link counters of h\(k): \(result.stdout) \(result.stderr)") }
        return rx + tx
    }

    /// Takes the cluster down and removes `scratch`; safe to call more than once.
    public func down() {
        _ = try? runProcess(SimulatedCluster.script, ["down", "--name", name], timeout: 60)
        try? FileManager.default.removeItem(at: scratch)
    }

    /// What test processes that have ended left: their clusters (simcluster.sh prune: processes,
    /// namespaces, links, daemons, files), scratch folders and probe namespaces.
    private static func removeLeftovers() {
        func ended(_ pid: Substring) -> Bool { Int32(pid).map { Foundation.kill($0, 0) != 0 && errno == ESRCH } ?? false }
        _ = try? runProcess(script, ["prune"], timeout: 60)
        let temporary = FileManager.default.temporaryDirectory
        for entry in (try? FileManager.default.contentsOfDirectory(atPath: temporary.path)) ?? [] where entry.hasPrefix(scratchPrefix) {
            if let pid = entry.dropFirst(scratchPrefix.count).split(separator: "-").first, ended(pid) {
                try? FileManager.default.removeItem(at: temporary.appendingPathComponent(entry))
            }
        }
        guard let ip = executablePath("ip"), let list = try? runProcess(ip, ["netns", "list"], timeout: 20) else { return }
        for line in list.stdout.split(separator: "\n") {
            guard let namespace = line.split(separator: " ").first, namespace.hasPrefix(probePrefix),
                  ended(namespace.dropFirst(probePrefix.count)) else { continue }
            _ = try? runProcess(ip, ["netns", "del", String(namespace)], timeout: 20)
        }
    }

    public struct ClusterError: Error, CustomStringConvertible {
        public let message: String
        public var description: String { message }
    }
}
