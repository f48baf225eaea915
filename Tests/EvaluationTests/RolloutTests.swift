import Data
import Evaluation
import Foundation
import JSON
import OPT
import Testing
import TestSupport
import Tokenizer
import ToolBench

/// A model stand-in that answers each turn with the next scripted text and records the prompts.
final class ScriptedGenerator: TurnGenerator {
    let script: [String]
    var prompts: [String] = []
    var cases = 0

    init(_ script: [String]) { self.script = script }

    func startCase() { cases += 1 }

    func generate(_ prompt: FittedPrompt, seed: UInt64) throws -> GeneratedTurn {
        prompts.append(prompt.text)
        let text = script[min(prompts.count - 1, script.count - 1)]
        return GeneratedTurn(text: text, tokens: text.utf8.count, stopReason: .stopToken)
    }
}

enum Demo {
    static let root = ToolTuneBinary.projectRoot.appendingPathComponent("demo")
    static let tokenizer = try! Tokenizer(folder: root.appendingPathComponent("tokenizer").path)
    static let tools = try! ToolDescriptions(folder: root.appendingPathComponent("data/toolenv/tools").path)

    static func query(_ group: String, _ id: String) throws -> ToolBenchQuery {
        try #require(try QueryFiles.read(file: root.appendingPathComponent("data/queries/\(group)_query.json").path)
            .first { $0.queryID == id })
    }

    static func fitter(_ maxSeqLen: Int = 8192) -> ExampleFitter {
        ExampleFitter(policy: FitPolicy(maxSeqLen: maxSeqLen, mode: .trimHistory, loss: .lastAssistant), encoder: tokenizer)
    }
}

/// Query rollouts with a scripted model: the environment's answers, the history the model sees and
/// every query metric, worked out by hand.
@Suite struct RolloutTests {
    static func call(_ name: String, _ arguments: String) -> String { "\nThought: \nAction: \(name)\nAction Input: \(arguments)" }

