@testable import Evaluation
import Foundation
import Job
import JSON
import TestSupport
import Testing
import ToolBench

/// Rollouts against a tool server, the judge, the SoPR and the converted answers, with local HTTP servers
/// on 127.0.0.1 answering from scripts.
@Suite struct StableToolBenchTests {
    static func call(_ name: String, _ arguments: String) -> String { RolloutTests.call(name, arguments) }
    static let translate = call("translate_for_lingo_translate", "{\"text\": \"see you tomorrow\", \"target_lang\": \"ko\"}")
    static let answer = call("Finish", "{\"return_type\": \"give_answer\", \"final_answer\": \"내일 봐요\"}")

    static func json(_ request: LocalHTTPServer.Request) throws -> JSONObject {
        guard case .object(let object) = try JSONParser.parse(Array(request.body), options: .strict) else { throw Failure("not an object") }
        return object
    }

    static func server(_ settings: (String) -> JobSpec.ToolServerSpec = { JobSpec.ToolServerSpec(url: $0) },
                       environment: [String: String] = [:],
                       _ handler: @escaping @Sendable (LocalHTTPServer.Request, Int) -> LocalHTTPServer.Response) throws
        -> (LocalHTTPServer, ToolServer) {
        let http = try LocalHTTPServer(handler)
        return (http, try ToolServer(settings(http.url), environment: environment, backoff: 0.05))
    }

