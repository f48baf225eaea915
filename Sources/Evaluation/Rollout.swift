import OPT
import ToolBench

/// How a prompt was fitted into `max_seq_len - max_new_tokens`.
public struct PromptInfo: Codable, Equatable, Sendable {
    public var tokens: Int
    public var originalTokens: Int
    public var turnsDropped: Int
    public var observationsShortened: Int
    public var compaction: String?

    init(_ prompt: FittedPrompt) {
        tokens = prompt.tokens.count
        originalTokens = prompt.originalLength
        turnsDropped = prompt.actions.turnsDropped
        observationsShortened = prompt.actions.observationsShortened
        compaction = prompt.actions.compaction?.description
    }
}

/// One assistant step of a rollout and the environment's answer.
public struct RolloutStep: Codable, Equatable, Sendable {
    public var prompt: PromptInfo
    /// The generated text (the assistant turn as it goes into the history).
    public var output: String
    public var stopReason: StopReason
    public var generatedTokens: Int
    public var parsed: ReactOutput
    public var observation: String
    /// ToolBench's status code (see `ToolReply.code`).
    public var code: Int
    /// The action is neither a function of the prompt nor Finish (ToolEval's hallucination rule).
    public var hallucinated: Bool
    /// Calls of a prompt function by its exact name: the Action Input is a JSON object (json.loads,
    /// strict=False) with every required parameter of that function.
    public var validArguments: Bool?
}

/// The next turn of a rollout (query or BFCL): the prompt fitted by the rollout prompt policy, the
/// model's turn and its parse; or, when the prompt cannot fit, why the context is exhausted.
enum NextTurn {
    case generated(FittedPrompt, GeneratedTurn, ReactOutput)
    case contextExhausted(reason: String)

    init(_ conversation: Conversation, generator: TurnGenerator, fitter: ExampleFitter, reserve: Int, seed: UInt64) throws {
        switch fitter.fitRolloutPrompt(conversation, reserve: reserve) {
        case .tooLong(_, let reason):
            self = .contextExhausted(reason: reason)
        case .fitted(let prompt):
            let turn = try generator.generate(prompt, seed: seed)
            self = .generated(prompt, turn, ReactOutput.parse(turn.text))
        }
    }
}

/// The per-query flags of a rollout; the group metrics are their rates.
public struct QueryScore: Codable, Equatable, Sendable {
    /// The first step calls one of the query's relevant APIs (by exact function name).
    public var firstCallRelevant: Bool
    /// Share of the relevant APIs called at least once (nil: the query lists none).
    public var relevantRecall: Double?
    /// Share of the distinct APIs called that are relevant (nil: no API called).
    public var relevantPrecision: Double?
    /// Ended by a Finish the environment accepted: an answer or a give-up.
    public var finished: Bool
    public var gaveAnswer: Bool
    public var gaveUp: Bool
    /// give_answer with a final answer that is not blank.
    public var nonEmptyAnswer: Bool
    /// No turn called a function outside the prompt's (nil: the rollout had no turn at all).
    public var hallucinationFree: Bool?
    public var apiCalls: Int
    public var validCalls: Int
    /// The documented proxy pass: nonEmptyAnswer ∧ hallucinationFree ∧ at least one relevant API called
    /// with valid arguments. Not ToolBench's pass rate (that needs an LLM judge and live APIs).
    public var proxyPass: Bool

    public init(firstCallRelevant: Bool, relevantRecall: Double?, relevantPrecision: Double?, finished: Bool, gaveAnswer: Bool,
                gaveUp: Bool, nonEmptyAnswer: Bool, hallucinationFree: Bool?, apiCalls: Int, validCalls: Int, proxyPass: Bool) {
        self.firstCallRelevant = firstCallRelevant
        self.relevantRecall = relevantRecall
        self.relevantPrecision = relevantPrecision
        self.finished = finished
        self.gaveAnswer = gaveAnswer
        self.gaveUp = gaveUp
        self.nonEmptyAnswer = nonEmptyAnswer
        self.hallucinationFree = hallucinationFree
        self.apiCalls = apiCalls
        self.validCalls = validCalls
        self.proxyPass = proxyPass
    }
}

