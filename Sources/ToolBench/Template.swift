/// Which assistant turns the loss covers.
public enum LossTurns: String, Sendable, CaseIterable, Codable {
    /// ToolLLaMA: only the last assistant turn and the `</s>` after it.
    case lastAssistant = "last-assistant"
    /// Every assistant turn's text; the last one also gets `</s>`.
    case everyAssistant = "every-assistant"
}

/// A conversation printed with the template, with the characters the loss covers.
public struct RenderedText: Sendable, Equatable {
    /// The template output, ending in `</s>` when the last turn is not empty: what ToolLLaMA tokenized.
    public var text: String
    /// `text` without its closing `</s>`: what is tokenized here (the EOS id is appended instead, so a
    /// tokenizer never has to recognise `</s>` written as text).
    public var body: String
    /// UTF-8 byte ranges of `body` that are trained.
    public var trainableBytes: [Range<Int>]
    /// Whether the template closed with `</s>` (then EOS follows the body).
    public var closesWithEOS: Bool
    /// Whether the EOS after the body is trained (the last turn is a trained assistant turn).
    public var trainsEOS: Bool
}

/// ToolBench's `tool-llama-single-round` conversation template (toolbench/tool_conversation.py, separator
/// style ONLY_LAST_ASSISTANT): every turn is `"<Role>: <value>"` followed by `"\n"`, except the last one,
/// followed by `"</s>"`; a turn with an empty value prints as `"<Role>:"` with nothing after it. Roles:
/// System, User, Function, Assistant. No global system text; the tokenizer adds BOS.
public enum ToolLlamaTemplate {
    public static let name = "tool-llama-single-round"
    public static let eosText = "</s>"

    /// The text a turn contributes, and where its value starts inside that text (UTF-8 bytes).
    static func piece(_ turn: Turn, isLast: Bool) -> (text: String, valueStart: Int) {
        let prefix = turn.role.templateName + ":"
        if turn.value.isEmpty { return (prefix, prefix.utf8.count) }
        let lead = prefix + " "
        return (lead + turn.value + (isLast ? "" : "\n"), lead.utf8.count)
    }

    /// The text a model continues to write the next assistant turn: `turns` as context, then
    /// "\nAssistant: " (just "Assistant: " without context), ending exactly where a trained target
    /// ("\nThought: ...") begins, so generation sees what training saw.
    public static func prompt(_ turns: [Turn]) -> String {
        let rendered = render(turns + [Turn(.assistant, "\n")], loss: .lastAssistant)
        return String(decoding: Array(rendered.body.utf8)[..<rendered.trainableBytes.last!.lowerBound], as: UTF8.self)
    }

    /// Renders `turns` and marks the trained bytes.
    public static func render(_ turns: [Turn], loss: LossTurns) -> RenderedText {
        var body = ""
        var trainable: [Range<Int>] = []
        var offset = 0
        for (i, turn) in turns.enumerated() {
            let isLast = i + 1 == turns.count
            let (text, valueStart) = piece(turn, isLast: isLast)
            let trained = turn.role == .assistant && !turn.value.isEmpty && (isLast || loss == .everyAssistant)
            if trained {
                let start = offset + valueStart
                trainable.append(start..<start + turn.value.utf8.count)
            }
            body += text
            offset += text.utf8.count
        }
        let closes = !(turns.last?.value.isEmpty ?? true)
        let trainsEOS = closes && turns.last?.role == .assistant
        return RenderedText(text: closes ? body + eosText : body, body: body, trainableBytes: trainable,
                            closesWithEOS: closes, trainsEOS: trainsEOS)
    }
}
