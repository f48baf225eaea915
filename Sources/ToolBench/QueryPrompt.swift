import Foundation
import JSON

/// ToolBench's rules for turning a query's api_list into OpenAI-style functions and the system prompt
/// (`toolbench/utils.py::standardize, change_name`; `toolbench/inference/Downstream_tasks/rapidapi.py`:
/// `api_json_to_openai_json`, the task description; `ReAct_prompts.py::FORMAT_INSTRUCTIONS_SYSTEM_FUNCTION`).
/// The fixed strings are ToolBench's, typos included ("excute", "finial", "querys", "trys").
public enum RapidAPI {
    /// Names ToolBench prefixes with "is_" (Python keywords and the like).
    static let renamed: Set<String> = ["from", "class", "return", "false", "true", "id", "and"]

    /// `standardize`: every character outside `[\u4e00-\u9fa5^a-zA-Z0-9_]` becomes "_" (the "^"s inside
    /// ToolBench's character class are literal, so "^" is kept), runs of "_" collapse, lowercase, "_"
    /// stripped at both ends, "get_" in front of a leading digit.
    public static func standardize(_ text: String) -> String {
        var scalars: [Unicode.Scalar] = []
        for scalar in text.unicodeScalars {
            let v = scalar.value
            let kept = (0x4E00...0x9FA5).contains(v) || scalar == "^" || scalar == "_"
                || ("a"..."z").contains(scalar) || ("A"..."Z").contains(scalar) || ("0"..."9").contains(scalar)
            let mapped: Unicode.Scalar = kept ? scalar : "_"
            if mapped == "_", scalars.last == "_" { continue }
            scalars.append(("A"..."Z").contains(mapped) ? Unicode.Scalar(mapped.value + 32)! : mapped)
        }
        while scalars.first == "_" { scalars.removeFirst() }
        while scalars.last == "_" { scalars.removeLast() }
        guard let first = scalars.first else { return "" }
        var out = String(String.UnicodeScalarView(scalars))
        if ("0"..."9").contains(first) { out = "get_" + out }
        return out
    }

    /// `change_name`: "id" -> "is_id", and the same for from, class, return, false, true, and.
    public static func changeName(_ name: String) -> String { renamed.contains(name) ? "is_" + name : name }

    /// The function name of an API: `change_name(standardize(api_name)) + "_for_" + tool`, its last 64
    /// characters.
    public static func functionName(apiName: String, standardToolName: String) -> String {
        PythonText.suffix(changeName(standardize(apiName)) + "_for_" + standardToolName, 64)
    }

    static let typeNames = ["NUMBER": "integer", "STRING": "string", "BOOLEAN": "boolean"]

    /// `api_json_to_openai_json`: name, description ("This is the subfunction for tool ..." + the API's
    /// description, the API name in it replaced by the function name, cut to 256 characters) and
    /// parameters. As in ToolBench, optional parameters are listed only when the API has a required one.
    public static func function(for api: QueryAPI, standardToolName: String) -> JSONValue {
        let name = functionName(apiName: api.apiName, standardToolName: standardToolName)
        var description = "This is the subfunction for tool \"\(standardToolName)\", you can use this tool."
        let stripped = PythonText.strip(api.apiDescription)
        if !stripped.isEmpty {
            let replaced = api.apiName.isEmpty ? stripped : stripped.replacingOccurrences(of: api.apiName, with: name)
            description += "The description of this function is: \"\(PythonText.prefix(replaced, 256))\""
        }
        var properties = JSONObject()
        var required: [JSONValue] = [], optional: [JSONValue] = []
        func property(_ p: APIParameter) -> JSONValue {
            var type = "string"
            if case .string(let t) = p.type, let mapped = typeNames[t] { type = mapped }
            var schema = JSONObject([("type", .string(type)), ("description", .string(PythonText.prefix(p.description, 256)))])
            // ToolBench: `len(str(default)) != 0`, i.e. everything but the empty string.
            if p.defaultValue != .string("") { schema["example_value"] = p.defaultValue }
            return .object(schema)
        }
        if !api.requiredParameters.isEmpty {
            for p in api.requiredParameters {
                let key = changeName(standardize(p.name))
                properties[key] = property(p)
                required.append(.string(key))
            }
            for p in api.optionalParameters {
                let key = changeName(standardize(p.name))
                properties[key] = property(p)
                optional.append(.string(key))
            }
        }
        let parameters = JSONObject([("type", .string("object")), ("properties", .object(properties)),
                                     ("required", .array(required)), ("optional", .array(optional))])
        return .object(JSONObject([("name", .string(name)), ("description", .string(description)),
                                   ("parameters", .object(parameters))]))
    }

    /// The Finish function as ToolBench's training data has it (the older description; today's
    /// rapidapi.py words it differently, which a model trained on the data never saw).
    public static let finishFunction: JSONValue = .object(JSONObject([
        ("name", .string("Finish")),
        ("description", .string("If you think you get the result which can answer the task, call this function to give the final answer. Or, if you think you can't handle the task from this status, call this function to restart. Remember: you should ALWAYS call this function at the end of your try, and the final answer is the ONLY part that will be showed to user, so final answer should contain enough information.")),
        ("parameters", .object(JSONObject([
            ("type", .string("object")),
            ("properties", .object(JSONObject([
                ("return_type", .object(JSONObject([("type", .string("string")),
                                                    ("enum", .array([.string("give_answer"), .string("give_up_and_restart")]))]))),
                ("final_answer", .object(JSONObject([("type", .string("string")),
                                                     ("description", .string("The final answer you want to give the user. You should have this field if \"return_type\"==\"give_answer\""))]))),
            ]))),
            ("required", .array([.string("return_type")])),
        ]))),
    ]))

