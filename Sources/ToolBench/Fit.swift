/// What to do with an example longer than `max_seq_len` tokens.
public enum FitMode: String, Sendable, CaseIterable, Codable {
    /// Keep system + query + target; shorten observations, drop the oldest history, compact the function list.
    case trimHistory = "trim-history"
    /// trim-history, but the steps of one file that continue each other are fitted in windows that cut the
    /// same history, so they stay token prefixes of each other and share one sequence (`fit(file:)`).
    case trimChain = "trim-chain"
    /// Drop the example.
    case drop
}

/// The fit policy (`data.fit`). The target (the last turn), the system prompt and the query (the first
/// user turn) are never cut. For an example that does not fit, in this order:
/// 1. if system + query + target alone do not fit, compact the function list in the system prompt, the
///    least that lets them fit (`Compaction.ladder`): function, parameter and tool descriptions (Finish's
///    aside) cut to 256, 128, 64, then 0 characters, then the schema alone (no descriptions, no example
///    values); no function list, or still too long: the example is dropped;
/// 2. keep as much history as possible: drop the fewest oldest history units (an assistant turn with the
///    function turns after it, or a lone user turn such as a DFS back-tracking prompt), and among those
///    choices cut function observations the least (none, then to 512, 256, 128 characters + "...").
/// Token counts for planning come from tokenizing each turn alone; the chosen text is then tokenized as a
/// whole and, if it still does not fit, the next choice is tried. `trim-chain` makes these cuts per window of
/// a file's steps (`fit(file:)`, ChainFit.swift).
public struct FitPolicy: Sendable {
    public var maxSeqLen: Int
    public var mode: FitMode
    public var loss: LossTurns

    public static let observationLimits = [512, 256, 128]

    public init(maxSeqLen: Int, mode: FitMode, loss: LossTurns) {
        self.maxSeqLen = maxSeqLen
        self.mode = mode
        self.loss = loss
    }
}

/// What the fit policy did to one example.
public struct FitActions: Sendable, Equatable {
    /// The character limit observations were cut to, if any.
    public var observationLimit: Int?
    public var observationsShortened = 0
    public var turnsDropped = 0
    /// History units dropped (an assistant turn with its function turns, or a lone user turn).
    public var unitsDropped = 0
    /// trim-chain: history tokens this step keeps fewer than trim-history would give it (its window cuts
    /// the history where the window's longest step needs it cut).
    public var historyGivenUp = 0
    /// How the function list was compacted, if it was.
    public var compaction: Compaction?

    public init() {}

    public var trimmed: Bool { observationsShortened > 0 || turnsDropped > 0 }
    public var compacted: Bool { compaction != nil }
}

public struct FittedExample: Sendable {
    public var source: ExampleSource
    public var queryID: String?
    /// The turns as trained (after trimming and compaction).
    public var turns: [Turn]
    public var rendered: RenderedText
    public var tokenized: TokenizedExample
    /// Length in tokens before fitting.
    public var originalLength: Int
    public var actions: FitActions
}

/// A generation prompt after the fit policy: the context turns kept and the prompt text ending in
/// "\nAssistant: ", where a trained target begins.
public struct FittedPrompt: Sendable {
    public var turns: [Turn]
    public var text: String
    /// BOS + the prompt's tokens.
    public var tokens: [Int32]
    /// Length in tokens before fitting.
    public var originalLength: Int
    public var actions: FitActions

    public init(turns: [Turn], text: String, tokens: [Int32], originalLength: Int, actions: FitActions) {
        self.turns = turns
        self.text = text
        self.tokens = tokens
        self.originalLength = originalLength
        self.actions = actions
    }
}

public enum PromptFitResult: Sendable {
    case fitted(FittedPrompt)
    /// Does not fit even after everything the policy may do.
    case tooLong(tokens: Int, reason: String)
}

public enum FitResult: Sendable {
    case fitted(FittedExample)
    /// Dropped: does not fit even after everything the policy may do.
    case tooLong(source: ExampleSource, tokens: Int, reason: String)
    /// An error in the data: nothing would be trained.
    case noTrainableTokens(source: ExampleSource, reason: String)
}

/// Applies a `FitPolicy` with one tokenizer. Not thread-safe (it caches the last system prompt's length,
/// shared by all steps of one answer file); use one per thread.
public final class ExampleFitter {
    public let policy: FitPolicy
    let encoder: any TokenEncoder
    private var cachedSegment: (text: String, count: Int)?

    /// Tokens of turn texts (with their leading newline) within one `fit(file:)`.
    var segmentCache: [String: Int] = [:]

    public init(policy: FitPolicy, encoder: any TokenEncoder) {
        self.policy = policy
        self.encoder = encoder
    }

