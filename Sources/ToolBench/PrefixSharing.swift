/// Shared prefixes (`data.share_prefixes`): ToolBench turns one answer file into one example per assistant
/// step, and step k is, token for token, step k-1 plus more turns. With causal attention the logits at a
/// position depend only on the tokens before it, so one sequence, the longest example of such a chain, can
/// carry the targets of every example in it, and each target's loss is the one its own example gives.
///
/// Example x joins a chain whose longest example is y when, after fitting:
/// - x's tokens without its closing EOS ("its key": BOS included) are a strict token prefix of y's key
///   (tokens, not text: BPE may split the join differently, and then x is not merged);
/// - the targets stay apart: every target of a member lies after the end of the shorter member before it
///   (member k's labels are the positions `ends[k-1] ..< ends[k]`, `ends[k]` being its length), so
///   each position has one label and each example's loss can be read back from its own span.
/// Where x's EOS is a target and y goes on with another token, the label of that position is EOS while
/// its input is y's token: labels are separate from inputs (`SharedChain.eosLabels`).
public enum PrefixSharing {
    /// The chains of `examples` (one source file's, any order): each chain lists example indices from the
    /// shortest member to the longest, whose tokens the chain is; every example is in exactly one chain.
    /// Chains are ordered by their longest member's index.
    ///
    /// Keys are sorted, so an example's possible chain heads (the longer examples its key is a prefix of)
    /// follow it in one run. Examples are then placed from the longest down: each joins the first chain (in
    /// key order) whose head it prefixes and whose members' target spans stay apart with it, or becomes the
    /// head of a new chain. Any chain that takes an example costs no tokens, so the order only breaks ties.
    public static func chains(_ examples: [TokenizedExample], eosID: Int32) -> [[Int]] {
        let keyLength = examples.map { $0.tokens.last == eosID ? $0.tokens.count - 1 : $0.tokens.count }
        func key(_ i: Int) -> ArraySlice<Int32> { examples[i].tokens[..<keyLength[i]] }
        let sorted = examples.indices.sorted { a, b in
            let ka = key(a), kb = key(b)
            return ka.lexicographicallyPrecedes(kb) || (ka == kb && a < b)
        }
        var rank = [Int](repeating: 0, count: examples.count)
        for (r, i) in sorted.enumerated() { rank[i] = r }
        // The run of sorted keys that start with example i's key (i itself first).
        func descendants(_ i: Int) -> Range<Int> {
            var end = rank[i] + 1
            while end < sorted.count, key(sorted[end]).starts(with: key(i)) { end += 1 }
            return rank[i]..<end
        }
        let firstTarget = examples.map { $0.lossMask.firstIndex(of: 1) ?? $0.tokens.count }
        let length = examples.map(\.tokens.count)
        // Chains by their head's sorted rank, members shortest first. Examples come longest first, so each
        // one placed becomes its chain's shortest member.
        var chainOfRank: [Int: [Int]] = [:]
        var headRanks: [Int] = []  // ascending
        for x in examples.indices.sorted(by: { (length[$0], $1) > (length[$1], $0) }) {
            let run = descendants(x)
            let candidates = headRanks[(headRanks.firstIndex { $0 > run.lowerBound } ?? headRanks.count)...]
            let chosen = candidates.prefix { run.contains($0) }.first { r in
                let shortest = chainOfRank[r]![0]
                return keyLength[sorted[r]] > keyLength[x] && length[shortest] > length[x] && firstTarget[shortest] >= length[x]
            }
            if let r = chosen {
                chainOfRank[r]!.insert(x, at: 0)
            } else {
                chainOfRank[rank[x]] = [x]
                headRanks.insert(rank[x], at: headRanks.firstIndex { $0 > rank[x] } ?? headRanks.count)
            }
        }
        return chainOfRank.values.sorted { $0.last! < $1.last! }
    }
}

/// A chain as one sequence: the longest member's tokens with every member's targets.
public struct SharedChain: Sendable, Equatable {
    /// The longest member's tokens (BOS first, its EOS last).
    public var tokens: [Int32]
    /// 1 where a member has a target (the label predicted from the tokens before).
    public var lossMask: [UInt8]
    /// Member k's labels lie in `ends[k-1] ..< ends[k]` (from 0 for the first); `ends[k]` is its length,
    /// and the last end is `tokens.count`.
    public var ends: [Int]
    /// Whether the label at member k's last position (`ends[k] - 1`) is EOS in place of the token there:
    /// the member's trained `</s>` where the longer ones go on.
    public var eosLabels: [Bool]

    /// Lays out `members` (a chain of `PrefixSharing.chains`, shortest first).
    public init(members: [TokenizedExample], eosID: Int32) {
        let longest = members.last!
        tokens = longest.tokens
        lossMask = [UInt8](repeating: 0, count: tokens.count)
        ends = []
        eosLabels = []
        var start = 0
        for (k, member) in members.enumerated() {
            let end = member.tokens.count
            precondition(end > start && end <= tokens.count, "PrefixSharing: chain members must grow strictly")
            for i in start..<end where member.lossMask[i] == 1 { lossMask[i] = 1 }
            precondition(member.lossMask[..<start].allSatisfy { $0 == 0 }, "PrefixSharing: target spans overlap")
            let last = end - 1
            let isEOSLabel = k < members.count - 1 && member.tokens[last] == eosID && member.lossMask[last] == 1
                && tokens[last] != eosID
            precondition(member.tokens[..<last] == tokens[..<last] && (isEOSLabel || member.tokens[last] == tokens[last]),
                         "PrefixSharing: a member is not a prefix of the chain")
            ends.append(end)
            eosLabels.append(isEOSLabel)
            start = end
        }
    }

    /// Member k as a separate example: the chain's first `ends[k]` tokens (EOS last where its label is one)
    /// and its own targets only.
    public func member(_ k: Int, eosID: Int32) -> TokenizedExample {
        let end = ends[k], start = k == 0 ? 0 : ends[k - 1]
        var ownTokens = Array(tokens[..<end])
        if eosLabels[k] { ownTokens[end - 1] = eosID }
        var mask = [UInt8](repeating: 0, count: end)
        mask.replaceSubrange(start..<end, with: lossMask[start..<end])
        return TokenizedExample(tokens: ownTokens, lossMask: mask, straddlingTokens: 0)
    }
}
