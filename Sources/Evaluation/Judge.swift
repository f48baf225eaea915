import Foundation
import Job
import JSON

/// A judge's verdict on an answer (StableToolBench's `AnswerStatus`).
public enum AnswerStatus: String, Codable, Sendable, CaseIterable {
    case solved = "Solved"
    case unsolved = "Unsolved"
    case unsure = "Unsure"
}

/// The two questions StableToolBench's pass rate asks a judge (`rtl.py::check_is_solved`).
public enum JudgeQuestion: String, Sendable {
    /// Does the final answer, read alone, solve the query?
    case checkAnswerStatus = "check_answer_status"
    /// Asked when the first says Unsure: does the whole run (every call and response) solve it?
    case parseAnswerStatus = "parse_answer_status"
}

/// Something that answers the judge's questions; tests script it, evaluation asks an `OpenAIJudge`.
public protocol AnswerJudge {
    func ask(_ question: JudgeQuestion, query: String, answer: String) throws -> (status: AnswerStatus, reason: String)
}

/// A judge behind an OpenAI-compatible `/chat/completions`: one user message (ToolTune's own wording of
/// the question), the question as the only function, forced by `tool_choice`, temperature 0.2 and
/// max_tokens 1000 as in StableToolBench's default evaluator; the verdict is the `answer_status`
/// argument of the returned tool call.
public final class OpenAIJudge: AnswerJudge, @unchecked Sendable {
    public let settings: JobSpec.JudgeSpec
    public let endpoint: URL
    let key: String?
    let http: HTTPClient

    public init(_ settings: JobSpec.JudgeSpec, environment: [String: String] = ProcessInfo.processInfo.environment,
                backoff: Double = 1) throws {
        self.settings = settings
        var base = settings.baseURL
        while base.hasSuffix("/") { base.removeLast() }
        guard let url = URL(string: base + "/chat/completions"), let scheme = url.scheme, ["http", "https"].contains(scheme),
              url.host != nil else {
            throw EvalError("eval.judge.base_url: expected an http:// or https:// address, found \"\(settings.baseURL)\"")
        }
        endpoint = url
        if let name = settings.keyEnv {
            guard let value = environment[name] else { throw EvalError("eval.judge.key_env: the environment variable \(name) is not set") }
            key = value
        } else {
            key = nil
        }
        http = HTTPClient(timeout: settings.timeoutSeconds, retries: settings.retries, backoff: backoff)
    }

    static func prompt(_ question: JudgeQuestion, query: String, answer: String) -> String {
        switch question {
        case .checkAnswerStatus:
            return """
                A user asked an assistant that can call tools for something; below are the request and the assistant's final answer.
                Decide the answer's status:
                - "Unsolved" when the answer apologises, refuses, gives up, or does not respond to the request itself;
                - otherwise, "Solved" when you are confident the answer settles the request, "Unsolved" when you are confident it does not,
                  and "Unsure" when the answer alone does not let you tell.

                Request:
                \(query)

                Final answer:
                \(answer)

                Call check_answer_status with your reason and the status.
                """
        case .parseAnswerStatus:
            return """
                A user asked an assistant that can call tools for something. Below are the request and the assistant's whole run as JSON:
                its steps ("tool" nodes hold each call's name, arguments and response) and its final answer. Decide the run's status:
                - "Unsolved" when every tool call failed, or when the final answer says things the tool responses do not support;
                - "Solved" when successful tool calls really do settle the request and the final answer reports them;
                - "Unsure" when you cannot check the final answer against the responses.

                Request:
                \(query)

                Run:
                \(answer)

                Call parse_answer_status with your reason and the status.
                """
        }
    }

