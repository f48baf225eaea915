import JSON
import Testing
import ToolBench

@Suite struct TemplateTests {
    let turns = [Turn(.system, "S"), Turn(.user, "\nQ\nBegin!\n"), Turn(.assistant, "\nThought: \nAction: a"),
                 Turn(.function, "{}"), Turn(.assistant, "\nThought: \nAction: Finish")]

    @Test func rendersToolLlamaSingleRound() {
        let r = ToolLlamaTemplate.render(turns, loss: .lastAssistant)
        #expect(r.text == "System: S\nUser: \nQ\nBegin!\n\nAssistant: \nThought: \nAction: a\nFunction: {}\nAssistant: \nThought: \nAction: Finish</s>")
        #expect(r.body + "</s>" == r.text && r.closesWithEOS && r.trainsEOS)
        let bytes = Array(r.body.utf8)
        #expect(r.trainableBytes.count == 1)
        #expect(String(decoding: bytes[r.trainableBytes[0]], as: UTF8.self) == "\nThought: \nAction: Finish")
    }

    @Test func everyAssistantTurnTrainsEachAssistantValue() {
        let r = ToolLlamaTemplate.render(turns, loss: .everyAssistant)
        let bytes = Array(r.body.utf8)
        #expect(r.trainableBytes.map { String(decoding: bytes[$0], as: UTF8.self) } == ["\nThought: \nAction: a", "\nThought: \nAction: Finish"])
    }

    @Test func emptyTurnsPrintAsTheRoleAlone() {
        // get_prompt's rule: an empty message is "Role:" with no separator, and then no "</s>" either.
        let r = ToolLlamaTemplate.render([Turn(.user, "Q"), Turn(.function, ""), Turn(.assistant, "")], loss: .lastAssistant)
        #expect(r.text == "User: Q\nFunction:Assistant:")
        #expect(!r.closesWithEOS && r.trainableBytes.isEmpty)
    }

    @Test func tokenizingMarksTheTargetAndEOS() throws {
        let encoder = ByteTokenizer()
        let r = ToolLlamaTemplate.render(turns, loss: .lastAssistant)
        let t = encoder.tokenize(r)
        #expect(t.tokens.first == 2 && t.tokens.last == 2 && t.tokens.count == r.body.utf8.count + 2)
        let trained = zip(t.tokens, t.lossMask).filter { $0.1 == 1 }.map(\.0)
        #expect(try encoder.decode(trained) == "\nThought: \nAction: Finish</s>")
        #expect(t.straddlingTokens == 0)
    }
}

@Suite struct FitTests {
    static let description = String(repeating: "d", count: 300)
    static let functions: [JSONValue] = [
        .object(JSONObject([("name", .string("f_for_t")), ("description", .string(description)),
                            ("parameters", .object(JSONObject([("type", .string("object")), ("properties", .object(JSONObject([
                                ("q", .object(JSONObject([("type", .string("string")), ("description", .string(description))]))),
                            ])))])))])),
        .object(JSONObject([("name", .string("Finish")), ("description", .string(description))])),
    ]
    static let list = FunctionListPrompt(head: "SYS" + FunctionListPrompt.marker, functions: functions)
    static let observation = String(repeating: "o", count: 1000)
    static let target = "\nThought: \nAction: Finish\nAction Input: {}"
    static let call = "\nThought: \nAction: f_for_t\nAction Input: {}"
    static let conversation = Conversation(
        source: ExampleSource(file: "f.json", locator: "$[0]"), queryID: "1",
        turns: [Turn(.system, list.render()), Turn(.user, "\nQ\nBegin!\n"), Turn(.assistant, call), Turn(.function, observation),
                Turn(.assistant, call), Turn(.function, observation), Turn(.assistant, target)],
        functionList: list)

