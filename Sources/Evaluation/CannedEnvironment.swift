import JSON
import ToolBench

/// A stand-in for ToolBench's RapidAPI server during query rollouts: no network, every call to a known
/// API answered at once with a canned observation shaped like the API's `template_response`.
///
/// Calls follow `rapidapi.py::_step`: Finish by `FinishCall`'s rules (codes 2, 3, 4); any other action
/// goes to the first API function whose name ends with the action (ToolBench matches with
/// `endswith`), which answers with code 0; no such function gives ToolBench's
/// `{"error": "No such function name: X", "response": ""}` with code 1. Observations longer than 1,024
/// characters are cut and get "..." (max_observation_length).
public struct CannedEnvironment: ToolEnvironment {
    public let prompt: QueryPrompt

    public init(prompt: QueryPrompt) { self.prompt = prompt }

    public func call(action: String, actionInput: String) -> ToolReply {
        switch ToolRoute(action: action, actionInput: actionInput, prompt: prompt) {
        case .answered(let reply):
            return reply
        case .api(let index):
            return ToolReply(observation: ToolReply.observation(error: "", response: Self.response(prompt.query.apis[index].templateResponse)),
                             code: 0)
        }
    }

    /// The response text of an API: its template with every type name replaced by an empty value of that
    /// type, as JSON text. A template given as text (StableToolBench has some, cut short and no longer
    /// JSON) is used as it is; an API without a template answers "{}".
    public static func response(_ template: JSONValue?) -> String {
        switch template {
        case nil: return "{}"
        case .string(let text)?: return text
        case let value?: return stub(value).dumps()
        }
    }

    /// A value shaped like a template: objects keep their keys (without `_list_length`), lists keep one
    /// item, "str"/"int"/"float"/"bool"/"NoneType" become "", 0, 0.0, false, null, "empty list" becomes
    /// [], and "list of <type> with length N" a list of one such empty value.
    static func stub(_ template: JSONValue) -> JSONValue {
        switch template {
        case .object(let object):
            var out = JSONObject()
            for (key, value) in object.pairs where key != "_list_length" { out[key] = stub(value) }
            return .object(out)
        case .array(let items):
            return .array(items.first.map { [stub($0)] } ?? [])
        case .string(let name):
            if let empty = emptyValue(name) { return empty }
            if name == "empty list" { return .array([]) }
            if name.hasPrefix("list of "), let end = name.range(of: " with length ") {
                let itemType = String(name[name.index(name.startIndex, offsetBy: 8)..<end.lowerBound])
                return .array(emptyValue(itemType).map { [$0] } ?? [])
            }
            return template
        default:
            return template
        }
    }

    static func emptyValue(_ typeName: String) -> JSONValue? {
        switch typeName {
        case "str": .string("")
        case "int": .integer("0")
        case "float": .float(0)
        case "bool": .bool(false)
        case "NoneType": .null
        default: nil
        }
    }
}
