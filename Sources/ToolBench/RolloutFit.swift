/// The prompt policy of rollouts. A rollout's next turn depends on what the last call answered, so,
/// unlike a training example, the newest assistant turn and the function turns after it (the newest
/// unit) are the last thing to go. To fit `max_seq_len - reserve` tokens, in this order:
/// 1. drop the fewest older units, oldest first;
/// 2. with every older unit gone, compact the function list (`Compaction.ladder`), the least that fits;
/// 3. then also cut the newest unit's observations (512, 256, 128 characters + "..."), each with the
///    least compaction that fits.
/// The system prompt, the query and the newest unit are never dropped: when even step 3 cannot fit them,
/// the prompt does not fit and the rollout ends as context-exhausted (a prompt with the newest unit
/// dropped would show the model the state before its last call, and it would repeat that call).
extension ExampleFitter {
    public func fitRolloutPrompt(_ context: Conversation, reserve: Int) -> PromptFitResult {
        let limit = policy.maxSeqLen - reserve
        let original = ToolLlamaTemplate.prompt(context.turns)
        let originalTokens = encoder.encode(original, addBOS: true)
        if originalTokens.count <= limit {
            return .fitted(FittedPrompt(turns: context.turns, text: original, tokens: originalTokens,
                                        originalLength: originalTokens.count, actions: FitActions()))
        }
        let tooLong = "\(originalTokens.count) tokens > \(limit) (max_seq_len \(policy.maxSeqLen) - \(reserve) new tokens)"
        let turns = context.turns
        // trim-chain fits training steps together; a rollout prompt stands alone, fitted as trim-history does.
        guard policy.mode != .drop, !turns.isEmpty else { return .tooLong(tokens: originalTokens.count, reason: tooLong) }

        // The newest unit starts at the last assistant turn after the query; older units are the
        // assistant turns (with their function turns) and lone user turns between the query and it.
        let query = turns.firstIndex { $0.role == .user } ?? 0
        let newest = turns.lastIndex { $0.role == .assistant }.flatMap { $0 > query ? $0 : nil } ?? turns.count
        var units: [[Int]] = []
        for i in (query + 1)..<newest {
            if turns[i].role == .function, let end = units.last?.last, end == i - 1 {
                units[units.count - 1].append(i)
            } else {
                units.append([i])
            }
        }
        let newestFunctions = (newest..<turns.count).filter { turns[$0].role == .function }

        // Token counts per turn for the estimates; the text of a candidate is tokenized whole before use.
        let lengths = turns.indices.map { segmentLength(turns[$0], index: $0) }
        let tail = segmentLength(Turn(.assistant, ""), index: 1) + 1  // "\nAssistant:" and BOS
        var systemLengths: [Compaction: (text: String, length: Int)] = [:]
        func system(_ compaction: Compaction) -> (text: String, length: Int)? {
            guard turns[0].role == .system, let list = context.functionList else { return nil }
            if let known = systemLengths[compaction] { return known }
            let text = list.render(compaction)
            let measured = (text, segmentLength(Turn(.system, text), index: 0))
            systemLengths[compaction] = measured
            return measured
        }

        struct Candidate {
            var dropped: Int
            var compaction: Compaction?
            var observationLimit: Int?
        }
        var candidates = (0...units.count).map { Candidate(dropped: $0) }
        candidates += Compaction.ladder.map { Candidate(dropped: units.count, compaction: $0) }
        for observationLimit in FitPolicy.observationLimits {
            candidates += ([nil] + Compaction.ladder.map(Optional.some)).map {
                Candidate(dropped: units.count, compaction: $0, observationLimit: observationLimit)
            }
        }

        var shortest = Int.max
        for candidate in candidates {
            let removed = Set(units.prefix(candidate.dropped).joined())
            var chosen = turns.indices.filter { !removed.contains($0) }.map { turns[$0] }
            var estimate = tail + turns.indices.filter { !removed.contains($0) }.reduce(0) { $0 + lengths[$1] }
            var actions = FitActions()
            actions.turnsDropped = removed.count
            if let compaction = candidate.compaction {
                guard let (text, length) = system(compaction) else { continue }
                chosen[0].value = text
                estimate += length - lengths[0]
                actions.compaction = compaction
            }
            if let observationLimit = candidate.observationLimit {
                let offset = turns.count - chosen.count  // the newest unit sits at the end of both
                for i in newestFunctions where turns[i].value.unicodeScalars.count > observationLimit {
                    let cut = PythonText.prefix(turns[i].value, observationLimit) + "..."
                    chosen[i - offset].value = cut
                    estimate += segmentLength(Turn(.function, cut), index: i) - lengths[i]
                    actions.observationsShortened += 1
                }
                guard actions.observationsShortened > 0 else { continue }  // nothing to cut: same text as before
                actions.observationLimit = observationLimit
            }
            guard estimate <= limit else {
                shortest = min(shortest, estimate)
                continue
            }
            let text = ToolLlamaTemplate.prompt(chosen)
            let tokens = encoder.encode(text, addBOS: true)
            shortest = min(shortest, tokens.count)
            if tokens.count <= limit {
                return .fitted(FittedPrompt(turns: chosen, text: text, tokens: tokens, originalLength: originalTokens.count,
                                            actions: actions))
            }
        }
        let what = newest < turns.count ? "the system prompt, the query and the newest step" : "the system prompt and the query"
        return .tooLong(tokens: originalTokens.count,
                        reason: "\(tooLong); \(what) do not fit even with older steps dropped, the function list cut to its schema and observations cut to \(FitPolicy.observationLimits.last!) characters (shortest try: about \(shortest) tokens)")
    }
}
