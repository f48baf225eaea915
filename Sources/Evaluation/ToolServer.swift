import Foundation
import Job
import JSON
import ToolBench

/// A client of StableToolBench's tool server (`server/main.py`, the same request its
/// `rapidapi.py::_step` sends): `POST <url>/virtual` with the JSON
/// `{"category", "tool_name", "api_name", "tool_input", "strip", "toolbench_key"}` (and the key as a
/// `toolbench_key` header); the answer is a JSON object with `"error"` and `"response"`.
public final class ToolServer: @unchecked Sendable {
    public let endpoint: URL
    let key: String
    let http: HTTPClient

    /// ToolBench's default observation compression (`--observ_compress_method truncate`), sent as `strip`.
    static let strip = "truncate"

    public init(_ settings: JobSpec.ToolServerSpec, environment: [String: String] = ProcessInfo.processInfo.environment,
                backoff: Double = 1) throws {
        var text = settings.url
        while text.hasSuffix("/") { text.removeLast() }
        if !text.hasSuffix("/virtual") { text += "/virtual" }
        guard let url = URL(string: text), let scheme = url.scheme, ["http", "https"].contains(scheme), url.host != nil else {
            throw EvalError("eval.toolserver.url: expected an http:// or https:// address, found \"\(settings.url)\"")
        }
        endpoint = url
        if let name = settings.keyEnv {
            guard let value = environment[name] else {
                throw EvalError("eval.toolserver.key_env: the environment variable \(name) is not set")
            }
            key = value
        } else {
            key = ""
        }
        http = HTTPClient(timeout: settings.timeoutSeconds, retries: settings.retries, backoff: backoff)
    }

    /// The request body, its keys in the order StableToolBench's client writes them.
    func requestBody(category: String, toolName: String, apiName: String, toolInput: String) -> Data {
        Data(JSONValue.object(JSONObject([
            ("category", .string(category)), ("tool_name", .string(toolName)), ("api_name", .string(apiName)),
            ("tool_input", .string(toolInput)), ("strip", .string(Self.strip)), ("toolbench_key", .string(key)),
        ])).dumps().utf8)
    }

    /// The server's answer to one call; throws when the server cannot be reached, times out, answers with
    /// an HTTP error (after the retries), or answers something that is not `{"error": ..., ...}`.
    public func call(category: String, toolName: String, apiName: String, toolInput: String) throws -> JSONObject {
        let body = requestBody(category: category, toolName: toolName, apiName: apiName, toolInput: toolInput)
        let data: Data
        do {
            data = try http.postJSON(endpoint, body: body, headers: ["toolbench_key": key])
        } catch let failure as HTTPFailure {
            throw EvalError("tool server: \(failure), calling \(apiName) of \(toolName)")
        }
        let answer: JSONValue
        do {
            answer = try JSONParser.parse(Array(data), options: .python())
        } catch {
            throw EvalError("tool server \(endpoint.absoluteString): the answer to \(apiName) of \(toolName) is not JSON (\(error)): \(HTTPFailure.preview(String(decoding: data, as: UTF8.self)))")
        }
        guard case .object(let object) = answer, object["error"] != nil else {
            throw EvalError("tool server \(endpoint.absoluteString): the answer to \(apiName) of \(toolName) is not an object with an \"error\" field: \(HTTPFailure.preview(String(decoding: data, as: UTF8.self)))")
        }
        return object
    }

    /// ToolBench's status code for a server answer, named by its `error` (`rapidapi.py::_step`).
    static func code(_ answer: JSONObject) -> Int {
        guard case .string(let error)? = answer["error"] else { return 0 }
        switch error {
        case "API not working error...": return 6
        case "Unauthorized error...": return 7
        case "Unsubscribed error...": return 8
        case "Too many requests error...": return 9
        case "Rate limit per minute error...": return 10
        case "Message error...": return 11
        default: return 0
        }
    }
}

/// Rollout calls answered by a StableToolBench tool server. Finish and unknown functions are answered
/// locally, as ToolBench does (they never reach the server); the observation of a call is
/// `json.dumps(answer)` cut to 1,024 characters + "...".
public struct ToolServerEnvironment: ToolEnvironment {
    public let prompt: QueryPrompt
    public let server: ToolServer

    public init(prompt: QueryPrompt, server: ToolServer) {
        self.prompt = prompt
        self.server = server
    }

    public func call(action: String, actionInput: String) throws -> ToolReply {
        switch ToolRoute(action: action, actionInput: actionInput, prompt: prompt) {
        case .answered(let reply):
            return reply
        case .api(let index):
            let api = prompt.query.apis[index]
            let answer = try server.call(category: api.categoryName, toolName: prompt.toolNames[index],
                                         apiName: RapidAPI.changeName(RapidAPI.standardize(api.apiName)), toolInput: actionInput)
            return ToolReply(observation: ToolReply.cut(JSONValue.object(answer).dumps()), code: ToolServer.code(answer))
        }
    }
}