/// How a rollout ended.
public enum RolloutEnd: String, Codable, Sendable {
    case giveAnswer = "give_answer"
    case giveUp = "give_up"
    case maxSteps = "max_steps"
    /// The next prompt did not fit even after the rollout prompt policy (`ExampleFitter.fitRolloutPrompt`):
    /// the system prompt, the query and the newest step together are too long.
    case contextExhausted = "context_exhausted"
}

public struct RolloutResult: Codable, Equatable, Sendable {
    public var group: String
    public var queryID: String
    public var relevant: [String]
    public var steps: [RolloutStep]
    public var end: RolloutEnd
    public var finalAnswer: String?
    /// Why the next prompt did not fit, when that ended the rollout.
    public var promptNote: String?
    public var score: QueryScore
    /// The judge's verdict in each SoPR run (`eval.judge`).
    public var judgements: [Judgement]?
}

/// A closed-loop ToolBench episode on one query (ToolBench's CoT / single-chain method): the system
/// prompt and query, then up to `maxSteps` assistant turns, each answered by the environment (canned
/// observations or a tool server) and appended to the history as an assistant turn (the generated text,
/// as training renders assistant turns) and a function turn (the observation). Each prompt is fitted
/// into `max_seq_len - max_new_tokens` by the rollout prompt policy (`fitRolloutPrompt`: the newest step
/// stays). It ends at an accepted Finish (an answer or a give-up), after `maxSteps` steps, or when the
/// context is exhausted.
public struct Rollout {
    public let prompt: QueryPrompt
    public let group: String
    public let maxSteps: Int

    public init(prompt: QueryPrompt, group: String, maxSteps: Int) {
        self.prompt = prompt
        self.group = group
        self.maxSteps = maxSteps
    }

    /// `environment` nil: canned observations.
    public func run(generator: TurnGenerator, fitter: ExampleFitter, reserve: Int, seed: UInt64,
                    environment: (any ToolEnvironment)? = nil) throws -> RolloutResult {
        let environment = environment ?? CannedEnvironment(prompt: prompt)
        var conversation = prompt.conversation
        var steps: [RolloutStep] = []
        var end = RolloutEnd.maxSteps
        var finalAnswer: String?, promptNote: String?
        generator.startCase()
        for index in 0..<maxSteps {
            let next = try NextTurn(conversation, generator: generator, fitter: fitter, reserve: reserve, seed: seed &+ UInt64(index))
            guard case .generated(let fitted, let turn, let parsed) = next else {
                if case .contextExhausted(let reason) = next { promptNote = reason }
                end = .contextExhausted
                break
            }
            let reply = try environment.call(action: parsed.action, actionInput: parsed.actionInput)
            steps.append(RolloutStep(prompt: PromptInfo(fitted), output: turn.text, stopReason: turn.stopReason,
                                     generatedTokens: turn.tokens, parsed: parsed, observation: reply.observation,
                                     code: reply.code, hallucinated: hallucinated(parsed.action),
                                     validArguments: validArguments(parsed)))
            if reply.code == 3 {
                end = .giveAnswer
                finalAnswer = reply.finish?.finalAnswer
                break
            }
            if reply.code == 4 {
                end = .giveUp
                break
            }
            conversation.turns += [Turn(.assistant, turn.text), Turn(.function, reply.observation)]
        }
        return RolloutResult(group: group, queryID: prompt.query.queryID, relevant: prompt.relevantFunctions, steps: steps,
                             end: end, finalAnswer: finalAnswer, promptNote: promptNote,
                             score: score(steps, end: end, finalAnswer: finalAnswer))
    }

