import Foundation

/// Memory figures of this process, for the reports of benchmarks and long commands.
public enum ProcessMemory {
    /// The peak resident set so far, in MiB: Linux's VmHWM (/proc/self/status), which belongs to this
    /// program alone. getrusage's ru_maxrss is kept across exec, so a process started by a large parent
    /// (a Python benchmark driver) would report the parent's peak. 0 where /proc is not available.
    public static func peakResidentMiB() -> Double {
        guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
              let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") }),
              let kib = line.split(separator: " ").dropFirst().first.flatMap({ Double($0) })
        else { return 0 }
        return kib / 1024
    }
}
