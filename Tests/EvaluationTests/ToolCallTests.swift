import Evaluation
import Testing
import ToolBench

/// Finish handling (ToolBench's rapidapi.py `_step`), argument comparison and the step metrics on
/// hand-made predictions with known answers.
@Suite struct ToolCallTests {
    @Test func finishFollowsToolBenchsEnvironment() {
        let answer = FinishCall.parse("{\n  \"return_type\": \"give_answer\",\n  \"final_answer\": \"It is 12 C.\"\n}")
        #expect(answer.code == 3 && answer.finalAnswer == "It is 12 C." && answer.hasAnswer)
        #expect(answer.observation == "{\"response\":\"successfully giving the final answer.\"}")
        let giveUp = FinishCall.parse("{\"return_type\": \"give_up_and_restart\"}")
        #expect(giveUp.code == 4 && giveUp.observation == "{\"response\":\"chose to give up and restart\"}" && !giveUp.hasAnswer)
        // json.loads(strict=False) takes a raw newline inside a string.
        #expect(FinishCall.parse("{\"return_type\": \"give_answer\", \"final_answer\": \"a\nb\"}").finalAnswer == "a\nb")
        // Not JSON: the text fallback.
        let broken = FinishCall.parse("{\"return_type\": \"give_answer\", \"final_answer\": \"Paris is sunny")
        #expect(broken.code == 3 && broken.finalAnswer == "Paris is sunny")
        let other = FinishCall.parse("{\"return_type\": \"maybe\", \"x\": 1")
        #expect(other.returnType == "maybe" && other.code == 2 && other.observation == "{error:\"\"return_type\" is not a valid choice\"}")
        #expect(FinishCall.parse("{}").observation == "{error:\"must have \"return_type\"\"}")
        #expect(FinishCall.parse("{\"return_type\": \"give_answer\"}").observation == "{error:\"must have \"final_answer\"\"}")
        #expect(FinishCall.parse("").code == 2)
        // A blank answer is an answer to ToolBench, not to the non-empty check.
        let blank = FinishCall.parse("{\"return_type\": \"give_answer\", \"final_answer\": \"  \"}")
        #expect(blank.code == 3 && !blank.hasAnswer)
    }

    @Test func argumentsCompareAfterCanonicalisation() throws {
        let a = try #require(ActionArguments.parse("{\"b\": [1, 2.0], \"a\": \"x\"}"))
        let b = try #require(ActionArguments.parse("{\"a\": \"x\", \"b\": [1.0, 2]}"))
        #expect(ActionArguments.equivalent(a, b))
        #expect(!ActionArguments.equivalent(a, try #require(ActionArguments.parse("{\"a\": \"x\", \"b\": [1, 3]}"))))
        #expect(!ActionArguments.equivalent(try #require(ActionArguments.parse("{\"a\": true}")), try #require(ActionArguments.parse("{\"a\": 1}"))))
        #expect(ActionArguments.parse("{\"a\": ") == nil && ActionArguments.parse("") == nil)
        #expect(ActionArguments.parse(" [1] ") != nil)
        #expect(ActionArguments.keyF1(predicted: ["a", "b"], gold: ["a", "c", "d"]) == 0.4)  // P 1/2, R 1/3
        #expect(ActionArguments.keyF1(predicted: [], gold: []) == 1 && ActionArguments.keyF1(predicted: ["a"], gold: []) == 0)
    }

    static let gold = ReactOutput.parse("\nThought: \nAction: weather_for_demo\nAction Input: {\n  \"city\": \"Oslo\",\n  \"days\": 3\n}")
    static let goldFinish = ReactOutput.parse("\nThought: \nAction: Finish\nAction Input: {\n  \"return_type\": \"give_answer\",\n  \"final_answer\": \"x\"\n}")
    static let functions: Set<String> = ["weather_for_demo", "time_for_demo", "Finish"]

    func score(_ output: String, gold: ReactOutput = gold, clean: Bool = true) -> StepScore {
        StepScore.score(ReactOutput.parse(output), endedCleanly: clean, gold: gold, functions: Self.functions)
    }

