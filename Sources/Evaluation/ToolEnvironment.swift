import JSON
import ToolBench

/// What answers a rollout's calls: canned observations (`CannedEnvironment`) or a StableToolBench tool
/// server (`ToolServerEnvironment`).
public protocol ToolEnvironment {
    /// The observation for one assistant turn's action. Throws when the environment itself fails (a tool
    /// server that cannot be reached); a bad call is an observation, not an error.
    func call(action: String, actionInput: String) throws -> ToolReply
}

/// An environment's answer to one call.
public struct ToolReply: Sendable, Equatable {
    /// ToolBench's `max_observation_length`.
    public static let maxObservationLength = 1024

    public var observation: String
    /// ToolBench's status code (`rapidapi.py::_step`): 0 answered, 1 no such function, 2 bad Finish call,
    /// 3 final answer, 4 give up; from a tool server also 6-11, named by the answer's `error`.
    public var code: Int
    /// Set for calls to Finish.
    public var finish: FinishCall?

    public init(observation: String, code: Int, finish: FinishCall? = nil) {
        self.observation = observation
        self.code = code
        self.finish = finish
    }

    /// `json.dumps({"error": error, "response": response})`, cut as every observation is.
    static func observation(error: String, response: String) -> String {
        cut(JSONValue.object(JSONObject([("error", .string(error)), ("response", .string(response))])).dumps())
    }

    /// An observation longer than 1,024 characters (code points, as Python's len) cut to them + "...".
    static func cut(_ text: String) -> String {
        text.unicodeScalars.count > maxObservationLength ? PythonText.prefix(text, maxObservationLength) + "..." : text
    }
}

/// Where ToolBench's environment sends an action (`rapidapi.py::_step`): Finish is answered locally by
/// `FinishCall`'s rules (codes 2, 3, 4); any other action goes to the first API whose function name ends
/// with it (ToolBench matches with `endswith`); no such function gives
/// `{"error": "No such function name: X", "response": ""}`, code 1.
enum ToolRoute {
    case answered(ToolReply)
    /// The index of the API in the query's api_list.
    case api(Int)

    init(action: String, actionInput: String, prompt: QueryPrompt) {
        if action == "Finish" {
            let finish = FinishCall.parse(actionInput)
            self = .answered(ToolReply(observation: finish.observation, code: finish.code, finish: finish))
        } else if let index = prompt.functionNames.firstIndex(where: { $0.hasSuffix(action) }) {
            self = .api(index)
        } else {
            self = .answered(ToolReply(observation: ToolReply.observation(error: "No such function name: \(action)", response: ""), code: 1))
        }
    }
}
