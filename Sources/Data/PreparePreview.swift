import ToolBench

/// `tooltune prepare --preview N`: sequences as the model gets them (a chain of examples sharing a prefix,
/// or one example), decoded from their tokens, with every trained token and every EOS label marked.
public enum PreparePreview {
    public enum Style: Sendable {
        /// Trained text in bold green, EOS labels that are not input tokens in bold magenta (a terminal).
        case ansi
        /// Trained text between ⟦ and ⟧; an EOS label that is not an input token as ⟦</s>⟧ (pipes, files).
        case brackets

        var open: String { self == .ansi ? "\u{1B}[1;32m" : "⟦" }
        var close: String { self == .ansi ? "\u{1B}[0m" : "⟧" }
        var eosLabel: String { self == .ansi ? "\u{1B}[1;35m</s>\u{1B}[0m" : "⟦</s>⟧" }
    }

    /// One chain (`members`: its examples, shortest first): a header line per example (source, lengths,
    /// what fitting did), then the chain's decoded text. Where a shorter example ends inside the chain, its
    /// `</s>` is a label only (the next input token is the longer example's): it is printed at that point.
    public static func render(_ members: [DataPreparation.Example], number: Int, encoder: any TokenEncoder,
                              style: Style) -> String {
        let chain = SharedChain(members: members.map(\.tokenized), eosID: encoder.eosID)
        var out = members.count == 1 ? "── sequence \(number): 1 example\n"
            : "── sequence \(number): \(members.count) examples share \(chain.tokens.count) tokens "
                + "(\(members.reduce(0) { $0 + $1.tokenized.tokens.count }) as separate examples)\n"
        for example in members {
            let t = example.tokenized
            var fit: [String] = []
            if let compaction = example.actions.compaction { fit.append("function list: \(compaction)") }
            if example.actions.turnsDropped > 0 { fit.append("\(example.actions.turnsDropped) oldest turns dropped") }
            if let limit = example.actions.observationLimit {
                fit.append("\(example.actions.observationsShortened) observations cut to \(limit) chars")
            }
            out += "   \(example.source) · \(t.tokens.count) tokens"
                + (example.originalLength != t.tokens.count ? " (from \(example.originalLength))" : "")
                + ", \(t.trainableCount) trained" + (fit.isEmpty ? "" : " · " + fit.joined(separator: ", ")) + "\n"
        }
        // Decode runs of equally masked tokens, so multi-byte characters split over tokens stay whole; an
        // EOS label ends a run, and the input token at its position starts the next (untrained) one.
        let labelAt = Set(chain.ends.indices.filter { chain.eosLabels[$0] }.map { chain.ends[$0] - 1 })
        var start = 0
        while start < chain.tokens.count {
            if labelAt.contains(start) {
                out += style.eosLabel
                var end = start + 1
                while end < chain.tokens.count, chain.lossMask[end] == 0, !labelAt.contains(end) { end += 1 }
                out += (try? encoder.decode(chain.tokens[start..<end])) ?? "(undecodable ids)"
                start = end
                continue
            }
            let trained = chain.lossMask[start] == 1
            var end = start + 1
            while end < chain.tokens.count, (chain.lossMask[end] == 1) == trained, !labelAt.contains(end) { end += 1 }
            let text = (try? encoder.decode(chain.tokens[start..<end])) ?? "(undecodable ids)"
            out += trained ? style.open + text + style.close : text
            start = end
        }
        return out + "\n"
    }
}
