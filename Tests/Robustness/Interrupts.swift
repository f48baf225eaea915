import Foundation
import TestSupport

/// SIGINT at moments spread over a `prepare` of the demo's 400 files (reading, fitting, writing): it
/// must stop cleanly (exit 130, nothing published, no temporary left) or, when the signal came after
/// the work, have finished whole. A second signal ends the process at once; what that leaves behind
/// is removed by the next run.
enum Interrupts {
    /// A prepare job over the demo's training data, its run folder inside `folder`.
    static func job(in folder: URL) throws -> String {
        try Inputs.job(in: folder, train: Inputs.demoTrain, format: "toolbench-answers")
    }

    /// `tooltune prepare`, sent SIGINT after each of `delays` (seconds from the start).
    static func prepare(_ job: String, signalsAfter delays: [Double]) throws -> ProcessResult {
        try runProcess(ToolTuneBinary.path, ["prepare", job], signals: delays.map { ($0, SIGINT) })
    }

    static let delays = [0.0, 0.05, 0.15, 0.3, 0.5, 0.7, 0.9, 1.2, 1.6, 2.5]
}
