import Foundation

/// A progress line with an ETA on standard error: redrawn in place on a terminal, else printed at every
/// tenth of the work (and at least every 30 s) so logs stay short.
public final class ProgressBar {
    let label: String
    let started = Date()
    let terminal = isatty(STDERR_FILENO) == 1
    var lastLine = Date.distantPast
    var lastTenth = -1

    public init(label: String) { self.label = label }

    public func update(_ progress: EvalProgress) {
        let elapsed = Date().timeIntervalSince(started)
        let fraction = progress.total > 0 ? Double(progress.done) / Double(progress.total) : 1
        let eta = progress.done > 0 ? elapsed / Double(progress.done) * Double(progress.total - progress.done) : nil
        let width = 24, filled = Int(fraction * Double(width))
        let bar = String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled)
        let line = "\(label) [\(bar)] \(progress.done)/\(progress.total) (\(progress.detail)) \(Self.duration(elapsed))"
            + (eta.map { ", ETA \(Self.duration($0))" } ?? "")
        if terminal {
            FileHandle.standardError.write(Data(("\r\u{1B}[K" + line).utf8))
        } else {
            let tenth = Int(fraction * 10)
            guard tenth > lastTenth || Date().timeIntervalSince(lastLine) >= 30 else { return }
            lastTenth = tenth
            lastLine = Date()
            FileHandle.standardError.write(Data((line + "\n").utf8))
        }
    }

    /// Ends the line on a terminal.
    public func finish() {
        if terminal { FileHandle.standardError.write(Data("\n".utf8)) }
    }

    static func duration(_ seconds: Double) -> String {
        let s = Int(seconds.rounded())
        return s >= 3600 ? String(format: "%dh%02dm", s / 3600, s / 60 % 60) : s >= 60 ? String(format: "%dm%02ds", s / 60, s % 60) : "\(s)s"
    }
}
