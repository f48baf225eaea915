import ToolBench

/// One assistant turn read the way ToolBench reads a ToolLLaMA prediction: the text is stripped
/// (`outputs.strip()` in tool_llama_model.py), then `toolbench/inference/utils.py::react_parser` cuts
///
///     thought      = s[s.find("Thought: ") + 9 : s.find("\nAction: ")]
///     action       = s[s.find("Action: ") + 8 : s.find("\nAction Input: ")]
///     action_input = s[s.find("Action Input: ") + 14 :]
///
/// with Python's semantics: `find` gives -1 when the marker is missing, a -1 end means "up to the last
/// character", and an empty slice when the start is past the end. Malformed outputs therefore still
/// give (usually wrong) fields, exactly as ToolBench's pipeline sees them.
public struct ReactOutput: Codable, Equatable, Sendable {
    public var thought: String
    public var action: String
    public var actionInput: String
    /// "Thought: ", "\nAction: " and "\nAction Input: " all appear, in that order: the output has the
    /// format the model was trained to produce.
    public var wellFormed: Bool

    public init(thought: String, action: String, actionInput: String, wellFormed: Bool) {
        self.thought = thought
        self.action = action
        self.actionInput = actionInput
        self.wellFormed = wellFormed
    }

    public static func parse(_ text: String) -> ReactOutput {
        let s = Array(PythonText.strip(text).unicodeScalars)
        let thoughtAt = find(s, "Thought: "), actionLineAt = find(s, "\nAction: ")
        let actionAt = find(s, "Action: "), inputLineAt = find(s, "\nAction Input: ")
        let inputAt = find(s, "Action Input: ")
        return ReactOutput(thought: slice(s, thoughtAt + 9, actionLineAt),
                           action: slice(s, actionAt + 8, inputLineAt),
                           actionInput: slice(s, inputAt + 14, nil),
                           wellFormed: thoughtAt >= 0 && actionLineAt > thoughtAt && inputLineAt > actionLineAt)
    }

    /// Python's `str.find` over Unicode scalars: the first index of `needle`, or -1.
    static func find(_ s: [Unicode.Scalar], _ needle: String) -> Int {
        let n = Array(needle.unicodeScalars)
        guard n.count <= s.count else { return -1 }
        for i in 0...(s.count - n.count) where s[i] == n[0] && Array(s[i..<(i + n.count)]) == n { return i }
        return -1
    }

    /// Python's `s[start:end]` (end nil: to the end), negative indices counting from the end.
    static func slice(_ s: [Unicode.Scalar], _ start: Int, _ end: Int?) -> String {
        func clamp(_ i: Int) -> Int { i < 0 ? max(0, i + s.count) : min(i, s.count) }
        let a = clamp(start), b = end.map(clamp) ?? s.count
        return a < b ? String(String.UnicodeScalarView(s[a..<b])) : ""
    }
}
