/// The speaker of one turn; `templateName` is how the tool-llama-single-round template prints it.
public enum Role: String, Sendable, CaseIterable {
    case system, user, assistant, function

    public var templateName: String {
        switch self {
        case .system: "System"
        case .user: "User"
        case .assistant: "Assistant"
        case .function: "Function"
        }
    }
}

public struct Turn: Sendable, Hashable {
    public var role: Role
    public var value: String

    public init(_ role: Role, _ value: String) {
        self.role = role
        self.value = value
    }
}

/// Where an example came from: the file and the place inside it, for reports and previews.
public struct ExampleSource: Sendable, Equatable, CustomStringConvertible {
    public var file: String
    /// A JSON path (`$.answer_generation.train_messages[2]`, `$[17]`) or `line 5` for JSONL.
    public var locator: String

    public init(file: String, locator: String) {
        self.file = file
        self.locator = locator
    }

    public var description: String { "\(file) \(locator)" }
}

/// One training example before rendering: the turns in order, the last of which is normally the
/// assistant target.
public struct Conversation: Sendable {
    public var source: ExampleSource
    /// The ToolBench query id, when the input names one (answer file names, `query_id` fields).
    public var queryID: String?
    public var turns: [Turn]
    /// Set when `turns[0]` is a system prompt that ends with a function list.
    public var functionList: FunctionListPrompt?

    public init(source: ExampleSource, queryID: String?, turns: [Turn], functionList: FunctionListPrompt? = nil) {
        self.source = source
        self.queryID = queryID
        self.turns = turns
        self.functionList = functionList
    }
}
