import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
import TestSupport
import Testing
@testable import Evaluation

/// The report files: charts drawn where the numbers say, tables per group, the JSON round trip.
@Suite struct ReportTests {
    @Test func chartsPutPointsWhereTheValuesAre() throws {
        let chart = SVGChart(title: "a <b> & \"c\"", xLabel: "step", yLabel: "%",
                             series: [SVGChart.Series(name: "G1<", points: [(0, 0.25), (10, 0.75)])], percent: true)
        let svg = chart.render()
        #expect(XMLParser(data: Data(svg.utf8)).parse())
        // Plot area x 64...470, y 36...272; 0-100% maps to 272...36.
        #expect(svg.contains("<polyline points=\"64.00,213.00 470.00,95.00\""))
        #expect(svg.contains(">a &lt;b&gt; &amp; &quot;c&quot;</text>") && svg.contains(">G1&lt;</text>"))
        #expect(svg.contains(">100%</text>") && svg.contains(">0%</text>"))
        let empty = SVGChart(title: "t", xLabel: "x", yLabel: "y", series: []).render()
        #expect(XMLParser(data: Data(empty.utf8)).parse() && empty.contains("no data"))
    }

    @Test func axesUseRoundTicks() {
        let y = SVGChart.Axis([0.13, 4.7], integers: false)
        #expect(y.lower == 0 && y.upper == 5 && y.step == 1 && y.ticks == [0, 1, 2, 3, 4, 5])
        let x = SVGChart.Axis([25, 163], integers: true)
        #expect(x.step == 50 && x.lower == 0 && x.upper == 200 && x.label(150) == "150")
        let single = SVGChart.Axis([7], integers: true)
        #expect(single.lower == 6 && single.upper == 8)
        #expect(SVGChart.Axis([0], integers: true).lower == 0)
        #expect(SVGChart.Axis([1.2, 1.8], integers: false).label(1.5) == "1.5")
    }

    static func evaluation(step: Int, actionMatches: Int, group: String = "G1_answer") -> CheckpointEvaluation {
        let right = StepScore(formatValid: true, actionMatch: true, hallucinated: false, actionInputJSON: true, goldFinish: false,
                              predictedFinish: false, argumentKeyF1: 1, argumentsExact: true)
        var wrong = right
        wrong.actionMatch = false
        let scores = (0..<4).map { $0 < actionMatches ? right : wrong }
        let cases = scores.enumerated().map { i, score in
            StepCaseResult(index: i, group: group, source: "s\(i)", queryID: nil,
                           teacherForced: TeacherForcedScore(targetTokens: 10, lossSum: Double(10 * (5 - actionMatches)), correct: 5),
                           generation: StepGeneration(prompt: nil, promptNote: nil, gold: "g", output: "o", stopReason: .stopToken,
                                                      generatedTokens: 3, predicted: ReactOutput.parse(""), expected: ReactOutput.parse(""),
                                                      score: score))
        }
        return CheckpointEvaluation(
            checkpoint: "runs/x/checkpoints/step-\(step).h5", step: step, job: "x", createdUTC: "2026-01-01T00:00:00Z",
            settings: EvalSettings(generation: GenerationSettings(maxNewTokens: 8), seed: 1, maxSteps: 12, maxSeqLen: 64, fit: "trim-history", limit: nil),
            timing: EvalTiming(ranks: 1, threadsPerRank: 1, seconds: 1, generatedTokens: 12, prefilledTokens: 100, generationSeconds: 0.5,
                               generatedTokensPerSecond: 24),
            notes: ["no eval.queries: no query rollouts"],
            teacherForced: Grouped(cases, group: \.group) { TeacherForcedSummary($0.map(\.teacherForced)) },
            steps: Grouped(cases, group: \.group) { StepSummary($0.map { $0.generation!.score }, generatedTokens: $0.map { _ in 3 }) },
            queries: nil, stepCases: cases, queryCases: [])
    }

    @Test func comparisonShowsEachCheckpointAndTheChange() {
        let text = EvalReport.comparison([Self.evaluation(step: 10, actionMatches: 1), Self.evaluation(step: 20, actionMatches: 3)])
        let row = text.split(separator: "\n").first { $0.hasPrefix("action exact match") }.map(String.init) ?? ""
        #expect(row.contains("25.0%") && row.contains("75.0%") && row.hasSuffix("+50.0 pts"), "\(text)")
        #expect(text.hasPrefix("metric") && text.contains("step 10") && text.contains("step 20") && text.contains("change"))
        let loss = text.split(separator: "\n").first { $0.hasPrefix("target loss") }.map(String.init) ?? ""
        #expect(loss.hasSuffix("-2.000"))
    }

    @Test func reportFilesHoldEveryCheckpointWithATablePerGroup() throws {
        let folder = try makeTemporaryFolder("report")
        defer { try? FileManager.default.removeItem(at: folder) }
        let curve = [CheckpointInfo.TrainingPoint(step: 1, loss: 5), CheckpointInfo.TrainingPoint(step: 2, loss: 4)]
        try EvalReport.write(Self.evaluation(step: 20, actionMatches: 3, group: "G2_answer"), name: "step-000020", folder: folder,
                             trainingLoss: curve)
        try EvalReport.write(Self.evaluation(step: 10, actionMatches: 1, group: "G2_answer"), name: "step-000010", folder: folder,
                             trainingLoss: curve)
        let all = try EvalReport.load(folder: folder)
        #expect(all.map(\.step) == [10, 20] && all[0] == Self.evaluation(step: 10, actionMatches: 1, group: "G2_answer"))
        let md = try String(contentsOf: folder.appendingPathComponent("report.md"), encoding: .utf8)
        #expect(md.contains("### all groups") && md.contains("### G2_answer") && md.contains("| metric | step 10 | step 20 |"))
        #expect(md.contains("| action exact match | 25.0% | 75.0% |") && md.contains("![training loss](charts/training-loss.svg)"))
        #expect(md.contains("- no eval.queries: no query rollouts") && !md.contains("## Queries"))
        for chart in ["training-loss.svg", "steps-action_exact_match.svg", "steps-loss.svg"] {
            let data = try Data(contentsOf: folder.appendingPathComponent("charts/" + chart))
            #expect(XMLParser(data: data).parse(), "\(chart)")
        }
        // A file in the folder that is not an evaluation is named.
        try Data("{}".utf8).write(to: folder.appendingPathComponent("other.json"))
        #expect(throws: EvalError.self) { try EvalReport.load(folder: folder) }
    }
}
