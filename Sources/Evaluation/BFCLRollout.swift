import JSON
import OPT
import ToolBench

/// A BFCL entry as a ToolBench prompt. Each function becomes a ToolBench function: its name with "."
/// written "_" (ToolBench names, like OpenAI's, have no dots; bfcl checks such models the same way), its
/// description, and its parameters with BFCL's types mapped to the JSON-schema types ToolBench uses
/// (integer, number, string, boolean, array, object; bfcl's own table), `enum`, `items`, nested
/// `properties`, `default` as ToolBench's `example_value`, required and optional lists. Finish comes
/// last, as in ToolBench; the task description lists each function as a tool described "None" (BFCL has
/// no tools, and the function list already carries the descriptions). The user turn is the question.
public struct BFCLPrompt: Sendable {
    public let entry: BFCLEntry
    /// The name of each function of the entry, as listed.
    public let functionNames: [String]
    /// Every function the prompt lists (Finish last).
    public let functions: [JSONValue]
    public let functionList: FunctionListPrompt

    /// bfcl's table from its type names to JSON-schema types (`GORILLA_TO_OPENAPI`); others are strings.
    static let schemaTypes: [String: String] = [
        "integer": "integer", "number": "number", "float": "number", "string": "string", "boolean": "boolean", "bool": "boolean",
        "array": "array", "list": "array", "dict": "object", "object": "object", "tuple": "array", "any": "string",
    ]

    public init(_ entry: BFCLEntry) {
        self.entry = entry
        var names: [String] = [], functions: [JSONValue] = []
        for function in entry.functions {
            guard case .object(let f) = function, case .string(let name)? = f["name"] else { continue }
            let converted = BFCLChecker.convertedName(name)
            names.append(converted)
            var parameters = JSONObject([("type", .string("object"))])
            var required: [JSONValue] = [], optional: [JSONValue] = []
            if case .object(let p)? = f["parameters"] {
                if case .array(let r)? = p["required"] { required = r }
                if case .object(let properties)? = p["properties"] {
                    parameters["properties"] = .object(Self.properties(properties))
                    optional = properties.keys.filter { key in !required.contains(.string(key)) }.map { .string($0) }
                }
            }
            parameters["required"] = .array(required)
            parameters["optional"] = .array(optional)
            functions.append(.object(JSONObject([("name", .string(converted)), ("description", f["description"] ?? .string("")),
                                                 ("parameters", .object(parameters))])))
        }
        functions.append(RapidAPI.finishFunction)
        functionNames = names
        self.functions = functions
        let system = RapidAPI.systemPrefix + RapidAPI.taskDescription(tools: names.map { (name: $0, description: "") })
        functionList = ToolBenchAnswers.processSystemMessage(system, functions: functions)
    }

    static func properties(_ properties: JSONObject) -> JSONObject {
        var out = JSONObject()
        for (key, value) in properties.pairs {
            guard case .object(let p) = value else { continue }
            out[key] = .object(schema(p))
        }
        return out
    }

    /// One parameter's schema, ToolBench's way.
    static func schema(_ p: JSONObject) -> JSONObject {
        var type = "string"
        if case .string(let t)? = p["type"], let mapped = schemaTypes[t] { type = mapped }
        var out = JSONObject([("type", .string(type))])
        if let description = p["description"] { out["description"] = description }
        if let values = p["enum"] { out["enum"] = values }
        if case .object(let items)? = p["items"] { out["items"] = .object(schema(items)) }
        if case .object(let nested)? = p["properties"] { out["properties"] = .object(properties(nested)) }
        if let required = p["required"], type == "object" { out["required"] = required }
        if let example = p["default"] { out["example_value"] = example }
        return out
    }

    /// System and user turns, ready for the template.
    public var conversation: Conversation {
        Conversation(source: ExampleSource(file: entry.category, locator: entry.id), queryID: entry.id,
                     turns: [Turn(.system, functionList.render()), Turn(.user, RapidAPI.userMessage(entry.question))],
                     functionList: functionList)
    }
}

/// How a BFCL rollout ended.
public enum BFCLEnd: String, Codable, Sendable {
    /// A single-call category's call (the answer).
    case call
    case finish
    /// A turn without "Thought: ", "Action: ", "Action Input: " in order, or with no action: no call (bfcl:
    /// output that does not decode).
    case malformed
    case maxSteps = "max_steps"
    case contextExhausted = "context_exhausted"
}

public struct BFCLStep: Codable, Equatable, Sendable {
    public var prompt: PromptInfo
    public var output: String
    public var stopReason: StopReason
    public var generatedTokens: Int
    public var parsed: ReactOutput
    /// What the model was told after a call of a parallel category.
    public var observation: String?

    var isCall: Bool { parsed.wellFormed && !parsed.action.isEmpty && parsed.action != "Finish" }
}