    func hallucinated(_ action: String) -> Bool { action != "Finish" && !prompt.functionNames.contains(action) }

    func validArguments(_ parsed: ReactOutput) -> Bool? {
        guard let api = prompt.api(named: parsed.action) else { return nil }
        guard case .object(let arguments)? = ActionArguments.parse(parsed.actionInput) else { return false }
        return api.requiredParameters.allSatisfy { arguments[RapidAPI.changeName(RapidAPI.standardize($0.name))] != nil }
    }

    func score(_ steps: [RolloutStep], end: RolloutEnd, finalAnswer: String?) -> QueryScore {
        let relevant = Set(prompt.relevantFunctions)
        let calls = steps.filter { $0.parsed.action != "Finish" }
        let called = Set(calls.map(\.parsed.action))
        let hit = relevant.intersection(called)
        let nonEmpty = end == .giveAnswer && !PythonText.strip(finalAnswer ?? "").isEmpty
        let hallucinationFree = steps.isEmpty ? nil : !steps.contains(where: \.hallucinated)
        let relevantValidCall = steps.contains { relevant.contains($0.parsed.action) && $0.validArguments == true }
        return QueryScore(firstCallRelevant: steps.first.map { relevant.contains($0.parsed.action) } ?? false,
                          relevantRecall: relevant.isEmpty ? nil : Double(hit.count) / Double(relevant.count),
                          relevantPrecision: called.isEmpty ? nil : Double(hit.count) / Double(called.count),
                          finished: end == .giveAnswer || end == .giveUp, gaveAnswer: end == .giveAnswer, gaveUp: end == .giveUp,
                          nonEmptyAnswer: nonEmpty, hallucinationFree: hallucinationFree, apiCalls: calls.count,
                          validCalls: calls.filter { $0.validArguments == true }.count,
                          proxyPass: nonEmpty && hallucinationFree == true && relevantValidCall)
    }
}

/// The query-level metrics of a group of rollouts.
public struct QuerySummary: Codable, Equatable, Sendable {
    public var queries: Int
    public var firstCallRelevant: Double?
    public var relevantRecall: Double?
    public var relevantPrecision: Double?
    public var finishRate: Double?
    public var giveAnswerRate: Double?
    public var giveUpRate: Double?
    public var nonEmptyAnswerRate: Double?
    /// Over the rollouts that had at least one turn.
    public var hallucinationFreeRate: Double?
    /// Calls with valid arguments / all API calls.
    public var validCallRate: Double?
    public var proxyPassRate: Double?
    public var meanSteps: Double?
    /// Rollouts that ended because the next prompt did not fit `max_seq_len - max_new_tokens` even after the
    /// rollout prompt policy.
    public var contextExhaustedRate: Double?

    public init(_ results: [RolloutResult]) {
        let scores = results.map(\.score)
        queries = results.count
        firstCallRelevant = rate(scores.map(\.firstCallRelevant))
        relevantRecall = mean(scores.compactMap(\.relevantRecall))
        relevantPrecision = mean(scores.compactMap(\.relevantPrecision))
        finishRate = rate(scores.map(\.finished))
        giveAnswerRate = rate(scores.map(\.gaveAnswer))
        giveUpRate = rate(scores.map(\.gaveUp))
        nonEmptyAnswerRate = rate(scores.map(\.nonEmptyAnswer))
        hallucinationFreeRate = rate(scores.compactMap(\.hallucinationFree))
        let calls = scores.reduce(0) { $0 + $1.apiCalls }
        validCallRate = calls > 0 ? Double(scores.reduce(0) { $0 + $1.validCalls }) / Double(calls) : nil
        proxyPassRate = rate(scores.map(\.proxyPass))
        meanSteps = mean(results.map { Double($0.steps.count) })
        contextExhaustedRate = rate(results.map { $0.end == .contextExhausted })
    }
}
