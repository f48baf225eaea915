import Foundation
import Job

/// The learning rate at each optimizer step, as Hugging Face's schedules give it
/// (`get_linear_schedule_with_warmup`, `get_cosine_schedule_with_warmup`,
/// `get_constant_schedule_with_warmup`): step k (0-based) uses `baseLR * factor(k)`, so with warmup the
/// first step runs at lr 0, exactly as the Trainer's LambdaLR does.
public struct LearningRateSchedule: Sendable, Equatable {
    public let kind: JobSpec.ScheduleSpec.Name
    public let baseLR: Double
    public let warmupSteps: Int
    public let totalSteps: Int

    public init(kind: JobSpec.ScheduleSpec.Name, baseLR: Double, warmupSteps: Int, totalSteps: Int) {
        self.kind = kind
        self.baseLR = baseLR
        self.warmupSteps = warmupSteps
        self.totalSteps = totalSteps
    }

    /// The job's schedule over `totalSteps`; a warmup ratio becomes ceil(ratio * total) steps, as HF does.
    public init(_ spec: JobSpec.ScheduleSpec, baseLR: Double, totalSteps: Int) {
        let warmup = spec.warmupSteps ?? Int((spec.warmupRatio * Double(totalSteps)).rounded(.up))
        self.init(kind: spec.name, baseLR: baseLR, warmupSteps: warmup, totalSteps: totalSteps)
    }

    public func factor(atStep step: Int) -> Double {
        if step < warmupSteps { return Double(step) / Double(max(1, warmupSteps)) }
        switch kind {
        case .constant:
            return 1
        case .linear:
            return max(0, Double(totalSteps - step) / Double(max(1, totalSteps - warmupSteps)))
        case .cosine:
            let progress = Double(step - warmupSteps) / Double(max(1, totalSteps - warmupSteps))
            return max(0, 0.5 * (1 + cos(Double.pi * progress)))
        }
    }

    public func learningRate(atStep step: Int) -> Double { baseLR * factor(atStep: step) }
}
