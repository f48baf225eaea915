extension TrainingCheckpoint.Contents {
    /// Why this checkpoint's run state cannot be resumed by a job whose plan has `stepsPerEpoch` steps in
    /// each epoch, with an optimizer that has taken `optimizerSteps` updates (empty when it can). Checked
    /// before the first step: the cursor indexes the plan (a negative or too large step_in_epoch indexed
    /// past it, a negative epoch trapped as a seed), and a cursor that is not where this job's plan would
    /// be after `global_step` steps means other data or batch sizes than the run that wrote it. Each
    /// problem names the attribute or dataset.
    public func resumeProblems(stepsPerEpoch: [Int], optimizerSteps: Int) -> [String] {
        let s = state
        var problems: [String] = []
        for (name, value) in [("global_step", s.globalStep), ("epoch", s.epoch), ("step_in_epoch", s.stepInEpoch),
                              ("tokens_seen", s.tokensSeen)] where value < 0 {
            problems.append("/trainer \(name) is \(value), below 0")
        }
        if s.skippedSteps < 0 || s.skippedSteps > max(0, s.globalStep) {
            problems.append("/trainer skipped_steps \(s.skippedSteps) is outside 0...global_step (\(s.globalStep))")
        }
        guard problems.isEmpty else { return problems }

        let epochs = stepsPerEpoch.count
        if s.epoch > epochs || (s.epoch == epochs && s.stepInEpoch != 0) {
            problems.append("/trainer epoch \(s.epoch) (step_in_epoch \(s.stepInEpoch)) is past this job's \(epochs) epoch\(epochs == 1 ? "" : "s")")
        } else if s.epoch < epochs && s.stepInEpoch >= stepsPerEpoch[s.epoch] {
            problems.append("/trainer step_in_epoch \(s.stepInEpoch) is past the \(stepsPerEpoch[s.epoch]) steps of epoch \(s.epoch + 1) in this job's plan")
        } else {
            let expected = stepsPerEpoch.prefix(s.epoch).reduce(0, +) + s.stepInEpoch
            if expected != s.globalStep {
                problems.append("/trainer global_step \(s.globalStep) is not where this job's plan is at epoch \(s.epoch + 1), "
                                + "step \(s.stepInEpoch + 1) of it (step \(expected)): the data or train.*_batch_tokens differ from the run that wrote it")
            }
        }
        if optimizerSteps != s.globalStep - s.skippedSteps {
            problems.append("/optimizer step \(optimizerSteps) is not global_step \(s.globalStep) - skipped_steps \(s.skippedSteps)")
        }
        if metrics.count != s.globalStep {
            problems.append("/trainer/metrics has \(metrics.count) rows for global_step \(s.globalStep)")
        } else if let bad = metrics.indices.first(where: { metrics[$0].step != $0 + 1 }) {
            problems.append("/trainer/metrics row \(bad) is step \(metrics[bad].step), expected \(bad + 1)")
        } else if metrics.reduce(0, { $0 &+ $1.tokens }) != s.tokensSeen {
            problems.append("/trainer tokens_seen \(s.tokensSeen) is not the sum of the metrics' tokens (\(metrics.reduce(0) { $0 &+ $1.tokens }))")
        }
        return problems
    }
}