    @Test func answeredQueryWithARelevantValidCallIsAProxyPass() throws {
        // Query 15387: "Translate 'see you tomorrow' into Korean. ..."; relevant: Lingo Translate / Translate.
        let prompt = QueryPrompt(try Demo.query("G1", "15387"), tools: Demo.tools)
        #expect(prompt.relevantFunctions == ["translate_for_lingo_translate"])
        let first = Self.call("translate_for_lingo_translate", "{\n  \"text\": \"see you tomorrow\",\n  \"target_lang\": \"ko\"\n}")
        let script = ScriptedGenerator([first, Self.call("detect_language_for_lingo_translate", "{}"),
                                        Self.call("Finish", "{\"return_type\": \"give_answer\", \"final_answer\": \"내일 봐요\"}")])
        let result = try Rollout(prompt: prompt, group: "G1_query", maxSteps: 12)
            .run(generator: script, fitter: Demo.fitter(), reserve: 96, seed: 1)
        #expect(result.end == .giveAnswer && result.finalAnswer == "내일 봐요" && result.steps.count == 3 && script.cases == 1)
        // The template_response {"translated_text": "str", "source_lang": "str", "target_lang": "str"} as a canned answer.
        let observation = "{\"error\": \"\", \"response\": \"{\\\"translated_text\\\": \\\"\\\", \\\"source_lang\\\": \\\"\\\", \\\"target_lang\\\": \\\"\\\"}\"}"
        #expect(result.steps[0].observation == observation && result.steps[0].code == 0)
        #expect(result.steps[0].validArguments == true && result.steps[1].validArguments == false)  // detect_language needs "text"
        #expect(result.steps[2].code == 3 && result.steps[2].observation == "{\"response\":\"successfully giving the final answer.\"}")
        // The second prompt is the first one + the assistant turn as generated + the observation.
        #expect(script.prompts[0].hasSuffix("\nBegin!\n\nAssistant: "))
        #expect(script.prompts[1] == script.prompts[0] + first + "\nFunction: " + observation + "\nAssistant: ")
        #expect(result.score == QueryScore(firstCallRelevant: true, relevantRecall: 1, relevantPrecision: 0.5, finished: true,
                                           gaveAnswer: true, gaveUp: false, nonEmptyAnswer: true, hallucinationFree: true,
                                           apiCalls: 2, validCalls: 1, proxyPass: true))
    }

    @Test func suffixNamesReachAnAPIButCountAsHallucinated() throws {
        let prompt = QueryPrompt(try Demo.query("G1", "15387"), tools: Demo.tools)
        // ToolBench's environment matches with endswith: "lingo_translate" reaches translate_for_lingo_translate.
        let script = ScriptedGenerator([Self.call("lingo_translate", "{\"text\": \"a\", \"target_lang\": \"ko\"}"),
                                        Self.call("translate_text", "{}"),
                                        Self.call("Finish", "{\"return_type\": \"give_up_and_restart\"}")])
        let result = try Rollout(prompt: prompt, group: "G1_query", maxSteps: 12)
            .run(generator: script, fitter: Demo.fitter(), reserve: 96, seed: 1)
        #expect(result.steps.map(\.code) == [0, 1, 4] && result.end == .giveUp)
        #expect(result.steps[1].observation == "{\"error\": \"No such function name: translate_text\", \"response\": \"\"}")
        #expect(result.steps.map(\.hallucinated) == [true, true, false])
        #expect(result.steps[0].validArguments == nil)  // not a function of the prompt by its exact name
        #expect(result.score == QueryScore(firstCallRelevant: false, relevantRecall: 0, relevantPrecision: 0, finished: true,
                                           gaveAnswer: false, gaveUp: true, nonEmptyAnswer: false, hallucinationFree: false,
                                           apiCalls: 2, validCalls: 0, proxyPass: false))
    }

    @Test func badFinishCallsContinueAndBlankAnswersAreNoAnswer() throws {
        let prompt = QueryPrompt(try Demo.query("G1", "15387"), tools: Demo.tools)
        let script = ScriptedGenerator([Self.call("Finish", "{\"final_answer\": \"x\"}"),
                                        Self.call("translate_for_lingo_translate", "{\"text\": \"a\", \"target_lang\": \"ko\"}"),
                                        Self.call("Finish", "{\"return_type\": \"give_answer\", \"final_answer\": \" \"}")])
        let result = try Rollout(prompt: prompt, group: "G1_query", maxSteps: 12)
            .run(generator: script, fitter: Demo.fitter(), reserve: 96, seed: 1)
        #expect(result.steps.map(\.code) == [2, 0, 3] && result.steps[0].observation == "{error:\"must have \"return_type\"\"}")
        #expect(script.prompts[1].contains("\nFunction: {error:\"must have \"return_type\"\"}\nAssistant: "))
        #expect(result.end == .giveAnswer && !result.score.nonEmptyAnswer && !result.score.proxyPass && result.score.finished)
    }

    @Test func rolloutsStopAfterMaxStepsAndWhenTheContextIsExhausted() throws {
        let prompt = QueryPrompt(try Demo.query("G1", "15387"), tools: Demo.tools)
        let babble = ScriptedGenerator([String(repeating: "blah ", count: 200)])
        let capped = try Rollout(prompt: prompt, group: "g", maxSteps: 3).run(generator: babble, fitter: Demo.fitter(), reserve: 96, seed: 1)
        #expect(capped.end == .maxSteps && capped.steps.count == 3 && capped.steps.allSatisfy { $0.code == 1 && $0.hallucinated })
        #expect(!capped.score.finished && capped.score.apiCalls == 3 && !capped.score.firstCallRelevant)
        // A step longer than what is left after the system prompt and the query: the next prompt cannot keep
        // it, so the rollout ends there instead of prompting without it.
        let long = try Rollout(prompt: prompt, group: "g", maxSteps: 12)
            .run(generator: ScriptedGenerator([String(repeating: "blah ", count: 2000)]), fitter: Demo.fitter(1024), reserve: 96, seed: 1)
        #expect(long.end == .contextExhausted && long.steps.count == 1)
        #expect(long.promptNote?.contains("the system prompt, the query and the newest step do not fit") == true, "\(long.promptNote ?? "")")
        // Too little room even for the system prompt and the query: no turn at all, and why.
        let none = try Rollout(prompt: prompt, group: "g", maxSteps: 12)
            .run(generator: ScriptedGenerator(["x"]), fitter: Demo.fitter(200), reserve: 96, seed: 1)
        #expect(none.end == .contextExhausted && none.steps.isEmpty && none.promptNote?.contains("> 104") == true)
        #expect(none.promptNote?.contains("the system prompt and the query do not fit") == true)
        #expect(none.score.hallucinationFree == nil && !none.score.finished && none.score.relevantRecall == 0)
        let both = QuerySummary([none, capped])
        #expect(both.contextExhaustedRate == 0.5 && both.hallucinationFreeRate == 0)  // over the one rollout that ran
    }

    /// The demo's budget (1,024 tokens, 96 of them for the answer) holds the system prompt, the query and
    /// about one step: every prompt after the first must still show the previous step and what its call
    /// answered, older steps going first, then the function list's descriptions.
    @Test func everyPromptShowsThePreviousObservation() throws {
        let prompt = QueryPrompt(try Demo.query("G1", "15387"), tools: Demo.tools)
        // Steps with a long thought, as an untrained model writes them: the system prompt, the query and one
        // step no longer fit without compacting the function list.
        let thought = "\nThought: " + Array(repeating: "I should translate the next phrase before I answer", count: 6).joined(separator: ", ")
        let calls = ["see you tomorrow", "good night", "thank you very much", "where is the station", "how much is it"].map {
            thought + "\nAction: translate_for_lingo_translate\nAction Input: {\"text\": \"\($0)\", \"target_lang\": \"ko\"}"
        }
        let script = ScriptedGenerator(calls + [Self.call("Finish", "{\"return_type\": \"give_answer\", \"final_answer\": \"done\"}")])
        let result = try Rollout(prompt: prompt, group: "g", maxSteps: 12)
            .run(generator: script, fitter: Demo.fitter(1024), reserve: 96, seed: 1)
        #expect(result.end == .giveAnswer && result.steps.count == 6)
        #expect(result.steps.allSatisfy { $0.prompt.tokens <= 1024 - 96 })
        for i in 1..<result.steps.count {
            #expect(script.prompts[i].hasSuffix(calls[i - 1] + "\nFunction: " + result.steps[i - 1].observation + "\nAssistant: "),
                    "prompt \(i) does not end with step \(i - 1) and its observation")
        }
        // The first prompt fits whole; later ones drop every older step and compact the function list.
        #expect(result.steps[0].prompt.turnsDropped == 0 && result.steps[0].prompt.compaction == nil)
        for (i, step) in result.steps.enumerated().dropFirst() {
            #expect(step.prompt.turnsDropped == 2 * (i - 1) && step.prompt.compaction != nil && step.prompt.observationsShortened == 0)
        }
        #expect(!script.prompts[5].contains(calls[0]))
    }

    @Test func groupSummariesAreRatesOverQueries() throws {
        let prompt = QueryPrompt(try Demo.query("G1", "15387"), tools: Demo.tools)
        let good = try Rollout(prompt: prompt, group: "g", maxSteps: 12).run(
            generator: ScriptedGenerator([Self.call("translate_for_lingo_translate", "{\"text\": \"a\", \"target_lang\": \"ko\"}"),
                                          Self.call("Finish", "{\"return_type\": \"give_answer\", \"final_answer\": \"y\"}")]),
            fitter: Demo.fitter(), reserve: 96, seed: 1)
        let bad = try Rollout(prompt: prompt, group: "g", maxSteps: 2).run(
            generator: ScriptedGenerator([Self.call("nope", "{}")]), fitter: Demo.fitter(), reserve: 96, seed: 1)
        let s = QuerySummary([good, bad])
        #expect(s.queries == 2 && s.firstCallRelevant == 0.5 && s.relevantRecall == 0.5 && s.proxyPassRate == 0.5)
        #expect(s.finishRate == 0.5 && s.giveAnswerRate == 0.5 && s.giveUpRate == 0 && s.hallucinationFreeRate == 0.5)
        // API calls: 1 valid of 1 in the good rollout, 2 calls to "nope" in the bad one.
        #expect(abs(s.validCallRate! - 1.0 / 3) < 1e-12 && s.meanSteps == 2 && s.relevantPrecision == 0.5)
    }

    /// Two real StableToolBench queries: the scripted model calls the first relevant API with its
    /// required parameters, then answers (query 1), or calls an unknown function and gives up (query 2).
    @Test(.enabled(if: StableToolBenchQueries.present, Comment(rawValue: StableToolBenchQueries.skipNote)))
    func twoStableToolBenchQueries() throws {
        let queries = try QueryFiles.read(file: StableToolBenchQueries.file("G1_instruction"))
        let first = QueryPrompt(queries[0]), second = QueryPrompt(queries[1])
        let target = first.relevantFunctions[0]
        let api = try #require(first.api(named: target))
        let arguments = "{" + api.requiredParameters.map { "\"\(RapidAPI.changeName(RapidAPI.standardize($0.name)))\": \"x\"" }
            .joined(separator: ", ") + "}"
        let answered = try Rollout(prompt: first, group: "G1_instruction", maxSteps: 12).run(
            generator: ScriptedGenerator([Self.call(target, arguments),
                                          Self.call("Finish", "{\"return_type\": \"give_answer\", \"final_answer\": \"found it\"}")]),
            fitter: Demo.fitter(), reserve: 256, seed: 1)
        #expect(answered.steps[0].code == 0 && answered.steps[0].observation.hasPrefix("{\"error\": \"\", \"response\": \""))
        #expect(answered.score == QueryScore(firstCallRelevant: true, relevantRecall: 1 / Double(first.relevantFunctions.count),
                                             relevantPrecision: 1, finished: true, gaveAnswer: true, gaveUp: false,
                                             nonEmptyAnswer: true, hallucinationFree: true, apiCalls: 1, validCalls: 1, proxyPass: true))
        let gaveUp = try Rollout(prompt: second, group: "G1_instruction", maxSteps: 12).run(
            generator: ScriptedGenerator([Self.call("search_the_web", "{}"), Self.call("Finish", "{\"return_type\": \"give_up_and_restart\"}")]),
            fitter: Demo.fitter(), reserve: 256, seed: 1)
        #expect(gaveUp.steps.map(\.code) == [1, 4])
        #expect(gaveUp.score == QueryScore(firstCallRelevant: false, relevantRecall: 0, relevantPrecision: 0, finished: true,
                                           gaveAnswer: false, gaveUp: true, nonEmptyAnswer: false, hallucinationFree: false,
                                           apiCalls: 1, validCalls: 0, proxyPass: false))
        let summary = QuerySummary([answered, gaveUp])
        #expect(summary.proxyPassRate == 0.5 && summary.finishRate == 1 && summary.giveUpRate == 0.5 && summary.hallucinationFreeRate == 0.5)
    }
}