    public func fit(_ conversation: Conversation) -> FitResult {
        let turns = conversation.turns
        let source = conversation.source
        let rendered = ToolLlamaTemplate.render(turns, loss: policy.loss)
        guard !rendered.trainableBytes.isEmpty || rendered.trainsEOS else {
            let why = turns.isEmpty ? "the conversation has no turns"
                : turns.last!.role != .assistant ? "the conversation ends with a \(turns.last!.role.rawValue) turn, not an assistant turn"
                : "the last assistant turn is empty"
            return .noTrainableTokens(source: source, reason: why)
        }
        let whole = encoder.tokenize(rendered)
        guard whole.trainableCount > 0 else {
            return .noTrainableTokens(source: source, reason: "no token falls inside the trained text")
        }
        let limit = policy.maxSeqLen
        if whole.tokens.count <= limit {
            return .fitted(FittedExample(source: source, queryID: conversation.queryID, turns: turns, rendered: rendered,
                                         tokenized: whole, originalLength: whole.tokens.count, actions: FitActions()))
        }
        if policy.mode == .drop {
            return .tooLong(source: source, tokens: whole.tokens.count, reason: "\(whole.tokens.count) tokens > max_seq_len \(limit)")
        }
        return trim(conversation, originalLength: whole.tokens.count)
    }

    /// Tokens of turn `index` tokenized alone, with the newline that separates it from the turn before.
    func segmentLength(_ turn: Turn, index: Int) -> Int {
        let piece = ToolLlamaTemplate.piece(turn, isLast: true).text
        let text = index == 0 ? piece : "\n" + piece
        if turn.role == .system {
            if let cached = cachedSegment, cached.text == text { return cached.count }
            let count = encoder.encode(text, addBOS: false).count
            cachedSegment = (text, count)
            return count
        }
        if policy.mode == .trimChain, let count = segmentCache[text] { return count }
        let count = encoder.encode(text, addBOS: false).count
        if policy.mode == .trimChain { segmentCache[text] = count }
        return count
    }

    /// The turns the policy never cuts (the last, the system prompt, the query) and the history units of
    /// the others, oldest first: an assistant turn with the function turns after it, or a lone turn.
    static func history(_ turns: [Turn]) -> (protected: Set<Int>, units: [[Int]]) {
        let last = turns.count - 1
        var protected: Set<Int> = [last]
        if turns[0].role == .system { protected.insert(0) }
        if let query = turns.indices.first(where: { turns[$0].role == .user && $0 != last }) { protected.insert(query) }
        var units: [[Int]] = []
        for i in 0..<last where !protected.contains(i) {
            if turns[i].role == .function, let previous = units.last, let end = previous.last, end == i - 1,
               turns[previous[0]].role == .assistant {
                units[units.count - 1].append(i)
            } else {
                units.append([i])
            }
        }
        return (protected, units)
    }

    /// An observation cut to `limit` characters + "...", or nil when it is not longer than that.
    static func cutObservation(_ value: String, _ limit: Int) -> String? {
        guard value.unicodeScalars.count > limit else { return nil }
        return PythonText.prefix(value, limit) + "..."
    }

    /// Fits the context of a generation prompt (`context`'s turns, which end before the assistant turn
    /// to generate) into `max_seq_len - reserve` tokens (BOS included), by the same policy as training
    /// examples: the system prompt, the query and the last context turn are kept; the function list is
    /// compacted, history dropped and observations cut only as far as needed.
    public func fitPrompt(_ context: Conversation, reserve: Int) -> PromptFitResult {
        let limit = policy.maxSeqLen - reserve
        let text = ToolLlamaTemplate.prompt(context.turns)
        let tokens = encoder.encode(text, addBOS: true)
        if tokens.count <= limit {
            return .fitted(FittedPrompt(turns: context.turns, text: text, tokens: tokens, originalLength: tokens.count,
                                        actions: FitActions()))
        }
        if policy.mode == .drop || context.turns.isEmpty {
            return .tooLong(tokens: tokens.count, reason: "\(tokens.count) tokens > \(limit) (max_seq_len \(policy.maxSeqLen) - \(reserve) new tokens)")
        }
        // The assistant turn being generated stands in as the protected last turn.
        let result = shorten(context.turns + [Turn(.assistant, "")], functionList: context.functionList, limit: limit,
                             specials: 1) { candidate -> (Int, (String, [Int32])) in
            let text = ToolLlamaTemplate.prompt(Array(candidate.dropLast()))
            let tokens = encoder.encode(text, addBOS: true)
            return (tokens.count, (text, tokens))
        }
        switch result {
        case .success(let (turns, actions, (text, shortened))):
            return .fitted(FittedPrompt(turns: Array(turns.dropLast()), text: text, tokens: shortened,
                                        originalLength: tokens.count, actions: actions))
        case .failure(let failure):
            return .tooLong(tokens: tokens.count, reason: failure.reason)
        }
    }

