import Foundation
import JSON

/// ToolLLaMA conversation files (`toolllama_G123_dfs_train.json`, what preprocess_toolllama_data.py
/// writes): a JSON list of `{"id": "Step 6: <query>", "conversations": [{"from": "system" | "user" |
/// "function" | "assistant", "value": "..."}]}`. The values are used verbatim. An optional `query_id`
/// (string or integer) per record enables the test-id filter; ToolLLaMA's own files have none.
public enum ToolLLaMAConversations {
    public static func read(file: String) throws(DataError) -> [Conversation] {
        let root = JSONField(try JSONParser.parse(contentsOf: file), file: file)
        return try convert(root)
    }

    public static func convert(_ root: JSONField) throws(DataError) -> [Conversation] {
        var out: [Conversation] = []
        for record in try root.items() {
            let turnsField = try record.field("conversations")
            var turns: [Turn] = []
            for item in try turnsField.items() {
                let fromField = try item.field("from")
                let from = try fromField.string()
                guard let role = Role(rawValue: from) else {
                    throw fromField.error("expected one of \"system\", \"user\", \"assistant\", \"function\", found \"\(from)\"")
                }
                turns.append(Turn(role, try item.field("value").string()))
            }
            if let id = try record.optionalField("id") { _ = try id.string() }
            let functionList = turns.first.flatMap { $0.role == .system ? FunctionListPrompt.parse(systemPrompt: $0.value) : nil }
            out.append(Conversation(source: ExampleSource(file: record.file, locator: record.pathString),
                                    queryID: try queryID(record), turns: turns, functionList: functionList))
        }
        return out
    }

    /// The optional `query_id` of a record: a string or an integer.
    static func queryID(_ record: JSONField) throws(DataError) -> String? {
        guard let field = try record.optionalField("query_id") else { return nil }
        switch field.value {
        case .string(let s): return s
        case .integer(let text): return text
        default: throw field.mismatch("a string or an integer")
        }
    }
}

/// Chat JSONL for users' own data: one `{"messages": [{"role": ..., "content": "..."}]}` object per line,
/// roles `system`, `user`, `assistant`, `function` (or `tool`, the same). Blank lines are skipped.
/// Optional per record: `query_id` (string or integer) for the test-id filter. Every bad line is
/// reported (the first 20 listed), not only the first.
public enum ChatMessagesJSONL {
    public static func read(file: String) throws(DataError) -> [Conversation] {
        try convert(JSONParser.readFile(file), file: file)
    }

    public static func convert(_ bytes: [UInt8], file: String) throws(DataError) -> [Conversation] {
        var out: [Conversation] = []
        var errors: [DataError] = []
        let lines = JSONLines.lines(bytes, file: file)
        for parsed in lines {
            do throws(DataError) {
                out.append(try conversation(parsed.get()))
            } catch {
                errors.append(error)
            }
        }
        if lines.isEmpty { throw DataError(file: file, message: "empty; expected one JSON object per line") }
        if !errors.isEmpty { throw DataError.combining(errors) }
        return out
    }

    static func conversation(_ record: JSONField) throws(DataError) -> Conversation {
        var turns: [Turn] = []
        for message in try record.field("messages").items() {
            let roleField = try message.field("role")
            let name = try roleField.string()
            guard let role = name == "tool" ? .function : Role(rawValue: name) else {
                throw roleField.error("expected one of \"system\", \"user\", \"assistant\", \"function\", \"tool\", found \"\(name)\"")
            }
            turns.append(Turn(role, try message.field("content").string()))
        }
        return Conversation(source: ExampleSource(file: record.file, locator: "line \(record.line!)"),
                            queryID: try ToolLLaMAConversations.queryID(record), turns: turns,
                            functionList: turns.first.flatMap { $0.role == .system ? FunctionListPrompt.parse(systemPrompt: $0.value) : nil })
    }
}

/// JSON Lines: one JSON value per line, blank lines skipped.
public enum JSONLines {
    /// Every record of a file, as a field that names its file and line in errors; every line that is
    /// not JSON is reported (the first 20 listed), not only the first.
    public static func records(file: String) throws(DataError) -> [JSONField] {
        try records(JSONParser.readFile(file), file: file)
    }

    public static func records(_ bytes: [UInt8], file: String) throws(DataError) -> [JSONField] {
        var out: [JSONField] = [], errors: [DataError] = []
        for parsed in lines(bytes, file: file) {
            switch parsed {
            case .success(let record): out.append(record)
            case .failure(let error): errors.append(error)
            }
        }
        if !errors.isEmpty { throw DataError.combining(errors) }
        return out
    }

    /// Each non-blank line, parsed or with its syntax error, in order.
    static func lines(_ bytes: [UInt8], file: String) -> [Result<JSONField, DataError>] {
        var out: [Result<JSONField, DataError>] = []
        var lineNumber = 0
        var start = 0
        while start <= bytes.count {
            let end = bytes[start...].firstIndex(of: 0x0A) ?? bytes.count
            lineNumber += 1
            let line = Array(bytes[start..<end])
            start = end + 1
            if line.allSatisfy({ $0 == 0x20 || $0 == 0x09 || $0 == 0x0D }) { continue }
            do throws(DataError) {
                out.append(.success(JSONField(try JSONParser.parse(line, file: file, firstLine: lineNumber), file: file, line: lineNumber)))
            } catch {
                out.append(.failure(error))
            }
        }
        return out
    }
}
