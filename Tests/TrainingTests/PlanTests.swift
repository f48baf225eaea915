@testable import Job
import Testing
@testable import Training

@Suite struct EpochPlannerTests {
    static let lengths = [1024, 1000, 512, 900, 300, 1024, 64, 700, 1024, 333, 999, 12, 800, 1024, 450]

    func planner(ranks: Int, global: Int = 3000, micro: Int = 1024, seed: UInt64 = 7) -> EpochPlanner {
        EpochPlanner(sequenceTokens: Self.lengths, globalBatchTokens: global, microBatchTokens: micro, ranks: ranks, seed: seed)
    }

    @Test func everySequenceOnceAndStepsWithinBudget() {
        let plan = planner(ranks: 3)
        for epoch in 0..<3 {
            let steps = plan.steps(epoch: epoch)
            #expect(steps.flatMap(\.sequences).sorted() == Array(Self.lengths.indices))
            for step in steps {
                let tokens = step.sequences.reduce(0) { $0 + Self.lengths[$1] }
                #expect(tokens <= 3000 || step.sequences.count == 1)
                for rank in step.microBatches {
                    for micro in rank { #expect(micro.reduce(0) { $0 + Self.lengths[$1] } <= 1024) }
                }
            }
            #expect(steps.map(\.stepInEpoch) == Array(0..<steps.count))
        }
    }

    @Test func stepContentsDoNotDependOnRankCount() {
        for epoch in 0..<2 {
            let one = planner(ranks: 1).steps(epoch: epoch).map { Set($0.sequences) }
            for ranks in [2, 3, 8] {
                #expect(planner(ranks: ranks).steps(epoch: epoch).map { Set($0.sequences) } == one)
            }
        }
    }

    @Test func epochsAndSeedsShuffleDifferently() {
        let p = planner(ranks: 2)
        #expect(p.permutation(epoch: 0) != p.permutation(epoch: 1))
        #expect(p.permutation(epoch: 0) == planner(ranks: 5).permutation(epoch: 0))
        #expect(p.permutation(epoch: 0) != planner(ranks: 2, seed: 8).permutation(epoch: 0))
        #expect(p.permutation(epoch: 0).sorted() == Array(Self.lengths.indices))
    }

    @Test func ranksGetBalancedTokens() {
        // 8 equal sequences over 4 ranks: exactly 2 each.
        let equal = EpochPlanner(sequenceTokens: Array(repeating: 512, count: 8), globalBatchTokens: 4096,
                                 microBatchTokens: 1024, ranks: 4, seed: 1)
        let step = equal.steps(epoch: 0)[0]
        #expect(step.microBatches.map { $0.flatMap { $0 }.count } == [2, 2, 2, 2])
        // In general LPT keeps the spread within the longest sequence.
        for step in planner(ranks: 3, global: 6000).steps(epoch: 0) {
            let loads = step.microBatches.map { $0.flatMap { $0 }.reduce(0) { $0 + Self.lengths[$1] } }
            #expect(loads.max()! - loads.min()! <= 1024, "\(loads)")
        }
    }

    /// With shared prefixes a sequence's examples hold more tokens than it runs: steps are cut by those,
    /// so a job keeps its steps per epoch; micro-batches and ranks still by the tokens run.
    @Test func stepsAreCutByExampleTokens() {
        let examples = Self.lengths.map { 3 * $0 }
        let shared = EpochPlanner(sequenceTokens: Self.lengths, exampleTokens: examples, globalBatchTokens: 9000,
                                  microBatchTokens: 1024, ranks: 2, seed: 7)
        // The same steps as sequences of three times the length with three times the budget.
        #expect(shared.stepBoundaries(epoch: 0) == planner(ranks: 2, global: 3000).stepBoundaries(epoch: 0))
        for step in shared.steps(epoch: 0) {
            #expect(step.sequences.reduce(0) { $0 + examples[$1] } <= 9000 || step.sequences.count == 1)
            for rank in step.microBatches {
                for micro in rank { #expect(micro.reduce(0) { $0 + Self.lengths[$1] } <= 1024) }
            }
        }
    }

    @Test func moreRanksThanSequencesLeavesSomeIdle() {
        let p = EpochPlanner(sequenceTokens: [100, 200], globalBatchTokens: 1000, microBatchTokens: 512, ranks: 4, seed: 3)
        let step = p.steps(epoch: 0)[0]
        #expect(step.microBatches.count == 4)
        #expect(step.microBatches.filter(\.isEmpty).count == 2)
    }

    @Test func encodingRoundTrips() {
        for step in planner(ranks: 3).steps(epoch: 1) {
            #expect(StepPlan(encoded: step.encoded) == step)
        }
        #expect(StepPlan(encoded: [0, 0, 1, 1, 5, 1]) == nil, "truncated")
        #expect(StepPlan(encoded: [0, 0, 1, 0, 9]) == nil, "trailing values")
    }

    @Test func controlMessagesRoundTripAndMalformedOnesAreRefused() {
        let step = planner(ranks: 2).steps(epoch: 0)[1]
        for control in [StepControl.run(step), .stop(signal: 15), .stop(signal: nil)] {
            #expect(StepControl(encoded: control.encoded) == control)
        }
        #expect(StepControl.stop(signal: 2).encoded == [1, 2] && StepControl.run(step).encoded == [0, 0] + step.encoded)
        for bad: [Int64] in [[], [1], [1, 2, 3], [2, 0], [0, 1] + step.encoded, [0, 0] + step.encoded.dropLast(), [1, 1 << 40]] {
            #expect(StepControl(encoded: bad) == nil, "\(bad)")
        }
    }
}

@Suite struct LearningRateScheduleTests {
    typealias Name = JobSpec.ScheduleSpec.Name

    @Test func linearWithWarmupMatchesTransformers() {
        // transformers.get_linear_schedule_with_warmup(opt, 2, 10): factors for steps 0..10.
        let s = LearningRateSchedule(kind: .linear, baseLR: 1, warmupSteps: 2, totalSteps: 10)
        let expected = [0, 0.5, 1, 0.875, 0.75, 0.625, 0.5, 0.375, 0.25, 0.125, 0]
        #expect((0...10).map { s.factor(atStep: $0) } == expected)
    }

    @Test func cosineWithWarmupMatchesTransformers() {
        // transformers.get_cosine_schedule_with_warmup(opt, 1, 5): 0, 1, 0.8535533905932737, 0.5, 0.14644660940672627, 0
        let s = LearningRateSchedule(kind: .cosine, baseLR: 2, warmupSteps: 1, totalSteps: 5)
        let expected = [0, 1, 0.8535533905932737, 0.5, 0.14644660940672627, 0]
        for (step, factor) in expected.enumerated() {
            #expect(abs(s.factor(atStep: step) - factor) < 1e-15)
            #expect(abs(s.learningRate(atStep: step) - 2 * factor) < 1e-15)
        }
    }

    @Test func constantAndRatioWarmup() {
        let spec = JobSpec.ScheduleSpec(name: .constant, warmupRatio: 0.03, warmupSteps: nil)
        let s = LearningRateSchedule(spec, baseLR: 1e-3, totalSteps: 100)
        #expect(s.warmupSteps == 3, "ceil(0.03 * 100), as Trainer.get_warmup_steps")
        #expect(s.learningRate(atStep: 0) == 0 && s.learningRate(atStep: 3) == 1e-3 && s.learningRate(atStep: 99) == 1e-3)
        let noWarmup = LearningRateSchedule(kind: .linear, baseLR: 1, warmupSteps: 0, totalSteps: 4)
        #expect(noWarmup.factor(atStep: 0) == 1 && noWarmup.factor(atStep: 2) == 0.5)
    }
}