    static func function(_ question: JudgeQuestion) -> JSONValue {
        let description = question == .checkAnswerStatus ? "Report the status of a final answer." : "Report the status of a whole run."
        let enumeration = JSONValue.array(AnswerStatus.allCases.map { .string($0.rawValue) })
        return .object(JSONObject([
            ("name", .string(question.rawValue)),
            ("description", .string(description)),
            ("parameters", .object(JSONObject([
                ("type", .string("object")),
                ("properties", .object(JSONObject([
                    ("reason", .object(JSONObject([("type", .string("string")), ("description", .string("Why, briefly."))]))),
                    ("answer_status", .object(JSONObject([("type", .string("string")), ("enum", enumeration)]))),
                ]))),
                ("required", .array([.string("reason"), .string("answer_status")])),
            ]))),
        ]))
    }

    func requestBody(_ question: JudgeQuestion, query: String, answer: String) -> Data {
        Data(JSONValue.object(JSONObject([
            ("model", .string(settings.model)),
            ("messages", .array([.object(JSONObject([("role", .string("user")),
                                                     ("content", .string(Self.prompt(question, query: query, answer: answer)))]))])),
            ("tools", .array([.object(JSONObject([("type", .string("function")), ("function", Self.function(question))]))])),
            ("tool_choice", .object(JSONObject([("type", .string("function")),
                                                ("function", .object(JSONObject([("name", .string(question.rawValue))])))]))),
            ("temperature", .float(0.2)),
            ("max_tokens", .integer("1000")),
        ])).dumps(ensureASCII: false).utf8)
    }

    /// The verdict in a chat completion: `choices[0].message.tool_calls[0].function.arguments`, a JSON text
    /// whose `answer_status` is one of the three statuses.
    static func verdict(_ data: Data) -> Result<(status: AnswerStatus, reason: String), EvalError> {
        func fail(_ what: String) -> Result<(status: AnswerStatus, reason: String), EvalError> {
            .failure(EvalError(what + ": " + HTTPFailure.preview(String(decoding: data, as: UTF8.self))))
        }
        guard let reply = try? JSONParser.parse(Array(data), options: .python()) else { return fail("the reply is not JSON") }
        func member(_ value: JSONValue?, _ key: String) -> JSONValue? {
            if case .object(let o)? = value { return o[key] }
            return nil
        }
        func first(_ value: JSONValue?) -> JSONValue? {
            if case .array(let items)? = value { return items.first }
            return nil
        }
        let call = first(member(member(first(member(reply, "choices")), "message"), "tool_calls"))
        guard case .string(let arguments)? = member(member(call, "function"), "arguments") else {
            return fail("the reply has no choices[0].message.tool_calls[0].function.arguments")
        }
        guard let parsed = try? JSONParser.parse(Array(arguments.utf8), options: .python(strict: false)),
              case .string(let status)? = member(parsed, "answer_status"), let verdict = AnswerStatus(rawValue: status) else {
            return fail("the tool call's arguments have no answer_status of Solved, Unsolved or Unsure")
        }
        var reason = ""
        if case .string(let text)? = member(parsed, "reason") { reason = text }
        return .success((verdict, reason))
    }

    public func ask(_ question: JudgeQuestion, query: String, answer: String) throws -> (status: AnswerStatus, reason: String) {
        let body = requestBody(question, query: query, answer: answer)
        var headers: [String: String] = [:]
        if let key { headers["Authorization"] = "Bearer " + key }
        var attempt = 0
        while true {
            let data: Data
            do {
                data = try http.postJSON(endpoint, body: body, headers: headers)
            } catch let failure as HTTPFailure {
                throw EvalError("judge \(settings.model): \(failure)")
            }
            switch Self.verdict(data) {
            case .success(let verdict):
                return verdict
            case .failure(let error):
                // A sampled reply may miss the format; ask again before giving up.
                guard attempt < settings.retries else {
                    throw EvalError("judge \(settings.model) at \(endpoint.absoluteString), \(question.rawValue): \(error.description) (after \(attempt + 1) attempts)")
                }
                attempt += 1
            }
        }
    }
}