    private func trim(_ conversation: Conversation, originalLength: Int) -> FitResult {
        let result = shorten(conversation.turns, functionList: conversation.functionList, limit: policy.maxSeqLen,
                             specials: 2) { candidate -> (Int, (RenderedText, TokenizedExample)) in
            let rendered = ToolLlamaTemplate.render(candidate, loss: policy.loss)
            let tokenized = encoder.tokenize(rendered)
            return (tokenized.tokens.count, (rendered, tokenized))
        }
        switch result {
        case .success(let (turns, actions, (rendered, tokenized))):
            return .fitted(FittedExample(source: conversation.source, queryID: conversation.queryID, turns: turns,
                                         rendered: rendered, tokenized: tokenized, originalLength: originalLength,
                                         actions: actions))
        case .failure(let failure):
            return .tooLong(source: conversation.source, tokens: originalLength, reason: failure.reason)
        }
    }

    struct ShortenFailure: Error {
        let reason: String
    }

    /// The policy's cuts, fewest first, until `measure(candidate)` (the real token count of a candidate's
    /// turns, with whatever the caller wants to keep of its tokenization) is at most `limit`. `specials`
    /// is the number of tokens outside the turns (BOS, EOS) for the estimates. The last turn, the system
    /// prompt and the query are protected.
    private func shorten<Measured>(_ original: [Turn], functionList: FunctionListPrompt?, limit: Int, specials: Int,
                                   measure: ([Turn]) -> (Int, Measured))
        -> Result<([Turn], FitActions, Measured), ShortenFailure> {
        var turns = original
        var lengths = turns.indices.map { segmentLength(turns[$0], index: $0) }
        let (protected, units) = Self.history(turns)
        var actions = FitActions()

        // 1. The system prompt, query and target must fit by themselves.
        let core = specials + protected.reduce(0) { $0 + lengths[$1] }
        if core > limit {
            guard turns[0].role == .system, let functions = functionList else {
                return .failure(ShortenFailure(reason: "the system prompt, query and target alone take about \(core) tokens > \(limit), and the system prompt has no function list to compact"))
            }
            var chosen: (Compaction, String, Int)?
            var smallest = core
            for compaction in Compaction.ladder {
                let text = functions.render(compaction)
                let length = segmentLength(Turn(.system, text), index: 0)
                smallest = core - lengths[0] + length
                if smallest <= limit {
                    chosen = (compaction, text, length)
                    break
                }
            }
            guard let (compaction, text, length) = chosen else {
                return .failure(ShortenFailure(reason: "the system prompt, query and target alone take about \(core) tokens, \(smallest) with the function list cut to its schema, > \(limit)"))
            }
            turns[0].value = text
            lengths[0] = length
            actions.compaction = compaction
        }

        // 2. History units, oldest first.
        var cutLengths: [Int: [Int: Int]] = [:]  // turn index -> observation limit -> tokens
        let cut = Self.cutObservation
        var bestLength = Int.max
        for dropped in 0...units.count {
            let removed = Set(units.prefix(dropped).joined())
            let kept = turns.indices.filter { !removed.contains($0) }
            for observationLimit in [nil] + FitPolicy.observationLimits.map(Optional.some) {
                var estimate = specials
                var shortened = 0
                for i in kept {
                    if let observationLimit, turns[i].role == .function, !protected.contains(i),
                       let short = cut(turns[i].value, observationLimit) {
                        shortened += 1
                        if cutLengths[i]?[observationLimit] == nil {
                            cutLengths[i, default: [:]][observationLimit] = segmentLength(Turn(.function, short), index: i)
                        }
                        estimate += cutLengths[i]![observationLimit]!
                    } else {
                        estimate += lengths[i]
                    }
                }
                // A limit that shortens nothing gives the same text as the previous choice.
                if observationLimit != nil && shortened == 0 { continue }
                guard estimate <= limit else { continue }
                var candidate = kept.map { turns[$0] }
                if let observationLimit {
                    for (k, i) in kept.enumerated() where turns[i].role == .function && !protected.contains(i) {
                        if let short = cut(turns[i].value, observationLimit) { candidate[k].value = short }
                    }
                }
                let (count, measured) = measure(candidate)
                bestLength = min(bestLength, count)
                guard count <= limit else { continue }
                actions.turnsDropped = removed.count
                actions.unitsDropped = dropped
                actions.observationLimit = shortened > 0 ? observationLimit : nil
                actions.observationsShortened = shortened
                return .success((candidate, actions, measured))
            }
        }
        let seen = bestLength == Int.max ? "" : " (shortest try: \(bestLength) tokens)"
        return .failure(ShortenFailure(reason: "does not fit in \(limit) tokens even with all history dropped\(seen)"))
    }
}
