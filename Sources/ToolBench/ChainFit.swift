/// `data.fit: trim-chain`: the steps of one file fitted so that they stay shareable.
///
/// trim-history fits every step alone, and each drops its own number of oldest history units, so a step is
/// rarely a token prefix of the next one once the history has to be cut. trim-chain cuts the steps of one
/// conversation (each step's turns a prefix of the next's) into windows of consecutive steps that all cut
/// the history as the window's longest step does under trim-history (the same function-list compaction, the
/// same oldest units dropped, the same observation limit): the window's steps are then prefixes of its
/// longest one and train in its sequence (`PrefixSharing`).
///
/// The rule: windows are cut greedily from the first step, each as long as possible while every step in it
/// - keeps the function list trim-history gives it (a window never compacts a step's list further), and
/// - keeps at least half the history tokens trim-history keeps for it (history: the turns between the
///   query and its target, counted as each turn's tokens alone).
/// A step never gets more history than trim-history gives it; what it gives up is counted per step
/// (`FitActions.historyGivenUp`). Steps that fit whole, in a conversation that fits whole, are left alone.
extension ExampleFitter {
    /// Fits the conversations of one file: `fit(_:)` each, and with `trim-chain` the windows above.
    /// Results in input order.
    public func fit(file conversations: [Conversation]) -> [FitResult] {
        segmentCache = [:]
        defer { segmentCache = [:] }
        var results = conversations.map(fit)
        guard policy.mode == .trimChain else { return results }
        for path in Self.continuations(conversations) {
            // Only fitted steps take part; a step that could not be fitted ends a run.
            var run: [Int] = []
            for k in path + [-1] {
                if k >= 0, case .fitted = results[k] {
                    run.append(k)
                    continue
                }
                if run.count > 1 { fitWindows(run, conversations, &results) }
                run = []
            }
        }
        return results
    }

    /// A cut trim-history made: what a window applies to all its steps.
    struct Cut: Equatable {
        var compaction: Compaction?
        var unitsDropped: Int
        var observationLimit: Int?

        init(_ actions: FitActions) {
            compaction = actions.compaction
            unitsDropped = actions.unitsDropped
            observationLimit = actions.observationLimit
        }
    }

    /// `conversation` with `cut` applied: its turns, what that is for it, and the tokens of the history it
    /// keeps (each turn alone); nil when the cut drops more units than it has or compacts a list it lacks.
    func applying(_ cut: Cut, to conversation: Conversation) -> (turns: [Turn], actions: FitActions, history: Int)? {
        var turns = conversation.turns
        var actions = FitActions()
        if let compaction = cut.compaction {
            guard turns[0].role == .system, let list = conversation.functionList else { return nil }
            turns[0].value = list.render(compaction)
            actions.compaction = compaction
        }
        let (protected, units) = Self.history(turns)
        guard cut.unitsDropped <= units.count else { return nil }
        let removed = Set(units.prefix(cut.unitsDropped).joined())
        var kept: [Turn] = [], history = 0
        for i in turns.indices where !removed.contains(i) {
            var turn = turns[i]
            if !protected.contains(i) {
                if let limit = cut.observationLimit, turn.role == .function, let short = Self.cutObservation(turn.value, limit) {
                    turn.value = short
                    actions.observationsShortened += 1
                }
                history += segmentLength(turn, index: i)
            }
            kept.append(turn)
        }
        actions.turnsDropped = removed.count
        actions.unitsDropped = cut.unitsDropped
        actions.observationLimit = actions.observationsShortened > 0 ? cut.observationLimit : nil
        return (kept, actions, history)
    }

    /// Refits the steps of `run` (fitted steps of one conversation, shortest first) in windows.
    private func fitWindows(_ run: [Int], _ conversations: [Conversation], _ results: inout [FitResult]) {
        var alone: [(cut: Cut, history: Int, originalLength: Int)] = []
        for k in run {
            guard case .fitted(let example) = results[k],
                  let applied = applying(Cut(example.actions), to: conversations[k]) else { return }
            alone.append((Cut(example.actions), applied.history, example.originalLength))
        }
        func keeps(_ k: Int, under cut: Cut) -> (turns: [Turn], actions: FitActions, history: Int)? {
            guard alone[k].cut.compaction == cut.compaction, let applied = applying(cut, to: conversations[run[k]]),
                  2 * applied.history >= alone[k].history else { return nil }
            return applied
        }
        var start = 0
        while start < run.count {
            var end = start
            while end + 1 < run.count, (start...(end + 1)).allSatisfy({ keeps($0, under: alone[end + 1].cut) != nil }) { end += 1 }
            let cut = alone[end].cut
            for k in start..<end where alone[k].cut != cut {
                let applied = keeps(k, under: cut)!
                let rendered = ToolLlamaTemplate.render(applied.turns, loss: policy.loss)
                let tokenized = encoder.tokenize(rendered)
                // A prefix of the window's longest step, which fits; checked all the same.
                guard tokenized.tokens.count <= policy.maxSeqLen, tokenized.trainableCount > 0 else { continue }
                var actions = applied.actions
                actions.historyGivenUp = max(0, alone[k].history - applied.history)
                let conversation = conversations[run[k]]
                results[run[k]] = .fitted(FittedExample(source: conversation.source, queryID: conversation.queryID,
                                                        turns: applied.turns, rendered: rendered, tokenized: tokenized,
                                                        originalLength: alone[k].originalLength, actions: actions))
            }
            start = end + 1
        }
    }

    /// The conversations of one file as paths of steps, each step's turns a strict prefix of the next's:
    /// conversations in order of length join the path whose last step they continue (the first such; a
    /// step with two continuations, a DFS branch, goes on in one path and the other starts a new one).
    /// Prefixes are found by hashing every prefix of a conversation's turns once.
    static func continuations(_ conversations: [Conversation]) -> [[Int]] {
        var paths: [[Int]] = []
        var pathsEndingIn: [Int: [Int]] = [:]  // hash of a path's last turns -> paths
        for c in conversations.indices.sorted(by: { (conversations[$0].turns.count, $0) < (conversations[$1].turns.count, $1) }) {
            let turns = conversations[c].turns
            guard !turns.isEmpty else { continue }
            var hasher = Hasher(), prefixHashes: [Int] = []
            for turn in turns {
                hasher.combine(turn)
                let copy = hasher
                prefixHashes.append(copy.finalize())
            }
            var joined: Int?
            for m in stride(from: turns.count - 2, through: 0, by: -1) where joined == nil {
                for p in pathsEndingIn[prefixHashes[m]] ?? [] {
                    let last = conversations[paths[p].last!].turns
                    if last.count == m + 1 && turns.starts(with: last) {
                        joined = p
                        pathsEndingIn[prefixHashes[m]]!.removeAll { $0 == p }
                        break
                    }
                }
            }
            let p = joined ?? paths.count
            if joined == nil { paths.append([]) }
            paths[p].append(c)
            pathsEndingIn[prefixHashes[turns.count - 1], default: []].append(p)
        }
        return paths
    }
}