/// One BFCL entry's rollout and verdict.
public struct BFCLCaseResult: Codable, Equatable, Sendable {
    public var id: String
    public var category: String
    public var steps: [BFCLStep]
    public var end: BFCLEnd
    public var promptNote: String?
    /// The calls as bfcl's checker reads them, each `{name: arguments}` as JSON text; nil when an Action
    /// Input is not a JSON object (bfcl: the output does not decode).
    public var calls: [String]?
    public var verdict: BFCLChecker.Verdict
}

/// A BFCL entry rolled out in ToolBench's Thought / Action / Action Input format. A well-formed turn
/// whose action is neither empty nor Finish is a call. Single-call categories end at the
/// first call or Finish; parallel categories collect calls until Finish, each answered with an empty
/// response (bfcl runs nothing; an unknown name gets ToolBench's "No such function name") so the model
/// can make the next one. A malformed turn, max_steps or an exhausted context also end it. Prompts are
/// fitted as query rollouts' are. The calls are then checked: AST categories by `BFCLChecker`,
/// irrelevance by "no call".
public struct BFCLRollout {
    public let prompt: BFCLPrompt
    public let maxSteps: Int

    public init(prompt: BFCLPrompt, maxSteps: Int) {
        self.prompt = prompt
        self.maxSteps = maxSteps
    }

    public func run(generator: TurnGenerator, fitter: ExampleFitter, reserve: Int, seed: UInt64) throws -> BFCLCaseResult {
        let entry = prompt.entry
        var conversation = prompt.conversation
        var steps: [BFCLStep] = []
        var end = BFCLEnd.maxSteps
        var promptNote: String?
        var calls: [(name: String, input: String)] = []
        generator.startCase()
        for index in 0..<maxSteps {
            let next = try NextTurn(conversation, generator: generator, fitter: fitter, reserve: reserve, seed: seed &+ UInt64(index))
            guard case .generated(let fitted, let turn, let parsed) = next else {
                if case .contextExhausted(let reason) = next { promptNote = reason }
                end = .contextExhausted
                break
            }
            var step = BFCLStep(prompt: PromptInfo(fitted), output: turn.text, stopReason: turn.stopReason, generatedTokens: turn.tokens,
                                parsed: parsed, observation: nil)
            if parsed.action == "Finish" && parsed.wellFormed {
                steps.append(step)
                end = .finish
                break
            }
            guard step.isCall else {
                steps.append(step)
                end = .malformed
                break
            }
            calls.append((parsed.action, parsed.actionInput))
            guard entry.parallel else {
                steps.append(step)
                end = .call
                break
            }
            let known = prompt.functionNames.contains(parsed.action)
            step.observation = ToolReply.observation(error: known ? "" : "No such function name: \(parsed.action)", response: "")
            steps.append(step)
            conversation.turns += [Turn(.assistant, turn.text), Turn(.function, step.observation!)]
        }
        var decoded: [JSONValue]? = []
        for call in calls {
            guard case .object(let arguments)? = ActionArguments.parse(call.input) else {
                decoded = nil
                break
            }
            decoded?.append(.object(JSONObject([(call.name, .object(arguments))])))
        }
        return BFCLCaseResult(id: entry.id, category: entry.category, steps: steps, end: end, promptNote: promptNote,
                              calls: decoded?.map { $0.dumps(ensureASCII: false) }, verdict: Self.verdict(entry, calls: decoded))
    }

    /// Irrelevance: right when no call decodes (bfcl: none, or an output that is not a call); AST
    /// categories: bfcl's checker on the decoded calls, wrong when they do not decode.
    static func verdict(_ entry: BFCLEntry, calls: [JSONValue]?) -> BFCLChecker.Verdict {
        if entry.irrelevance {
            guard let calls, !calls.isEmpty else { return .ok }
            return .fail("irrelevance_error:decoder_success", "A call was made where none should be.")
        }
        guard let calls else { return .fail("ast_decoder:decoder_failed", "An Action Input is not a JSON object.") }
        return BFCLChecker.check(category: entry.category, functions: entry.functions, output: calls,
                                 possibleAnswer: entry.groundTruth ?? [])
    }
}

/// The BFCL numbers of a group of entries (a category, or all of them pooled).
public struct BFCLSummary: Codable, Equatable, Sendable {
    public var entries: Int
    /// Entries whose calls bfcl's rules accept.
    public var accuracy: Double?
    public var meanCalls: Double?
    /// Entries where the model made no call.
    public var noCallRate: Double?
    public var contextExhaustedRate: Double?
    /// bfcl error type -> entries.
    public var errors: [String: Int]

    public init(_ results: [BFCLCaseResult]) {
        entries = results.count
        accuracy = rate(results.map(\.verdict.valid))
        meanCalls = mean(results.map { Double($0.calls?.count ?? $0.steps.filter(\.isCall).count) })
        noCallRate = rate(results.map { ($0.calls?.isEmpty ?? false) })
        contextExhaustedRate = rate(results.map { $0.end == .contextExhausted })
        errors = Dictionary(grouping: results.compactMap(\.verdict.errorType), by: { $0 }).mapValues(\.count)
    }
}