    /// Tokens of an example with the byte tokenizer: BOS + body bytes + EOS.
    static func length(_ turns: [Turn]) -> Int { ToolLlamaTemplate.render(turns, loss: .lastAssistant).body.utf8.count + 2 }
    static let full = length(conversation.turns)

    func fit(_ maxSeqLen: Int, mode: FitMode = .trimHistory) -> FitResult {
        ExampleFitter(policy: FitPolicy(maxSeqLen: maxSeqLen, mode: mode, loss: .lastAssistant), encoder: ByteTokenizer())
            .fit(Self.conversation)
    }

    func fitted(_ maxSeqLen: Int) throws -> FittedExample {
        guard case .fitted(let example) = fit(maxSeqLen) else { throw Failure("not fitted at \(maxSeqLen)") }
        // Whatever was done, the target is intact and is exactly what is trained.
        #expect(example.turns.last == Self.conversation.turns.last)
        #expect(example.turns.prefix(2) == Self.conversation.turns.prefix(2) || example.actions.compacted)
        let trained = zip(example.tokenized.tokens, example.tokenized.lossMask).filter { $0.1 == 1 }.map(\.0)
        #expect(try ByteTokenizer().decode(trained) == Self.target + "</s>")
        #expect(example.tokenized.tokens.count <= maxSeqLen && example.originalLength == Self.full)
        return example
    }

    struct Failure: Error, CustomStringConvertible {
        let description: String
        init(_ d: String) { description = d }
    }

    @Test func anExampleThatFitsIsLeftAlone() throws {
        let e = try fitted(Self.full)
        #expect(e.actions == FitActions() && e.turns == Self.conversation.turns)
    }

    @Test func observationsAreShortenedFirst() throws {
        // Cutting both 1,000-character observations to 512 + "..." saves 2 x 485 tokens.
        let e = try fitted(Self.full - 485)
        #expect(e.actions.observationLimit == 512 && e.actions.observationsShortened == 2 && e.actions.turnsDropped == 0)
        #expect(e.turns[3].value == String(repeating: "o", count: 512) + "...")
        #expect(e.tokenized.tokens.count == Self.full - 970)
        // 128 characters: saves 2 x 869.
        let shortest = try fitted(Self.full - 2 * 869)
        #expect(shortest.actions.observationLimit == 128 && shortest.actions.turnsDropped == 0)
    }

    @Test func thenTheOldestPairIsDroppedWithAsLittleShorteningAsPossible() throws {
        let pair = ("\nAssistant: " + Self.call).utf8.count + ("\nFunction: " + Self.observation).utf8.count
        // One more token than cutting everything to 128 characters saves: the oldest pair must go, and then
        // the remaining observation needs 256 characters (saves 741), not 512 (485).
        let maxSeqLen = Self.full - 2 * 869 - 1
        #expect(pair + 485 < 2 * 869 + 1 && pair + 741 >= 2 * 869 + 1)
        let e = try fitted(maxSeqLen)
        #expect(e.actions.turnsDropped == 2 && e.actions.observationLimit == 256 && e.actions.observationsShortened == 1)
        #expect(e.turns.map(\.role) == [.system, .user, .assistant, .function, .assistant])
        #expect(e.tokenized.tokens.count == Self.full - pair - 741)
    }

    @Test func theFunctionListIsCompactedWhenSystemQueryAndTargetDoNotFit() throws {
        let core = Self.length([Self.conversation.turns[0], Self.conversation.turns[1], Self.conversation.turns[6]])
        // Cutting the two non-Finish descriptions to 256 + "..." saves 2 x 41 tokens: one short, so 128 it is.
        let e = try fitted(core - 2 * (300 - 259) - 1)
        // The 255 tokens that frees are enough for the newer pair with its observation cut to 128.
        #expect(e.actions.compaction == .descriptions(128) && e.actions.turnsDropped == 2 && e.actions.observationLimit == 128)
        #expect(e.turns[0].value == Self.list.render(.descriptions(128)))
        #expect(e.turns[0].value.contains("'description': '" + String(repeating: "d", count: 128) + "...'"))
        #expect(e.turns[0].value.contains("'description': '" + Self.description + "'"))  // Finish's
    }