    /// FORMAT_INSTRUCTIONS_SYSTEM_FUNCTION without its `{task_description}` (which ends it).
    public static let systemPrefix = """
        You are AutoGPT, you can use many tools(functions) to do the following task.
        First I will give you the task description, and your task start.
        At each step, you need to give your thought to analyze the status now and what to do next, with a function call to actually excute your step.
        After the call, you will get the call result, and you are now in a new state.
        Then you will analyze your status now, then decide what to do next...
        After many (Thought-call) pairs, you finally perform the task, then you can give your finial answer.
        Remember:\u{20}
        1.the state change is irreversible, you can't go back to one of the former state, if you want to restart the task, say "I give up and restart".
        2.All the thought is short, at most in 5 sentence.
        3.You can do more then one trys, so if your plan is to continusly try some conditions, you can do one of the conditions per try.
        Let's Begin!
        Task description:\u{20}
        """

    /// rapidapi.py's task description before the numbered tool list.
    public static let taskDescriptionPrefix = """
        You should use functions to help handle the real time user querys. Remember:
        1.ALWAYS call "Finish" function at the end of the task. And the final answer should contain enough information to show to the user,If you can't handle the task, or you find that function calls always fail(the function is not valid now), use function Finish->give_up_and_restart.
        2.Do not use origin tool names, use only subfunctions' names.
        You have access of the following tools:

        """

    /// The task description for (standard tool name, description) pairs, one per API: each tool once, in
    /// first-appearance order with its last description, as "k.<tool>: <description>" with the description
    /// cut to 512 characters, newlines removed, stripped, "None" when empty.
    public static func taskDescription(tools: [(name: String, description: String)]) -> String {
        var order: [String] = [], descriptions: [String: String] = [:]
        for tool in tools {
            if descriptions[tool.name] == nil { order.append(tool.name) }
            descriptions[tool.name] = tool.description
        }
        var text = taskDescriptionPrefix
        for (k, name) in order.enumerated() {
            var line = PythonText.strip(PythonText.prefix(descriptions[name]!, 512).replacingOccurrences(of: "\n", with: ""))
            if line.isEmpty { line = "None" }
            text += "\(k + 1).\(name): \(line)\n"
        }
        return text
    }

    /// FORMAT_INSTRUCTIONS_USER_FUNCTION.
    public static func userMessage(_ query: String) -> String { "\n" + query + "\nBegin!\n" }
}

/// The start of a ToolBench rollout for one query, built as ToolBench's inference does: one function
/// per api_list entry (tool names and descriptions from `tools` when it has them, else the standardized
/// tool name and "None"), Finish last, the system prompt with the task description put through
/// `process_system_message`, and the user turn.
public struct QueryPrompt: Sendable {
    public let query: ToolBenchQuery
    /// The function name of each api_list entry, in order.
    public let functionNames: [String]
    /// The standard tool name of each api_list entry (the toolenv file name, else the standardized
    /// tool_name): what ToolBench sends a tool server as `tool_name`.
    public let toolNames: [String]
    /// Every function the prompt lists (Finish last).
    public let functions: [JSONValue]
    public let functionList: FunctionListPrompt
    /// The function names of the query's `relevant APIs`, unique, in order.
    public let relevantFunctions: [String]

    public init(_ query: ToolBenchQuery, tools: ToolDescriptions = ToolDescriptions()) {
        self.query = query
        func standardName(_ toolName: String) -> String { tools.tool(named: toolName)?.standardName ?? RapidAPI.standardize(toolName) }
        var names: [String] = [], functions: [JSONValue] = [], described: [(name: String, description: String)] = []
        for api in query.apis {
            let tool = standardName(api.toolName)
            let function = RapidAPI.function(for: api, standardToolName: tool)
            names.append(RapidAPI.functionName(apiName: api.apiName, standardToolName: tool))
            functions.append(function)
            described.append((tool, tools.tool(named: api.toolName)?.description ?? ""))
        }
        functions.append(RapidAPI.finishFunction)
        functionNames = names
        toolNames = described.map(\.name)
        self.functions = functions
        let system = RapidAPI.systemPrefix + RapidAPI.taskDescription(tools: described)
        functionList = ToolBenchAnswers.processSystemMessage(system, functions: functions)
        var relevant: [String] = []
        for reference in query.relevantAPIs {
            let name = RapidAPI.functionName(apiName: reference.apiName, standardToolName: standardName(reference.toolName))
            if !relevant.contains(name) { relevant.append(name) }
        }
        relevantFunctions = relevant
    }

    /// The API behind a function name of this prompt.
    public func api(named functionName: String) -> QueryAPI? {
        functionNames.firstIndex(of: functionName).map { query.apis[$0] }
    }

    /// System and user turns, ready for the template.
    public var conversation: Conversation {
        Conversation(source: query.source, queryID: query.queryID,
                     turns: [Turn(.system, functionList.render()), Turn(.user, RapidAPI.userMessage(query.query))],
                     functionList: functionList)
    }
}