    @Test func rolloutCallsGoToTheServerAsStableToolBenchSendsThem() throws {
        let answers = ["{\"error\": \"\", \"response\": {\"translated_text\": \"내일 봐요\", \"rate\": 1.5}}",
                       "{\"response\": \"\", \"error\": \"Unauthorized error...\"}"]
        let (http, server) = try Self.server({ JobSpec.ToolServerSpec(url: $0, keyEnv: "TB_KEY") }, environment: ["TB_KEY": "k-123"]) { _, n in
            LocalHTTPServer.Response(body: answers[min(n, 1)])
        }
        let prompt = QueryPrompt(try Demo.query("G1", "15387"), tools: Demo.tools)
        let script = ScriptedGenerator([Self.translate, Self.call("detect_language_for_lingo_translate", "not json"),
                                        Self.call("no_such_api", "{}"), Self.answer])
        let result = try Rollout(prompt: prompt, group: "G1_query", maxSteps: 12)
            .run(generator: script, fitter: Demo.fitter(), reserve: 96, seed: 1,
                 environment: ToolServerEnvironment(prompt: prompt, server: server))
        // Two calls reached the server: Finish and the unknown function were answered locally.
        let requests = http.requests
        #expect(requests.count == 2 && requests.allSatisfy { $0.method == "POST" && $0.path == "/virtual" })
        #expect(requests.allSatisfy { $0.headers["toolbench_key"] == "k-123" && $0.headers["content-type"] == "application/json" })
        let first = try Self.json(requests[0]), second = try Self.json(requests[1])
        #expect(first.keys == ["category", "tool_name", "api_name", "tool_input", "strip", "toolbench_key"])
        #expect(first == JSONObject([("category", .string("Language")), ("tool_name", .string("lingo_translate")),
                                     ("api_name", .string("translate")),
                                     ("tool_input", .string("{\"text\": \"see you tomorrow\", \"target_lang\": \"ko\"}")),
                                     ("strip", .string("truncate")), ("toolbench_key", .string("k-123"))]))
        #expect(second["api_name"] == .string("detect_language") && second["tool_input"] == .string("not json"))
        // The observation is json.dumps of the answer (ensure_ascii, the answer's key order); codes by `error`.
        #expect(result.steps[0].observation == "{\"error\": \"\", \"response\": {\"translated_text\": \"\\ub0b4\\uc77c \\ubd10\\uc694\", \"rate\": 1.5}}")
        #expect(result.steps.map(\.code) == [0, 7, 1, 3] && result.end == .giveAnswer)
        #expect(result.steps[1].observation == "{\"response\": \"\", \"error\": \"Unauthorized error...\"}")
        #expect(script.prompts[1].contains("\nFunction: " + result.steps[0].observation + "\nAssistant: "))
    }

    @Test func longAnswersAreCutLikeEveryObservation() throws {
        let long = String(repeating: "x", count: 3000)
        let (http, server) = try Self.server { _, _ in LocalHTTPServer.Response(body: "{\"error\": \"\", \"response\": \"\(long)\"}") }
        defer { http.stop() }  // keeps it running until here
        let prompt = QueryPrompt(try Demo.query("G1", "15387"), tools: Demo.tools)
        let reply = try ToolServerEnvironment(prompt: prompt, server: server).call(action: "translate_for_lingo_translate", actionInput: "{}")
        #expect(reply.observation == String("{\"error\": \"\", \"response\": \"\(long)".prefix(1024)) + "..." && reply.code == 0)
    }

    @Test func serverFailuresAreClearErrorsAfterTheRetries() throws {
        let prompt = QueryPrompt(try Demo.query("G1", "15387"), tools: Demo.tools)
        func failure(_ settings: @escaping (String) -> JobSpec.ToolServerSpec,
                     _ handler: @escaping @Sendable (LocalHTTPServer.Request, Int) -> LocalHTTPServer.Response) throws -> (String, Int) {
            let (http, server) = try Self.server(settings, handler)
            do {
                _ = try ToolServerEnvironment(prompt: prompt, server: server).call(action: "translate_for_lingo_translate", actionInput: "{}")
            } catch let error as EvalError {
                return (error.description, http.requests.count)
            }
            throw Failure("no error")
        }
        // (The server may not have read the second request yet when the client gives up on it: no count here.)
        let (timeout, _) = try failure({ JobSpec.ToolServerSpec(url: $0, timeoutSeconds: 0.3, retries: 1) }) { _, _ in
            LocalHTTPServer.Response(body: "{}", delay: 2)
        }
        #expect(timeout.contains("/virtual: no answer within the timeout (after 2 attempts), calling translate of lingo_translate"), "\(timeout)")
        let (status, statusTries) = try failure({ JobSpec.ToolServerSpec(url: $0, retries: 2) }) { _, _ in
            LocalHTTPServer.Response(status: 500, body: "Internal Server Error")
        }
        #expect(status.contains("HTTP 500: Internal Server Error (after 3 attempts), calling translate of lingo_translate") && statusTries == 3,
                "\(status)")
        let (missing, missingTries) = try failure({ JobSpec.ToolServerSpec(url: $0, retries: 2) }) { _, _ in
            LocalHTTPServer.Response(status: 404, body: "{\"detail\": \"Not Found\"}")
        }
        #expect(missing.contains("HTTP 404: {\"detail\": \"Not Found\"}, calling") && missingTries == 1, "\(missing)")  // not retried
        let (notJSON, _) = try failure({ JobSpec.ToolServerSpec(url: $0) }) { _, _ in LocalHTTPServer.Response(body: "<html>") }
        #expect(notJSON.contains("the answer to translate of lingo_translate is not JSON") && notJSON.contains("<html>"), "\(notJSON)")
        let (noError, _) = try failure({ JobSpec.ToolServerSpec(url: $0) }) { _, _ in LocalHTTPServer.Response(body: "{\"response\": 1}") }
        #expect(noError.contains("is not an object with an \"error\" field"), "\(noError)")
        // Nothing listens on a port just closed.
        let closed = try LocalHTTPServer { _, _ in LocalHTTPServer.Response(body: "{}") }
        closed.stop()
        let unreachable = try ToolServer(JobSpec.ToolServerSpec(url: closed.url, retries: 0))
        #expect(throws: EvalError.self) { try unreachable.call(category: "c", toolName: "t", apiName: "a", toolInput: "{}") }
        #expect(throws: EvalError.self) { try ToolServer(JobSpec.ToolServerSpec(url: "ftp://x")) }
        #expect(throws: EvalError.self) { try ToolServer(JobSpec.ToolServerSpec(url: "http://x", keyEnv: "NOT_SET_ANYWHERE"), environment: [:]) }
    }

    /// A judge that answers each question from a script of statuses, recording what it was asked.
    final class ScriptedJudge: AnswerJudge {
        var statuses: [AnswerStatus]
        var asked: [(JudgeQuestion, String, String)] = []
        init(_ statuses: [AnswerStatus]) { self.statuses = statuses }
        func ask(_ question: JudgeQuestion, query: String, answer: String) throws -> (status: AnswerStatus, reason: String) {
            asked.append((question, query, answer))
            return (statuses.removeFirst(), "scripted")
        }
    }

    static func rollout(_ script: [String], maxSteps: Int = 12) throws -> (RolloutResult, QueryPrompt) {
        let prompt = QueryPrompt(try Demo.query("G1", "15387"), tools: Demo.tools)
        let result = try Rollout(prompt: prompt, group: "G1_query", maxSteps: maxSteps)
            .run(generator: ScriptedGenerator(script), fitter: Demo.fitter(), reserve: 96, seed: 1)
        return (result, prompt)
    }

    @Test func judgementsFollowStableToolBenchsRules() throws {
        let (answered, prompt) = try Self.rollout([Self.translate, Self.answer])
        let converted = StableToolBenchAnswers.answer(answered, prompt: prompt)
        // Solved at once: one call, the final answer as ToolBench's CoT writes it (the whole Action Input).
        let judge = ScriptedJudge([.solved, .unsure, .unsolved, .unsure, .unsure])
        #expect(try SoPR.judge(converted, judge: judge) == Judgement(status: .solved, judgeCalls: 1, reason: "scripted"))
        #expect(judge.asked[0].0 == .checkAnswerStatus && judge.asked[0].1 == prompt.query.query)
        #expect(judge.asked[0].2 == "{\"return_type\": \"give_answer\", \"final_answer\": \"내일 봐요\"}")
        // Unsure: the whole answer goes to parse_answer_status, whose verdict stands (Unsolved, then Unsure).
        #expect(try SoPR.judge(converted, judge: judge).status == .unsolved)
        guard case .object(let example) = converted, let whole = example["answer"] else { throw Failure("no answer") }
        #expect(judge.asked[2].0 == .parseAnswerStatus && judge.asked[2].2 == whole.dumps())
        #expect(try SoPR.judge(converted, judge: judge) == Judgement(status: .unsure, judgeCalls: 2, reason: "scripted"))
        // No Finish at the end, a give-up, a blank answer: Unsolved without asking.
        let quiet = ScriptedJudge([])
        let (capped, _) = try Self.rollout([Self.translate], maxSteps: 2)
        let (gaveUp, _) = try Self.rollout([Self.call("Finish", "{\"return_type\": \"give_up_and_restart\"}")])
        #expect(try SoPR.judge(StableToolBenchAnswers.answer(capped, prompt: prompt), judge: quiet)
                == Judgement(status: .unsolved, judgeCalls: 0, reason: "no Finish call ends the run"))
        #expect(try SoPR.judge(StableToolBenchAnswers.answer(gaveUp, prompt: prompt), judge: quiet).reason == "empty final answer or give-up")
        #expect(quiet.asked.isEmpty)
    }

    @Test func soprIsTheMeanOverRunsWithItsStandardDeviation() {
        func j(_ s: AnswerStatus) -> Judgement { Judgement(status: s, judgeCalls: 1, reason: "") }
        // 4 queries x 3 runs. Run scores: (1 + 0.5 + 0 + 1) / 4, (1 + 0 + 0 + 1) / 4, (0.5 + 0.5 + 0 + 1) / 4.
        let judgements: [[Judgement]] = [[j(.solved), j(.solved), j(.unsure)], [j(.unsure), j(.unsolved), j(.unsure)],
                                         [j(.unsolved), j(.unsolved), j(.unsolved)], [j(.solved), j(.solved), j(.solved)]]
        let s = SoPRSummary(judgements, judgeModel: "m", evaluateTimes: 3)
        #expect(s.runScores == [0.625, 0.5, 0.5])
        #expect(abs(s.sopr - 1.625 / 3) < 1e-15)
        let mean = 1.625 / 3
        let variance = ((0.625 - mean) * (0.625 - mean) + 2 * (0.5 - mean) * (0.5 - mean)) / 3  // numpy.std: population
        #expect(abs(s.standardDeviation - variance.squareRoot()) < 1e-15)
        #expect(s.solved == 5 && s.unsure == 3 && s.unsolved == 4 && s.queries == 4 && s.judgeCalls == 12)
    }

    /// The converted file read as StableToolBench's eval_pass_rate.py reads it: the query, the tools, and the
    /// chain from `answer_details[0]` along each first `next`.
    @Test func convertedAnswersHaveStableToolBenchsShape() throws {
        let (answered, prompt) = try Self.rollout([Self.translate, Self.call("nope", "{}"), Self.answer])
        let (gaveUp, _) = try Self.rollout([Self.translate, Self.call("Finish", "{\"return_type\": \"give_up_and_restart\"}")])
        func chain(_ value: JSONValue) throws -> (JSONObject, [(String, JSONValue)]) {
            guard case .object(let example) = value, case .object(let answer)? = example["answer"],
                  case .array(let roots)? = answer["answer_details"], roots.count == 1 else { throw Failure("shape") }
            #expect(example.keys == ["query", "available_tools", "answer"] && example["query"] == .string(prompt.query.query))
            #expect(example["available_tools"] == .array(prompt.functions))
            #expect(answer.keys == ["method", "total_steps", "final_answer", "answer_details"] && answer["method"] == .string("CoT@1"))
            var nodes: [(String, JSONValue)] = []
            var node = roots[0]
            while case .object(let fields) = node {
                #expect(fields.keys == ["role", "message", "next"])
                guard case .string(let role)? = fields["role"], let message = fields["message"], case .array(let next)? = fields["next"] else {
                    throw Failure("node")
                }
                nodes.append((role, message))
                guard let child = next.first else { break }
                node = child
            }
            #expect(answer["total_steps"] == .integer(String(nodes.count)))
            return (answer, nodes)
        }
        func tool(_ name: String, _ arguments: String, _ response: String) -> JSONValue {
            .object(JSONObject([("name", .string(name)), ("arguments", .string(arguments)), ("response", .string(response))]))
        }
        // A finished run, as the converter reads valid data: tool nodes only; the unknown function renamed.
        let (finished, nodes) = try chain(StableToolBenchAnswers.answer(answered, prompt: prompt))
        #expect(finished["final_answer"] == .string("{\"return_type\": \"give_answer\", \"final_answer\": \"내일 봐요\"}"))
        #expect(nodes.map(\.0) == ["system", "user", "tool", "tool", "tool"] && nodes[0].1 == .string("") && nodes[1].1 == .string(""))
        #expect(nodes[2].1 == tool("translate_for_lingo_translate", "{\"text\": \"see you tomorrow\", \"target_lang\": \"ko\"}",
                                   answered.steps[0].observation))
        #expect(nodes[3].1 == tool("invalid_hallucination_function_name", "{}", answered.steps[1].observation))
        #expect(nodes[4].1 == tool("Finish", "{\"return_type\": \"give_answer\", \"final_answer\": \"내일 봐요\"}", ""))
        #expect(SoPR.finalStep(finished).hasPrefix("{'name': 'Finish', 'arguments': "))
        // Any other run, as the converter reads a chain: thought and tool nodes, Finish with its observation.
        let (failed, steps) = try chain(StableToolBenchAnswers.answer(gaveUp, prompt: prompt))
        #expect(failed["final_answer"] == .string(""))
        #expect(steps.map(\.0) == ["system", "user", "assistant", "tool", "assistant", "tool"] && steps[2].1 == .string(""))
        #expect(steps[5].1 == tool("Finish", "{\"return_type\": \"give_up_and_restart\"}", "{\"response\":\"chose to give up and restart\"}"))
    }

    static func judgeReply(_ arguments: String) -> String {
        let call = JSONValue.object(JSONObject([("id", .string("c1")), ("type", .string("function")),
                                                ("function", .object(JSONObject([("name", .string("check_answer_status")),
                                                                                 ("arguments", .string(arguments))])))]))
        let message = JSONValue.object(JSONObject([("role", .string("assistant")), ("content", .null), ("tool_calls", .array([call]))]))
        return JSONValue.object(JSONObject([("choices", .array([.object(JSONObject([("index", .integer("0")), ("message", message)]))]))])).dumps()
    }

    @Test func theJudgeIsAskedThroughChatCompletionsWithAForcedFunction() throws {
        let http = try LocalHTTPServer { _, n in
            LocalHTTPServer.Response(body: n == 0 ? "{\"choices\": []}" : Self.judgeReply("{\"reason\": \"ok\", \"answer_status\": \"Unsure\"}"))
        }
        let judge = try OpenAIJudge(JobSpec.JudgeSpec(baseURL: http.url + "/v1/", model: "judge-model", keyEnv: "JUDGE_KEY"),
                                    environment: ["JUDGE_KEY": "sk-1"], backoff: 0.05)
        let verdict = try judge.ask(.checkAnswerStatus, query: "What is 2+2?", answer: "4")
        #expect(verdict.status == .unsure && verdict.reason == "ok")
        // The first reply had no verdict and was asked again.
        let requests = http.requests
        #expect(requests.count == 2 && requests.allSatisfy { $0.path == "/v1/chat/completions" && $0.headers["authorization"] == "Bearer sk-1" })
        let body = try Self.json(requests[1])
        #expect(body["model"] == .string("judge-model") && body["temperature"] == .float(0.2) && body["max_tokens"] == .integer("1000"))
        #expect(body["tool_choice"] == .object(JSONObject([("type", .string("function")),
                                                           ("function", .object(JSONObject([("name", .string("check_answer_status"))])))])))
        guard case .array(let tools)? = body["tools"], tools.count == 1, case .object(let tool) = tools[0],
              case .object(let function)? = tool["function"], case .array(let messages)? = body["messages"], messages.count == 1,
              case .object(let message) = messages[0], case .string(let content)? = message["content"] else { throw Failure("request shape") }
        #expect(function["name"] == .string("check_answer_status") && message["role"] == .string("user"))
        #expect(content.contains("What is 2+2?") && content.contains("\n4\n"))
        guard case .object(let parameters)? = function["parameters"], case .array(let required)? = parameters["required"] else {
            throw Failure("parameters")
        }
        #expect(required == [.string("reason"), .string("answer_status")])
        // A judge that never gives a verdict, or cannot be reached: a clear error naming it.
        let broken = try LocalHTTPServer { _, _ in LocalHTTPServer.Response(body: Self.judgeReply("{\"answer_status\": \"Maybe\"}")) }
        let noVerdict = try OpenAIJudge(JobSpec.JudgeSpec(baseURL: broken.url, model: "m", retries: 1), backoff: 0.05)
        do {
            _ = try noVerdict.ask(.parseAnswerStatus, query: "q", answer: "a")
            Issue.record("no error")
        } catch let error as EvalError {
            #expect(error.description.contains("judge m at \(broken.url)/chat/completions, parse_answer_status: the tool call's arguments have no answer_status"))
            #expect(error.description.contains("after 2 attempts") && broken.requests.count == 2)
        }
        let down = try LocalHTTPServer { _, _ in LocalHTTPServer.Response(status: 503, body: "busy") }
        let unavailable = try OpenAIJudge(JobSpec.JudgeSpec(baseURL: down.url, model: "m", retries: 1), backoff: 0.05)
        #expect(throws: EvalError.self) { try unavailable.ask(.checkAnswerStatus, query: "q", answer: "a") }
        #expect(down.requests.count == 2)
    }
}

struct Failure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
