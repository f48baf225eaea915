import Foundation
import JSON

/// ToolBench's raw answer files (`answer/G1_answer/<qid>_ChatGPT_DFS_woFilter_w2.json`) converted exactly
/// as ToolBench's `preprocess/preprocess_toolllama_data.py` does:
/// - files with `answer_generation.valid_data == false` give nothing;
/// - every `answer_generation.train_messages` entry that ends with an assistant function call is one
///   example (its id: `Step <index of that message>: <query>`);
/// - system → `process_system_message(content, functions)`: the output-format sentence inserted after
///   "with a function call to actually excute your step." and `str(functions)` appended;
/// - user and function contents verbatim;
/// - assistant with a function call → `"\nThought: " + "\nAction: <name>" + "\nAction Input: <arguments>"`
///   (the message's own `content`, its thought, is dropped unless `keepThoughts`);
/// - assistant without a function call → its content buffered as `"\nThought: <content>"` and put in
///   front of the next function-call turn; any other message empties the buffer; an entry whose last
///   message is such a content-only turn gives no example.
public enum ToolBenchAnswers {
    /// process_system_message's anchor and the text it inserts after it.
    public static let formatAnchor = "with a function call to actually excute your step."
    public static let formatInstruction = " Your output should follow this format:\nThought:\nAction\nAction Input:\n"

    /// `process_system_message(system, functions)` (toolbench/utils.py), kept as data: the output-format
    /// sentence inserted after `formatAnchor` (which the caller has checked is there), then
    /// `FunctionListPrompt.marker` and `str(functions)`.
    public static func processSystemMessage(_ system: String, functions: [JSONValue]) -> FunctionListPrompt {
        FunctionListPrompt(head: system.replacingOccurrences(of: formatAnchor, with: formatAnchor + formatInstruction)
                               + FunctionListPrompt.marker, functions: functions)
    }

    /// The query id in a ToolBench answer file name: the digits before the first "_" (`10_ChatGPT_...`).
    public static func queryID(fileName: String) -> String? {
        let base = (fileName as NSString).lastPathComponent
        guard let underscore = base.firstIndex(of: "_") else { return nil }
        let id = base[..<underscore]
        return !id.isEmpty && id.allSatisfy(\.isASCII) && id.allSatisfy(\.isNumber) ? String(id) : nil
    }

    /// Reads one answer file.
    public static func read(file: String, keepThoughts: Bool) throws(DataError) -> FileContents {
        let root = try JSONParser.parse(contentsOf: file)
        return try convert(JSONField(root, file: file), queryID: queryID(fileName: file), keepThoughts: keepThoughts)
    }

    /// Converts a parsed answer file.
    public static func convert(_ root: JSONField, queryID: String?, keepThoughts: Bool) throws(DataError) -> FileContents {
        let generation = try root.field("answer_generation")
        guard try generation.field("valid_data").bool() else {
            return FileContents(format: .toolbenchAnswers, invalidAnswerFile: true)
        }
        let query = try generation.field("query").string()
        let functionsField = try generation.field("function")
        let functions = try functionsField.items().map(\.value)
        let functionRepr = PythonRepr.repr(.array(functions))
        var conversations: [Conversation] = []
        var skipped = 0
        var systemTurns: [String: SystemTurn] = [:]
        for entry in try generation.field("train_messages").items() {
            if let conversation = try convertEntry(entry, query: query, functions: functions, functionRepr: functionRepr,
                                                   keepThoughts: keepThoughts, queryID: queryID, systemTurns: &systemTurns) {
                conversations.append(conversation)
            } else {
                skipped += 1
            }
        }
        return FileContents(conversations: conversations, format: .toolbenchAnswers, entriesWithoutExample: skipped)
    }

    /// A processed system message: its function list and the turn's text.
    struct SystemTurn {
        var functionList: FunctionListPrompt
        var text: String
    }

    /// One train_messages entry → one example, or nil when the entry gives none. `systemTurns` holds the
    /// file's processed system messages (every entry repeats the same one; processing it is a string search).
    static func convertEntry(_ entry: JSONField, query: String, functions: [JSONValue], functionRepr: String,
                             keepThoughts: Bool, queryID: String?,
                             systemTurns: inout [String: SystemTurn]) throws(DataError) -> Conversation? {
        let messages = try entry.items()
        var turns: [Turn] = []
        var functionList: FunctionListPrompt?
        var pendingThought = ""
        for (i, message) in messages.enumerated() {
            let roleField = try message.field("role")
            let roleName = try roleField.string()
            guard let role = Role(rawValue: roleName) else {
                throw roleField.error("expected one of \"system\", \"user\", \"assistant\", \"function\", found \"\(roleName)\"")
            }
            let isLast = i + 1 == messages.count
            switch role {
            case .assistant:
                // A missing `content` is read as null (some released answer files leave it out).
                let content = try message.optionalField("content")?.optionalString()
                guard let call = try message.optionalField("function_call") else {
                    if isLast { return nil }
                    pendingThought += "\nThought: " + (content ?? "")
                    continue
                }
                let name = try call.field("name").string()
                let arguments = try call.field("arguments").string()
                if keepThoughts, let content, !content.isEmpty { pendingThought += "\nThought: " + content }
                if pendingThought.isEmpty { pendingThought = "\nThought: " }
                turns.append(Turn(.assistant, pendingThought + "\nAction: " + name + "\nAction Input: " + arguments))
                pendingThought = ""
                if isLast {
                    return Conversation(source: ExampleSource(file: entry.file, locator: entry.pathString + " (Step \(i))"),
                                        queryID: queryID, turns: turns, functionList: functionList)
                }
            case .system:
                let contentField = try message.field("content")
                let content = try contentField.string()
                let system: SystemTurn
                if let known = systemTurns[content] {
                    system = known
                } else {
                    guard content.contains(formatAnchor) else {
                        throw contentField.error("the system prompt lacks \"\(formatAnchor)\", which ToolBench's process_system_message requires")
                    }
                    let list = processSystemMessage(content, functions: functions)
                    system = SystemTurn(functionList: list, text: list.head + functionRepr)
                    systemTurns[content] = system
                }
                if turns.isEmpty { functionList = system.functionList }
                turns.append(Turn(.system, system.text))
                pendingThought = ""
            case .user, .function:
                turns.append(Turn(role, try message.field("content").string()))
                pendingThought = ""
            }
        }
        return nil
    }
}
