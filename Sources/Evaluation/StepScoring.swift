import Foundation
import ToolBench

/// One generated assistant step scored against the gold step of a held-out example. Both are read with
/// `ReactOutput.parse` (ToolBench's react_parser).
public struct StepScore: Codable, Equatable, Sendable {
    /// Well-formed (Thought / Action / Action Input in order) and ended by EOS or a stop string, not cut
    /// off by the token budget.
    public var formatValid: Bool
    public var actionMatch: Bool
    /// The action is neither a function listed in the prompt nor Finish (nil: the prompt had no
    /// function list to check against).
    public var hallucinated: Bool?
    /// The Action Input parses as JSON (`json.loads(strict=False)`).
    public var actionInputJSON: Bool
    public var goldFinish: Bool
    public var predictedFinish: Bool
    /// Gold API-call steps only: F1 of the argument keys (0 when the prediction is not a JSON object),
    /// and whether the arguments equal the gold ones after JSON canonicalisation.
    public var argumentKeyF1: Double?
    public var argumentsExact: Bool?
    /// Gold Finish steps only: the prediction is a Finish with the gold return_type.
    public var returnTypeMatch: Bool?

    public var finishDecisionCorrect: Bool { goldFinish == predictedFinish }

    public init(formatValid: Bool, actionMatch: Bool, hallucinated: Bool?, actionInputJSON: Bool, goldFinish: Bool,
                predictedFinish: Bool, argumentKeyF1: Double? = nil, argumentsExact: Bool? = nil, returnTypeMatch: Bool? = nil) {
        self.formatValid = formatValid
        self.actionMatch = actionMatch
        self.hallucinated = hallucinated
        self.actionInputJSON = actionInputJSON
        self.goldFinish = goldFinish
        self.predictedFinish = predictedFinish
        self.argumentKeyF1 = argumentKeyF1
        self.argumentsExact = argumentsExact
        self.returnTypeMatch = returnTypeMatch
    }

    /// `functions`: the function names the prompt lists (Finish may be among them), or nil if unknown.
    public static func score(_ predicted: ReactOutput, endedCleanly: Bool, gold: ReactOutput, functions: Set<String>?) -> StepScore {
        let predictedArguments = ActionArguments.parse(predicted.actionInput)
        let goldFinish = gold.action == "Finish", predictedFinish = predicted.action == "Finish"
        var score = StepScore(formatValid: predicted.wellFormed && endedCleanly, actionMatch: predicted.action == gold.action,
                              hallucinated: functions.map { !$0.contains(predicted.action) && !predictedFinish },
                              actionInputJSON: predictedArguments != nil, goldFinish: goldFinish,
                              predictedFinish: predictedFinish)
        if goldFinish {
            score.returnTypeMatch = predictedFinish
                && FinishCall.parse(predicted.actionInput).returnType == FinishCall.parse(gold.actionInput).returnType
        } else {
            let goldArguments = ActionArguments.parse(gold.actionInput)
            // Arguments that are not a JSON object match nothing, even when the gold step has none.
            if case .object? = predictedArguments {
                score.argumentKeyF1 = ActionArguments.keyF1(predicted: ActionArguments.keys(predictedArguments),
                                                            gold: ActionArguments.keys(goldArguments))
            } else {
                score.argumentKeyF1 = 0
            }
            if let goldArguments {
                score.argumentsExact = predictedArguments.map { ActionArguments.equivalent($0, goldArguments) } ?? false
            } else {
                score.argumentsExact = predicted.actionInput == gold.actionInput
            }
        }
        return score
    }
}

/// The mean of some values, nil when there are none (reported as "n/a").
func mean(_ values: [Double]) -> Double? { values.isEmpty ? nil : values.reduce(0, +) / Double(values.count) }

/// The share of true values, nil when there are none.
func rate(_ flags: [Bool]) -> Double? { mean(flags.map { $0 ? 1 : 0 }) }

/// The step-level metrics of a set of generated steps.
public struct StepSummary: Codable, Equatable, Sendable {
    public var cases: Int
    public var formatValidRate: Double?
    public var actionExactMatch: Double?
    /// Over the cases whose prompt lists its functions.
    public var hallucinationRate: Double?
    public var actionInputJSONRate: Double?
    /// Gold API-call steps: argument key F1 and arguments exact match.
    public var apiCallCases: Int
    public var argumentKeyF1: Double?
    public var argumentExactMatch: Double?
    /// Finish chosen exactly when the gold step is Finish.
    public var finishDecisionAccuracy: Double?
    /// Gold Finish steps: a Finish with the gold return_type.
    public var finishCases: Int
    public var returnTypeAccuracy: Double?
    public var meanGeneratedTokens: Double?

    public init(_ scores: [StepScore], generatedTokens: [Int]) {
        cases = scores.count
        formatValidRate = rate(scores.map(\.formatValid))
        actionExactMatch = rate(scores.map(\.actionMatch))
        hallucinationRate = rate(scores.compactMap(\.hallucinated))
        actionInputJSONRate = rate(scores.map(\.actionInputJSON))
        let calls = scores.filter { !$0.goldFinish }
        apiCallCases = calls.count
        argumentKeyF1 = mean(calls.compactMap(\.argumentKeyF1))
        argumentExactMatch = rate(calls.compactMap(\.argumentsExact))
        finishDecisionAccuracy = rate(scores.map(\.finishDecisionCorrect))
        finishCases = scores.count - calls.count
        returnTypeAccuracy = rate(scores.compactMap(\.returnTypeMatch))
        meanGeneratedTokens = mean(generatedTokens.map(Double.init))
    }
}

/// Teacher-forced scores of the target span (the trained tokens) of held-out examples.
public struct TeacherForcedSummary: Codable, Equatable, Sendable {
    public var examples: Int
    public var targetTokens: Int
    /// Mean cross-entropy (natural log) per target token, as the training loss.
    public var loss: Double?
    public var perplexity: Double?
    /// Targets whose most likely token is the target.
    public var tokenAccuracy: Double?

    public init(_ scores: [TeacherForcedScore]) {
        examples = scores.count
        targetTokens = scores.reduce(0) { $0 + $1.targetTokens }
        let lossSum = scores.reduce(0.0) { $0 + $1.lossSum }, correct = scores.reduce(0) { $0 + $1.correct }
        loss = targetTokens > 0 ? lossSum / Double(targetTokens) : nil
        perplexity = loss.map { Foundation.exp($0) }
        tokenAccuracy = targetTokens > 0 ? Double(correct) / Double(targetTokens) : nil
    }
}

public struct TeacherForcedScore: Codable, Equatable, Sendable {
    public var targetTokens: Int
    public var lossSum: Double
    public var correct: Int

    public init(targetTokens: Int, lossSum: Double, correct: Int) {
        self.targetTokens = targetTokens
        self.lossSum = lossSum
        self.correct = correct
    }
}