/// Canned observations shaped like template_response.
@Suite struct CannedEnvironmentTests {
    @Test func stubsKeepTheShapeWithEmptyValues() throws {
        let template = try JSONParser.parse(Array("""
            {"name": "str", "count": "int", "score": "float", "ok": "bool", "none": "NoneType", "tags": "empty list",
             "ids": "list of int with length 3", "rows": [{"a": "str", "_list_length": 5}], "nested": {"b": "list of list with length 2"},
             "literal": "text"}
            """.utf8), file: "t")
        #expect(CannedEnvironment.response(template) == "{\"name\": \"\", \"count\": 0, \"score\": 0.0, \"ok\": false, \"none\": null, \"tags\": [], \"ids\": [0], \"rows\": [{\"a\": \"\"}], \"nested\": {\"b\": []}, \"literal\": \"text\"}")
        #expect(CannedEnvironment.response(nil) == "{}")
        #expect(CannedEnvironment.response(.string("{\"cut\": \"st")) == "{\"cut\": \"st")
    }

    @Test func longObservationsAreCutAt1024Characters() throws {
        let api = QueryAPI(categoryName: "C", toolName: "T", apiName: "Big", apiDescription: "", requiredParameters: [],
                           optionalParameters: [], templateResponse: .object(JSONObject([("text", .string(String(repeating: "é", count: 2000)))])))
        let query = ToolBenchQuery(queryID: "1", query: "q", apis: [api], relevantAPIs: [], source: ExampleSource(file: "f", locator: "$[0]"))
        let reply = CannedEnvironment(prompt: QueryPrompt(query)).call(action: "big_for_t", actionInput: "{}")
        #expect(reply.code == 0 && reply.observation.unicodeScalars.count == 1027 && reply.observation.hasSuffix("..."))
    }
}