    @Test func stepScoresOfHandMadePredictions() {
        let exact = score("\nThought: \nAction: weather_for_demo\nAction Input: {\"days\": 3.0, \"city\": \"Oslo\"}")
        #expect(exact == StepScore(formatValid: true, actionMatch: true, hallucinated: false, actionInputJSON: true, goldFinish: false,
                                   predictedFinish: false, argumentKeyF1: 1, argumentsExact: true, returnTypeMatch: nil))
        let wrongValue = score("\nThought: \nAction: weather_for_demo\nAction Input: {\"city\": \"Bergen\"}")
        #expect(wrongValue.actionMatch && wrongValue.argumentsExact == false && abs(wrongValue.argumentKeyF1! - 2.0 / 3) < 1e-12)
        let unknown = score("\nThought: \nAction: forecast_for_demo\nAction Input: {\"city\": \"Oslo\", \"days\": 3}")
        #expect(unknown.hallucinated == true && !unknown.actionMatch && unknown.argumentsExact == true)
        let brokenJSON = score("\nThought: \nAction: weather_for_demo\nAction Input: {\"city\": \"Oslo\"")
        #expect(brokenJSON.formatValid && !brokenJSON.actionInputJSON && brokenJSON.argumentKeyF1 == 0 && brokenJSON.argumentsExact == false)
        let noInput = score("\nThought: \nAction: weather_for_demo")
        #expect(!noInput.formatValid && !noInput.actionMatch && noInput.hallucinated == true && !noInput.actionInputJSON)
        let empty = score("", clean: true)
        // Gold is a call and "" is not Finish, so the Finish decision is right; nothing else is.
        #expect(!empty.formatValid && empty.hallucinated == true && empty.finishDecisionCorrect && empty.argumentKeyF1 == 0)
        let cutOff = score("\nThought: \nAction: weather_for_demo\nAction Input: {\"city\": \"Oslo\", \"days\": 3}", clean: false)
        #expect(!cutOff.formatValid && cutOff.argumentsExact == true)
        // Gold without arguments: {} matches, anything that is not an object does not.
        let noArguments = ReactOutput.parse("\nThought: \nAction: time_for_demo\nAction Input: {}")
        #expect(score("\nThought: \nAction: time_for_demo\nAction Input: {}", gold: noArguments).argumentKeyF1 == 1)
        #expect(score("\nThought: \nAction: time_for_demo\nAction Input: {\"a\"", gold: noArguments).argumentKeyF1 == 0)
        #expect(score("\nThought: \nAction: time_for_demo\nAction Input: []", gold: noArguments).argumentKeyF1 == 0)
        let finishInstead = score("\nThought: \nAction: Finish\nAction Input: {\"return_type\": \"give_up_and_restart\"}")
        #expect(!finishInstead.finishDecisionCorrect && finishInstead.hallucinated == false)
        let unknownFunctions = StepScore.score(ReactOutput.parse("\nThought: \nAction: x\nAction Input: {}"), endedCleanly: true,
                                               gold: Self.gold, functions: nil)
        #expect(unknownFunctions.hallucinated == nil)
    }

    @Test func finishStepsScoreTheReturnType() {
        let right = score("\nThought: \nAction: Finish\nAction Input: {\"return_type\": \"give_answer\", \"final_answer\": \"y\"}",
                          gold: Self.goldFinish)
        #expect(right.finishDecisionCorrect && right.returnTypeMatch == true && right.argumentKeyF1 == nil)
        let giveUp = score("\nThought: \nAction: Finish\nAction Input: {\"return_type\": \"give_up_and_restart\"}", gold: Self.goldFinish)
        #expect(giveUp.finishDecisionCorrect && giveUp.returnTypeMatch == false)
        let call = score("\nThought: \nAction: weather_for_demo\nAction Input: {}", gold: Self.goldFinish)
        #expect(!call.finishDecisionCorrect && call.returnTypeMatch == false)
    }

    @Test func summaryRatesHaveTheRightDenominators() {
        let scores = [
            score("\nThought: \nAction: weather_for_demo\nAction Input: {\"city\": \"Oslo\", \"days\": 3}"),   // all right
            score("\nThought: \nAction: nope\nAction Input: {\"city\": \"Oslo\"}"),                         // hallucinated
            score(""),                                                                                     // empty
            score("\nThought: \nAction: Finish\nAction Input: {\"return_type\": \"give_answer\", \"final_answer\": \"x\"}",
                  gold: Self.goldFinish),                                                                  // right Finish
        ]
        let s = StepSummary(scores, generatedTokens: [10, 20, 30, 40])
        #expect(s.cases == 4 && s.apiCallCases == 3 && s.finishCases == 1)
        #expect(s.formatValidRate == 0.75 && s.actionExactMatch == 0.5 && s.hallucinationRate == 0.5)
        #expect(s.actionInputJSONRate == 0.75 && s.finishDecisionAccuracy == 1 && s.returnTypeAccuracy == 1)
        // Key F1 over the 3 API steps: 1, 2/3 ({city} vs {city, days}), 0.
        #expect(abs(s.argumentKeyF1! - (1 + 2.0 / 3) / 3) < 1e-12 && abs(s.argumentExactMatch! - 1.0 / 3) < 1e-12)
        #expect(s.meanGeneratedTokens == 25)
        let none = StepSummary([], generatedTokens: [])
        #expect(none.cases == 0 && none.actionExactMatch == nil)
    }

    @Test func teacherForcedSummaryIsPerTargetToken() {
        let s = TeacherForcedSummary([TeacherForcedScore(targetTokens: 3, lossSum: 3, correct: 1),
                                      TeacherForcedScore(targetTokens: 1, lossSum: 5, correct: 1)])
        #expect(s.examples == 2 && s.targetTokens == 4 && s.loss == 2 && s.tokenAccuracy == 0.5)
        #expect(abs(s.perplexity! - 7.38905609893065) < 1e-9)
    }
}