    @Test func examplesThatCannotFitAreDroppedWithAReason() {
        guard case .tooLong(_, let tokens, let reason) = fit(100) else { Issue.record("not dropped"); return }
        #expect(tokens == Self.full && reason.contains("with the function list cut to its schema, > 100"))
        guard case .tooLong(_, _, let dropReason) = fit(Self.full - 1, mode: .drop) else { Issue.record("not dropped"); return }
        #expect(dropReason == "\(Self.full) tokens > max_seq_len \(Self.full - 1)")
    }

    /// Generation prompts: the context before the target, fitted into max_seq_len - reserve by the same
    /// policy, ending exactly where the trained target begins.
    @Test func promptsEndWhereTheTargetBeginsAndAreFittedByTheSamePolicy() throws {
        let context = Conversation(source: Self.conversation.source, queryID: "1", turns: Array(Self.conversation.turns.dropLast()),
                                   functionList: Self.list)
        let rendered = ToolLlamaTemplate.render(Self.conversation.turns, loss: .lastAssistant)
        let text = ToolLlamaTemplate.prompt(context.turns)
        #expect(Array(text.utf8) == Array(Array(rendered.body.utf8)[..<rendered.trainableBytes[0].lowerBound]))
        #expect(text.hasSuffix("\nFunction: " + Self.observation + "\nAssistant: "))
        #expect(ToolLlamaTemplate.prompt([]) == "Assistant: ")
        let full = text.utf8.count + 1  // BOS + one token per byte
        let reserve = 50
        func prompt(_ maxSeqLen: Int) -> PromptFitResult {
            ExampleFitter(policy: FitPolicy(maxSeqLen: maxSeqLen, mode: .trimHistory, loss: .lastAssistant), encoder: ByteTokenizer())
                .fitPrompt(context, reserve: reserve)
        }
        guard case .fitted(let whole) = prompt(full + reserve) else { Issue.record("not fitted"); return }
        #expect(whole.text == text && whole.tokens == ByteTokenizer().encode(text, addBOS: true) && whole.actions == FitActions())
        // 485 tokens short: both observations are cut to 512 characters, as for a training example.
        guard case .fitted(let cut) = prompt(full + reserve - 485) else { Issue.record("not fitted"); return }
        #expect(cut.actions.observationLimit == 512 && cut.actions.observationsShortened == 2 && cut.tokens.count <= full - 485)
        #expect(cut.text.hasSuffix("\nAssistant: ") && cut.turns.count == context.turns.count)
        #expect(cut.tokens == ByteTokenizer().encode(cut.text, addBOS: true))
        // Less room than system + query need even compacted: too long, with the reason.
        guard case .tooLong(let tokens, let reason) = prompt(reserve + 50) else { Issue.record("not too long"); return }
        #expect(tokens == full && reason.contains("> 50"))
    }

