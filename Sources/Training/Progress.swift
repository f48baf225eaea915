import Foundation
import Reporting

/// Rank 0's progress lines: step, epoch, loss, learning rate, gradient norm, tokens/s, the share of the
/// step spent in allreduce, and the time left at the recent pace.
struct Progress {
    let totalSteps: Int
    private var recent: [Double] = []

    init(totalSteps: Int) { self.totalSteps = totalSteps }

    /// The line for a finished step; keeps the last 20 step times for the ETA.
    mutating func line(_ m: StepMetrics, epochs: Int) -> String {
        recent.append(m.seconds)
        if recent.count > 20 { recent.removeFirst() }
        let pace = recent.reduce(0, +) / Double(recent.count)
        let width = String(totalSteps).count
        let step = String(repeating: " ", count: max(0, width - String(m.step).count)) + String(m.step)
        let commShare = m.seconds > 0 ? 100 * m.communicationSeconds / m.seconds : 0
        // With shared prefixes the examples hold more tokens than are run: both rates, so runs compare.
        let rate = Int(m.tokensPerSecond.rounded()).formatted()
            + (m.exampleTokens != m.tokens ? " (\(Int(m.exampleTokensPerSecond.rounded()).formatted()) example)" : "")
        return String(format: "step %@/%d  epoch %d/%d  loss %.4f  lr %.2e  grad %.3f  %@ tok/s  comm %.0f%%  eta %@%@",
                      step, totalSteps, m.epoch + 1, epochs, m.loss, m.lr, m.gradNorm, rate, commShare,
                      ProgressBar.duration(pace * Double(totalSteps - m.step)), m.skipped ? "  SKIPPED (not finite)" : "")
    }

    static func summary(_ s: TrainSummary) -> String {
        var text = "done: \(s.stepsDone)/\(s.totalSteps) steps"
        if let signal = s.stoppedBySignal { text = "stopped by signal \(signal) after step \(s.stepsDone)/\(s.totalSteps)" }
        else if !s.complete { text = "stopped after step \(s.stepsDone)/\(s.totalSteps)" }
        let rate = s.seconds > 0 ? Double(s.tokens) / s.seconds : 0
        let exampleRate = s.seconds > 0 ? Double(s.exampleTokens) / s.seconds : 0
        text += String(format: "; this session %@ tokens in %@ (%@ tok/s", s.tokens.formatted(), ProgressBar.duration(s.seconds),
                       Int(rate.rounded()).formatted())
        if s.exampleTokens != s.tokens {
            text += "; \(s.exampleTokens.formatted()) example tokens, \(Int(exampleRate.rounded()).formatted()) example tok/s"
        }
        text += String(format: "), %.0f%% in allreduce", 100 * s.communicationShare)
        if let checkpoint = s.lastCheckpoint { text += "; last checkpoint \(checkpoint)" }
        return text
    }
}
