import Foundation

/// A progress line with an ETA on standard error, for work counted in items (eval cases, prepare's
/// files). On a terminal it is redrawn in place, at most 5 times a second. In a log it is printed only
/// for work that has run 10 s (quick work needs no progress), then at every tenth and at least every 30 s.
public final class ProgressBar {
    let label: String
    let terminal: Bool
    let clock: () -> Date
    let write: (String) -> Void
    let started: Date
    var lastLine = Date.distantPast
    var lastTenth = -1

    public init(label: String, terminal: Bool = isatty(STDERR_FILENO) == 1, clock: @escaping () -> Date = Date.init,
                write: @escaping (String) -> Void = { FileHandle.standardError.write(Data($0.utf8)) }) {
        self.label = label
        self.terminal = terminal
        self.clock = clock
        self.write = write
        started = clock()
    }

    /// `done` of `total` items; `detail` says what they are.
    public func update(done: Int, total: Int, detail: String) {
        let now = clock(), elapsed = now.timeIntervalSince(started)
        let fraction = total > 0 ? Double(done) / Double(total) : 1
        let eta = done > 0 ? elapsed / Double(done) * Double(total - done) : nil
        let width = 24, filled = Int(fraction * Double(width))
        let bar = String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled)
        let line = "\(label) [\(bar)] \(done)/\(total) (\(detail)) \(ProgressBar.duration(elapsed))"
            + (eta.map { ", ETA \(ProgressBar.duration($0))" } ?? "")
        if terminal {
            guard done == total || now.timeIntervalSince(lastLine) >= 0.2 else { return }
            lastLine = now
            write("\r\u{1B}[K" + line)
        } else {
            let tenth = Int(fraction * 10)
            guard elapsed >= 10, tenth > lastTenth || now.timeIntervalSince(lastLine) >= 30 else { return }
            lastTenth = tenth
            lastLine = now
            write(line + "\n")
        }
    }

    /// "42s", "3m05s", "1h02m": elapsed times and ETAs, here and in the trainer's progress lines.
    public static func duration(_ seconds: Double) -> String {
        let s = Int(seconds.rounded())
        if s >= 3600 { return "\(s / 3600)h\(String(format: "%02d", s / 60 % 60))m" }
        if s >= 60 { return "\(s / 60)m\(String(format: "%02d", s % 60))s" }
        return "\(s)s"
    }

    /// Ends the line on a terminal.
    public func finish() {
        if terminal && lastLine != .distantPast { write("\n") }
    }
}
