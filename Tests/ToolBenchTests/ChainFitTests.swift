import Testing
@testable import ToolBench

/// `data.fit: trim-chain` with the byte tokenizer (one token per byte), on the five steps of one
/// conversation: step k is the system prompt, the query, k-1 history units (an assistant call and its
/// observation, U tokens each) and the k-th call as its target.
@Suite struct ChainFitTests {
    static func call(_ i: Int) -> String { "\nThought: \nAction: f\nAction Input: {\"i\": \(i)}" }
    static func observation(_ i: Int) -> String { "{\"r\": \"" + String(repeating: "o", count: 60) + "\(i)\"}" }
    static let head = [Turn(.system, "SYS"), Turn(.user, "\nQ\nBegin!\n")]

    static func step(_ k: Int) -> Conversation {
        var turns = head
        for i in 1..<k { turns += [Turn(.assistant, call(i)), Turn(.function, observation(i))] }
        turns.append(Turn(.assistant, call(k)))
        return Conversation(source: ExampleSource(file: "f.json", locator: "step \(k)"), queryID: "1", turns: turns)
    }

    static let steps = (1...5).map(step)
    /// Tokens of step 1 (BOS, system, query, target, EOS) and of one history unit.
    static let core = ToolLlamaTemplate.render(steps[0].turns, loss: .lastAssistant).body.utf8.count + 2
    static let unit = ("\nAssistant: " + call(1)).utf8.count + ("\nFunction: " + observation(1)).utf8.count

    /// Room for two and a half units: trim-history keeps steps 1-3 whole and drops 1 and 2 units of steps 4
    /// and 5 (their observations are too short to cut to 128 characters).
    func fitted(_ mode: FitMode) -> [FittedExample] {
        let fitter = ExampleFitter(policy: FitPolicy(maxSeqLen: Self.core + 5 * Self.unit / 2, mode: mode, loss: .lastAssistant),
                                   encoder: ByteTokenizer())
        return fitter.fit(file: Self.steps).map { result in
            guard case .fitted(let example) = result else { preconditionFailure("\(result)") }
            return example
        }
    }

    @Test func trimHistoryFitsEachStepAlone() {
        let examples = fitted(.trimHistory)
        #expect(examples.map(\.actions.unitsDropped) == [0, 0, 0, 1, 2])
        // Steps 4 and 5 lose different units: 4 is no prefix of 5, so only steps 1-3 share.
        #expect(PrefixSharing.chains(examples.map(\.tokenized), eosID: 2) == [[0, 1, 2], [3], [4]])
    }

    @Test func trimChainCutsAWindowLikeItsLongestStep() {
        let history = fitted(.trimHistory), chain = fitted(.trimChain)
        // Windows from the first step: steps 1-3 (nothing dropped); step 4 cannot join them (step 1 has no
        // unit to drop), so it opens a window with step 5 and drops 2 units as 5 does, keeping 1 of its 2:
        // half its history, which the rule allows.
        #expect(chain.map(\.actions.unitsDropped) == [0, 0, 0, 2, 2])
        #expect(chain.map(\.actions.historyGivenUp) == [0, 0, 0, Self.unit, 0])
        #expect(PrefixSharing.chains(chain.map(\.tokenized), eosID: 2) == [[0, 1, 2], [3, 4]])
        // Only step 4 changed: the others are exactly what trim-history gives, and every step still ends with
        // its own target and fits.
        for k in [0, 1, 2, 4] { #expect(chain[k].tokenized == history[k].tokenized) }
        #expect(chain[3].turns.map(\.value) == Self.head.map(\.value) + [Self.call(3), Self.observation(3), Self.call(4)])
        #expect(chain.allSatisfy { $0.tokenized.tokens.count <= Self.core + 5 * Self.unit / 2 })
        #expect(chain[3].originalLength == history[3].originalLength && chain[3].actions.turnsDropped == 4)
    }

    @Test func aStepKeepsAtLeastHalfItsHistory() {
        // Room for one and a half units: from step 3 on, each step keeps one unit alone. Joining the next
        // step's window would leave it none, less than half, so trim-chain changes nothing.
        let fitter = ExampleFitter(policy: FitPolicy(maxSeqLen: Self.core + 3 * Self.unit / 2, mode: .trimChain, loss: .lastAssistant),
                                   encoder: ByteTokenizer())
        let chain = fitter.fit(file: Self.steps).compactMap { result -> FittedExample? in
            if case .fitted(let example) = result { return example }
            return nil
        }
        #expect(chain.map(\.actions.unitsDropped) == [0, 0, 1, 2, 3])
        #expect(chain.allSatisfy { $0.actions.historyGivenUp == 0 })
        #expect(PrefixSharing.chains(chain.map(\.tokenized), eosID: 2) == [[0, 1], [2], [3], [4]])
    }

    @Test func conversationsThatContinueEachOtherFormPaths() {
        // Two branches after step 2 (a DFS tree): step 3 and another third step.
        var branch = Self.steps[2]
        branch.turns[branch.turns.count - 1] = Turn(.assistant, Self.call(9))
        let conversations = [Self.steps[2], Self.steps[0], branch, Self.steps[1], Self.steps[3]]
        #expect(ExampleFitter.continuations(conversations) == [[1, 3, 0, 4], [2]])
    }
}