    /// Rollout prompts keep the newest step: older steps go first, then the function list is compacted,
    /// then the newest observation is cut; past that the prompt does not fit.
    @Test func rolloutPromptsKeepTheNewestStepToTheLast() throws {
        let context = Conversation(source: Self.conversation.source, queryID: "1", turns: Array(Self.conversation.turns.dropLast()),
                                   functionList: Self.list)
        let reserve = 50
        func fit(_ limit: Int) -> PromptFitResult {
            ExampleFitter(policy: FitPolicy(maxSeqLen: limit + reserve, mode: .trimHistory, loss: .lastAssistant), encoder: ByteTokenizer())
                .fitRolloutPrompt(context, reserve: reserve)
        }
        let (system, query, call) = (context.turns[0], context.turns[1], context.turns[4])
        func tokens(_ systemText: String, _ observation: String) -> Int {
            ToolLlamaTemplate.prompt([Turn(.system, systemText), query, call, Turn(.function, observation)]).utf8.count + 1
        }
        let cut512 = String(Self.observation.prefix(512)) + "...", cut128 = String(Self.observation.prefix(128)) + "..."
        let whole = ToolLlamaTemplate.prompt(context.turns).utf8.count + 1
        guard case .fitted(let all) = fit(whole) else { Issue.record("not fitted"); return }
        #expect(all.actions == FitActions() && all.turns == context.turns)
        // One token short: the older step (assistant + function) goes, the newest stays whole.
        guard case .fitted(let dropped) = fit(whole - 1) else { Issue.record("not fitted"); return }
        #expect(dropped.turns == [system, query, call, Turn(.function, Self.observation)])
        #expect(dropped.actions.turnsDropped == 2 && dropped.actions.compaction == nil && dropped.actions.observationsShortened == 0)
        #expect(dropped.tokens.count == tokens(system.value, Self.observation))
        // Shorter: the function list's descriptions, the least that fits, before any observation.
        guard case .fitted(let compacted) = fit(tokens(Self.list.render(.descriptions(128)), Self.observation)) else { Issue.record("not fitted"); return }
        #expect(compacted.actions.compaction == .descriptions(128) && compacted.actions.observationsShortened == 0)
        #expect(compacted.turns.last == Turn(.function, Self.observation))
        // Shorter than the schema alone allows: the newest observation is cut too, with the least compaction.
        let schemaWhole = tokens(Self.list.render(.schemaOnly), Self.observation)
        let limit = tokens(Self.list.render(.descriptions(64)), cut512)
        #expect(limit < schemaWhole)
        guard case .fitted(let cut) = fit(limit) else { Issue.record("not fitted"); return }
        #expect(cut.actions.observationLimit == 512 && cut.actions.observationsShortened == 1 && cut.actions.compaction == .descriptions(64))
        #expect(cut.turns.last == Turn(.function, cut512) && cut.turns[2] == call)
        // Less room than the system prompt, the query and the newest step take at their shortest.
        guard case .tooLong(let total, let reason) = fit(tokens(Self.list.render(.schemaOnly), cut128) - 1) else {
            Issue.record("fitted"); return
        }
        #expect(total == whole && reason.contains("the system prompt, the query and the newest step do not fit"))
    }

    @Test func conversationsWithNothingToTrainAreErrors() {
        let fitter = ExampleFitter(policy: FitPolicy(maxSeqLen: 100, mode: .trimHistory, loss: .lastAssistant), encoder: ByteTokenizer())
        let source = ExampleSource(file: "c.jsonl", locator: "line 1")
        guard case .noTrainableTokens(_, let reason) = fitter.fit(Conversation(source: source, queryID: nil, turns: [Turn(.user, "Q")])) else {
            Issue.record("no error"); return
        }
        #expect(reason == "the conversation ends with a user turn, not an assistant turn")
        guard case .noTrainableTokens(_, let empty) = fitter.fit(Conversation(source: source, queryID: nil,
                                                                               turns: [Turn(.user, "Q"), Turn(.assistant, "")])) else {
            Issue.record("no error"); return
        }
        #expect(empty == "the last assistant turn is empty")
    }
}

@Suite struct PackingTests {
    /// Best-fit decreasing done the slow, obvious way: for each example (longest first), scan all
    /// sequences for the one with the least room that holds it.
    static func reference(_ lengths: [Int], _ capacity: Int) -> [Int] {
        var loads: [Int] = []
        for n in lengths.sorted(by: >) {
            let candidates = loads.indices.filter { capacity - loads[$0] >= n }
            if let best = candidates.min(by: { capacity - loads[$0] < capacity - loads[$1] }) {
                loads[best] += n
            } else {
                loads.append(n)
            }
        }
        return loads.sorted()
    }

