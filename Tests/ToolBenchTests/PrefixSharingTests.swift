import Foundation
import TestSupport
import Testing
import Tokenizer
import ToolBench

@Suite struct PrefixSharingTests {
    /// An example: BOS, `body`, EOS; the tokens from `target` on (EOS included) are trained.
    static func example(_ body: [Int32], target: Int) -> TokenizedExample {
        let tokens = [2] + body + [2]
        return TokenizedExample(tokens: tokens, lossMask: tokens.indices.map { $0 >= target ? 1 : 0 }, straddlingTokens: 0)
    }

    // Steps of one conversation: each is the one before plus a turn.
    static let step1 = example([10, 11, 12], target: 3)              // [2, 10, 11, 12, 2]
    static let step2 = example([10, 11, 12, 13, 14, 15], target: 6)  // ... 15 trained
    static let step3 = example([10, 11, 12, 13, 14, 15, 16, 17], target: 8)

    @Test func stepsOfOneConversationFormOneChain() {
        let chains = PrefixSharing.chains([Self.step3, Self.step1, Self.step2], eosID: 2)
        #expect(chains == [[1, 2, 0]])
        let chain = SharedChain(members: [Self.step1, Self.step2, Self.step3], eosID: 2)
        #expect(chain.tokens == Self.step3.tokens && chain.ends == [5, 8, 10])
        // step1's </s> is a label over 13, step2's over 16; step3's </s> is its own last token.
        #expect(chain.eosLabels == [true, true, false])
        #expect(chain.lossMask == [0, 0, 0, 1, 1, 0, 1, 1, 1, 1])
        #expect(chain.member(0, eosID: 2) == Self.step1 && chain.member(1, eosID: 2) == Self.step2
                && chain.member(2, eosID: 2) == Self.step3)
    }

    @Test func anExampleThatDiffersAtTheJoinIsNotMerged() {
        // The same text, split into other tokens where the shorter one ends (12 | 13 against 30).
        let other = Self.example([10, 11, 30, 14, 15], target: 5)
        #expect(PrefixSharing.chains([Self.step1, other], eosID: 2) == [[0], [1]])
        // Trimmed differently: the longer one lost a turn of the history.
        let trimmed = Self.example([10, 13, 14, 15, 16, 17], target: 6)
        #expect(PrefixSharing.chains([Self.step1, trimmed], eosID: 2) == [[0], [1]])
    }

    @Test func targetsThatWouldOverlapAreNotMerged() {
        // Every assistant turn trained: the longer example trains step1's target too.
        var both = Self.step2
        both.lossMask[3] = 1
        #expect(PrefixSharing.chains([Self.step1, both], eosID: 2) == [[0], [1]])
    }

    @Test func identicalExamplesAreNotMergedWithEachOther() {
        // A position carries one label: the second copy goes with another longer example or stays alone.
        #expect(PrefixSharing.chains([Self.step1, Self.step1, Self.step2], eosID: 2) == [[1], [0, 2]])
        let branch = Self.example([10, 11, 12, 20, 21], target: 5)
        #expect(PrefixSharing.chains([Self.step1, Self.step1, Self.step2, branch], eosID: 2) == [[0, 2], [1, 3]])
    }

    @Test func aStepSharedByTwoBranchesJoinsOne() {
        let branch = Self.example([10, 11, 12, 20, 21], target: 5)
        let chains = PrefixSharing.chains([Self.step1, Self.step2, branch], eosID: 2)
        #expect(chains.count == 2 && chains.flatMap { $0 }.sorted() == [0, 1, 2])
        #expect(chains.contains { $0.first == 0 && $0.count == 2 })
    }

    /// Real fitting: on the demo at max_seq_len 1024 trim-history drops different numbers of old turns
    /// from neighbouring steps; such steps are text prefixes of each other but are not merged, and every
    /// merged example is an exact token prefix of its chain.
    @Test func demoStepsTrimmedDifferentlyAreNotMerged() throws {
        let root = ToolTuneBinary.projectRoot
        let tokenizer = try Tokenizer(folder: root.appendingPathComponent("demo/tokenizer").path)
        let fitter = ExampleFitter(policy: FitPolicy(maxSeqLen: 1024, mode: .trimHistory, loss: .lastAssistant),
                                   encoder: tokenizer)
        var apart = 0
        for file in try DataSource.files(at: root.appendingPathComponent("demo/data/train/G2_answer").path).files.prefix(40) {
            let pairs = try DataSource.read(file, format: .toolbenchAnswers, keepThoughts: false).conversations
                .compactMap { c -> (turns: [Turn], fitted: FittedExample)? in
                    if case .fitted(let f) = fitter.fit(c) { return (c.turns, f) }
                    return nil
                }
            let chains = PrefixSharing.chains(pairs.map(\.fitted.tokenized), eosID: 2)
            let chainOf = Dictionary(uniqueKeysWithValues: chains.enumerated().flatMap { c, members in members.map { ($0, c) } })
            for chain in chains {
                let laid = SharedChain(members: chain.map { pairs[$0].fitted.tokenized }, eosID: 2)
                for (k, member) in chain.enumerated() { #expect(laid.member(k, eosID: 2) == pairs[member].fitted.tokenized) }
            }
            for (i, a) in pairs.enumerated() {
                let text = ToolLlamaTemplate.render(a.turns, loss: .lastAssistant).body
                for (j, b) in pairs.enumerated() where a.turns.count < b.turns.count {
                    // Text prefixes before fitting, not token prefixes after it.
                    guard ToolLlamaTemplate.render(b.turns, loss: .lastAssistant).body.hasPrefix(text),
                          !b.fitted.tokenized.tokens.starts(with: a.fitted.tokenized.tokens.dropLast()) else { continue }
                    #expect(chainOf[i] != chainOf[j], "\(a.fitted.source) and \(b.fitted.source)")
                    apart += 1
                }
            }
        }
        #expect(apart > 0, "the demo has steps whose fitted tokens differ at the join")
    }
}
