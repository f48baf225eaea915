import Foundation
import Interop
import Storage

/// What evaluation reads from a checkpoint besides the model: its step, the tokenizer it was trained
/// with, and the trainer's metrics table (`/trainer/metrics/<column>`, one 1-D dataset per column of
/// Training.StepMetrics). A file without `/trainer` (e.g. written by ModelCheckpoint.save) has no
/// training metrics.
public struct CheckpointInfo: Sendable {
    public var path: String
    /// The `step` attribute, else the NNNNNN of a `step-NNNNNN.h5` file name.
    public var step: Int?
    public var tokenizerSHA256: String?
    /// (step, loss) of every optimizer step that was not skipped, in order.
    public var trainingLoss: [TrainingPoint]

    public struct TrainingPoint: Codable, Equatable, Sendable {
        public var step: Int
        public var loss: Double
    }

    public static func read(_ path: String) throws -> CheckpointInfo {
        let file = try HDF5File(path, mode: .readOnly)
        let root = try file.root
        var info = CheckpointInfo(path: path, step: nil, tokenizerSHA256: nil, trainingLoss: [])
        info.step = root.hasAttribute("step") ? try root.intAttribute("step") : stepInFileName(path)
        info.tokenizerSHA256 = try ModelCheckpoint.tokenizerSHA256(of: file)
        if root.contains("trainer/metrics/step"), root.contains("trainer/metrics/loss") {
            let metrics = try root.group("trainer/metrics")
            let steps = try metrics.read("step", as: Int64.self).values
            let losses = try metrics.read("loss", as: Double.self).values
            let skipped = metrics.contains("skipped") ? try metrics.read("skipped", as: UInt8.self).values : []
            guard steps.count == losses.count, skipped.isEmpty || skipped.count == steps.count else {
                throw EvalError("\(path): /trainer/metrics has \(steps.count) steps, \(losses.count) losses and \(skipped.count) skipped flags")
            }
            for i in steps.indices where (skipped.isEmpty || skipped[i] == 0) && losses[i].isFinite {
                info.trainingLoss.append(TrainingPoint(step: Int(steps[i]), loss: losses[i]))
            }
        }
        return info
    }

    static func stepInFileName(_ path: String) -> Int? {
        let name = (path as NSString).lastPathComponent
        guard name.hasPrefix("step-"), name.hasSuffix(".h5") else { return nil }
        return Int(name.dropFirst(5).dropLast(3))
    }

    /// The name of its evaluation files: "step-000400", else the file's name without ".h5".
    public var evaluationName: String {
        step.map { String(format: "step-%06d", $0) } ?? ((path as NSString).lastPathComponent as NSString).deletingPathExtension
    }
}
