import ToolBench

/// `tooltune prepare --preview N`: examples as the model gets them, decoded from their tokens, with the
/// trained tokens marked.
public enum PreparePreview {
    public enum Style: Sendable {
        /// Trained text in bold green (for a terminal).
        case ansi
        /// Trained text between ⟦ and ⟧ (for pipes and files).
        case brackets

        var open: String { self == .ansi ? "\u{1B}[1;32m" : "⟦" }
        var close: String { self == .ansi ? "\u{1B}[0m" : "⟧" }
    }

    /// One example: a header line (source, lengths, what fitting did), then its decoded text.
    public static func render(_ example: DataPreparation.Example, number: Int, encoder: any TokenEncoder, style: Style) -> String {
        let t = example.tokenized
        var fit: [String] = []
        if let compaction = example.actions.compaction { fit.append("function list: \(compaction)") }
        if example.actions.turnsDropped > 0 { fit.append("\(example.actions.turnsDropped) oldest turns dropped") }
        if let limit = example.actions.observationLimit {
            fit.append("\(example.actions.observationsShortened) observations cut to \(limit) chars")
        }
        var out = "── example \(number): \(example.source) · \(t.tokens.count) tokens"
            + (example.originalLength != t.tokens.count ? " (from \(example.originalLength))" : "")
            + ", \(t.trainableCount) trained" + (fit.isEmpty ? "" : " · " + fit.joined(separator: ", ")) + "\n"
        // Decode runs of equally masked tokens, so multi-byte characters split over tokens stay whole.
        var start = 0
        while start < t.tokens.count {
            var end = start + 1
            while end < t.tokens.count, t.lossMask[end] == t.lossMask[start] { end += 1 }
            let text = (try? encoder.decode(t.tokens[start..<end])) ?? "(undecodable ids)"
            out += t.lossMask[start] == 1 ? style.open + text + style.close : text
            start = end
        }
        return out + "\n"
    }
}
