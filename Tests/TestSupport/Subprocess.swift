import Foundation

/// Runs the built `tooltune` binary (or mpirun over it) the way a user would, for tests.
public enum ToolTuneBinary {
    /// The `tooltune` executable beside the test bundle (SwiftPM puts both in the build folder), or
    /// TOOLTUNE_BIN when set.
    public static var path: String {
        if let explicit = ProcessInfo.processInfo.environment["TOOLTUNE_BIN"] { return explicit }
        var folder = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        for _ in 0..<4 {
            let candidate = folder.appendingPathComponent("tooltune").path
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
            folder.deleteLastPathComponent()
        }
        return URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent(".build/debug/tooltune").path
    }

    /// The project's root folder (where jobs/ and Tests/ live).
    public static var projectRoot: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    }
}

public struct ProcessResult: Sendable {
    /// The exit status, or the signal's number when `signaled`.
    public let status: Int32
    public let stdout: String
    public let stderr: String
    public let timedOut: Bool
    /// Ended by a signal it did not handle (a crash, or the kill after a timeout).
    public var signaled = false
}

/// Runs a program to completion with a time limit. The environment drops OMPI_* and PMIX_*
/// variables, so a test started under mpirun still launches a fresh mpirun job. `signals` are sent to it
/// at their times (seconds after the start) while it runs.
public func runProcess(_ executable: String, _ arguments: [String], cwd: URL? = nil,
                       environment extra: [String: String] = [:], timeout: TimeInterval = 120,
                       signals: [(seconds: Double, signal: Int32)] = []) throws -> ProcessResult {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    if let cwd { process.currentDirectoryURL = cwd }
    var env = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("OMPI_") && !$0.key.hasPrefix("PMIX_") }
    env.merge(extra) { $1 }
    process.environment = env
    let out = Pipe(), err = Pipe()
    process.standardOutput = out
    process.standardError = err
    // Read both pipes while the process runs so a chatty child cannot block on a full pipe.
    final class Box: @unchecked Sendable { var data = Data() }
    let outBox = Box(), errBox = Box()
    let group = DispatchGroup()
    for (pipe, box) in [(out, outBox), (err, errBox)] {
        group.enter()
        DispatchQueue.global().async {
            box.data = pipe.fileHandleForReading.readDataToEndOfFile()
            group.leave()
        }
    }
    try process.run()
    let start = Date()
    let deadline = start.addingTimeInterval(timeout)
    var timedOut = false
    var pending = signals.sorted { $0.seconds < $1.seconds }[...]
    while process.isRunning {
        while let next = pending.first, Date().timeIntervalSince(start) >= next.seconds {
            kill(process.processIdentifier, next.signal)
            pending.removeFirst()
        }
        if Date() > deadline {
            timedOut = true
            process.terminate()
            usleep(500_000)
            if process.isRunning { kill(process.processIdentifier, SIGKILL) }
            break
        }
        usleep(pending.isEmpty ? 20_000 : 2_000)
    }
    process.waitUntilExit()
    group.wait()
    return ProcessResult(status: process.terminationStatus, stdout: String(decoding: outBox.data, as: UTF8.self),
                         stderr: String(decoding: errBox.data, as: UTF8.self), timedOut: timedOut,
                         signaled: process.terminationReason == .uncaughtSignal)
}

/// `mpirun -n ranks` with the flags every test machine needs: running as root is allowed, ranks may
/// outnumber cores, and ranks are not pinned to one core each.
public func runMPI(ranks: Int, _ arguments: [String], cwd: URL? = nil, environment: [String: String] = [:],
                   timeout: TimeInterval = 180) throws -> ProcessResult {
    let command = MPICommand(ranks: ranks, arguments)
    return try runProcess(command.executable, command.arguments, cwd: cwd, environment: command.environment.merging(environment) { $1 },
                          timeout: timeout)
}

/// The `mpirun` command line of `runMPI`, for tests that start and signal the launcher themselves.
public struct MPICommand {
    public let executable = mpirunPath
    public let arguments: [String]
    /// Added to the test's environment (which must lose its OMPI_* and PMIX_* variables).
    public let environment = ["OMPI_ALLOW_RUN_AS_ROOT": "1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1"]

    public init(ranks: Int, _ arguments: [String]) {
        self.arguments = ["-n", "\(ranks)", "--oversubscribe", "--bind-to", "none", ToolTuneBinary.path] + arguments
    }
}

public var mpirunPath: String { executablePath("mpirun") ?? "/usr/bin/mpirun" }

/// Where `tool` is on PATH (or in the sbin folders, where Debian puts ip and the daemons), or nil.
public func executablePath(_ tool: String) -> String? {
    for folder in ((ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin") + ":/usr/sbin:/sbin").split(separator: ":") {
        let candidate = "\(folder)/\(tool)"
        if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
    }
    return nil
}

/// A fresh temporary folder (in `parent`, by default the system's), removed by the caller with
/// `try? FileManager.default.removeItem(at:)`.
public func makeTemporaryFolder(_ label: String = "tooltune-test", in parent: URL? = nil) throws -> URL {
    let url = (parent ?? FileManager.default.temporaryDirectory).appendingPathComponent("\(label)-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
}