    @Test(arguments: [1, 2, 3])
    func packsLikeTheReferenceWithEveryExampleOnce(seed: UInt64) {
        var state = seed
        func next() -> Int {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return Int(state >> 33)
        }
        let capacity = 1024
        let lengths = (0..<500).map { _ in 1 + next() % (next() % 4 == 0 ? capacity : 300) }
        let plan = Packing.bestFitDecreasing(lengths: lengths, capacity: capacity)
        #expect(plan.flatMap { $0 }.sorted() == Array(lengths.indices))
        #expect(plan.allSatisfy { !$0.isEmpty && $0.map { lengths[$0] }.reduce(0, +) <= capacity })
        #expect(plan.map { $0.map { lengths[$0] }.reduce(0, +) }.sorted() == Self.reference(lengths, capacity))
        #expect(Packing.bestFitDecreasing(lengths: lengths, capacity: capacity) == plan)
    }

    @Test func smallCases() {
        #expect(Packing.bestFitDecreasing(lengths: [], capacity: 8).isEmpty)
        #expect(Packing.bestFitDecreasing(lengths: [3, 8, 5, 2, 6], capacity: 8) == [[1], [4, 3], [2, 0]])
        #expect(Packing.onePerSequence(count: 3) == [[0], [1], [2]])
    }
}

@Suite struct CompactionTests {
    static let head = "Task description: x\nYou have access of the following tools:\n1.alpha: " + String(repeating: "a", count: 70)
        + "\n2.beta: short\n" + FunctionListPrompt.marker
    static let list = FunctionListPrompt(head: head, functions: [
        .object(JSONObject([("name", .string("f_for_alpha")), ("description", .string(String(repeating: "f", count: 70))),
                            ("parameters", .object(JSONObject([("type", .string("object")), ("properties", .object(JSONObject([
                                ("q", .object(JSONObject([("type", .string("string")), ("description", .string("query text")),
                                                          ("example_value", .string("x"))]))),
                            ]))), ("required", .array([.string("q")])), ("optional", .array([]))])))])),
        .object(JSONObject([("name", .string("Finish")), ("description", .string(String(repeating: "z", count: 70)))])),
    ])

    @Test func eachLevelRemovesMoreText() {
        #expect(Self.list.render() == Self.head + PythonRepr.repr(.array(Self.list.functions)))
        let a64 = String(repeating: "a", count: 64) + "...", f64 = String(repeating: "f", count: 64) + "..."
        let z70 = String(repeating: "z", count: 70)
        #expect(Self.list.render(.descriptions(64)) == "Task description: x\nYou have access of the following tools:\n1.alpha: \(a64)\n2.beta: short\n"
                + FunctionListPrompt.marker
                + "[{'name': 'f_for_alpha', 'description': '\(f64)', 'parameters': {'type': 'object', 'properties': {'q': {'type': 'string', 'description': 'query text', 'example_value': 'x'}}, 'required': ['q'], 'optional': []}}, {'name': 'Finish', 'description': '\(z70)'}]")
        #expect(Self.list.render(.descriptions(0)) == "Task description: x\nYou have access of the following tools:\n1.alpha: None\n2.beta: None\n"
                + FunctionListPrompt.marker
                + "[{'name': 'f_for_alpha', 'description': '', 'parameters': {'type': 'object', 'properties': {'q': {'type': 'string', 'description': '', 'example_value': 'x'}}, 'required': ['q'], 'optional': []}}, {'name': 'Finish', 'description': '\(z70)'}]")
        #expect(Self.list.render(.schemaOnly) == "Task description: x\nYou have access of the following tools:\n1.alpha: None\n2.beta: None\n"
                + FunctionListPrompt.marker
                + "[{'name': 'f_for_alpha', 'parameters': {'type': 'object', 'properties': {'q': {'type': 'string'}}, 'required': ['q']}}, {'name': 'Finish', 'description': '\(z70)'}]")
    }
}
