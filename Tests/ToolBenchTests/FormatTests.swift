import Foundation
import JSON
import TestSupport
import Testing
import ToolBench

/// A small answer file in ToolBench's raw format, written as JSON text so key order is the file's.
enum AnswerFixture {
    static let system = "You are AutoGPT, you can use many tools(functions) to do the following task.\n"
        + "At each step, you need to give your thought to analyze the status now and what to do next, with a function call to actually excute your step.\n"
        + "Let's Begin!\nTask description: demo\n"
    static let functions = #"[{"name": "get_x_for_demo", "description": "Gets x. It's \"quoted\".", "parameters": {"type": "object", "properties": {"is_id": {"type": "string", "description": "The id", "example_value": "A1"}}, "required": ["is_id"], "optional": []}}, {"name": "Finish", "description": "Finish it", "parameters": {"type": "object", "properties": {"return_type": {"type": "string", "enum": ["give_answer", "give_up_and_restart"]}}, "required": ["return_type"]}}]"#

    static func message(_ role: String, _ content: String?, call: (String, String)? = nil) -> String {
        var parts = [#""role": "\#(role)""#]
        parts.append(#""content": \#(content.map(quote) ?? "null")"#)
        if let (name, arguments) = call {
            parts.append(#""function_call": {"name": \#(quote(name)), "arguments": \#(quote(arguments))}"#)
        }
        return "{" + parts.joined(separator: ", ") + "}"
    }

    static func quote(_ s: String) -> String {
        String(decoding: try! JSONSerialization.data(withJSONObject: s, options: .fragmentsAllowed), as: UTF8.self)
    }

    static func file(valid: Bool = true, entries: [[String]]) -> String {
        let messages = entries.map { "[" + $0.joined(separator: ", ") + "]" }.joined(separator: ", ")
        return #"{"win": true, "answer_generation": {"valid_data": \#(valid), "query": "Find x.", "function": \#(functions), "train_messages": [\#(messages)]}}"#
    }

    static let prefix = [message("system", system), message("user", "\nFind x.\nBegin!\n")]
    static let call = message("assistant", "I should call it.", call: ("get_x_for_demo", "{\n  \"is_id\": \"A1\"\n}"))
    static let observation = #"{"role": "function", "name": "get_x_for_demo", "content": "{\"error\": \"\", \"response\": \"x=1\"}"}"#
    static let finish = message("assistant", nil, call: ("Finish", "{\n  \"return_type\": \"give_answer\",\n  \"final_answer\": \"x is 1\"\n}"))
    static let thinking = message("assistant", "Now I know x.")

    static func convert(_ text: String, keepThoughts: Bool = false) throws(DataError) -> FileContents {
        let root = JSONField(try JSONParser.parse(Array(text.utf8), file: "G1_answer/7_ChatGPT_DFS_woFilter_w2.json"),
                             file: "G1_answer/7_ChatGPT_DFS_woFilter_w2.json")
        return try ToolBenchAnswers.convert(root, queryID: "7", keepThoughts: keepThoughts)
    }
}

@Suite struct AnswerFileTests {
    typealias F = AnswerFixture

    @Test func convertsAsToolBenchPreprocessingDoes() throws {
        let result = try F.convert(F.file(entries: [F.prefix + [F.call], F.prefix + [F.call, F.observation, F.thinking, F.finish]]))
        #expect(!result.invalidAnswerFile && result.entriesWithoutExample == 0 && result.conversations.count == 2)
        let functionsRepr = #"[{'name': 'get_x_for_demo', 'description': 'Gets x. It\'s "quoted".', 'parameters': {'type': 'object', 'properties': {'is_id': {'type': 'string', 'description': 'The id', 'example_value': 'A1'}}, 'required': ['is_id'], 'optional': []}}, {'name': 'Finish', 'description': 'Finish it', 'parameters': {'type': 'object', 'properties': {'return_type': {'type': 'string', 'enum': ['give_answer', 'give_up_and_restart']}}, 'required': ['return_type']}}]"#
        let system = "You are AutoGPT, you can use many tools(functions) to do the following task.\n"
            + "At each step, you need to give your thought to analyze the status now and what to do next, with a function call to actually excute your step. Your output should follow this format:\nThought:\nAction\nAction Input:\n\n"
            + "Let's Begin!\nTask description: demo\n"
            + "\nSpecifically, you have access to the following APIs: " + functionsRepr
        let second = result.conversations[1]
        #expect(second.turns == [
            Turn(.system, system), Turn(.user, "\nFind x.\nBegin!\n"),
            // The thought next to the call is dropped; the content-only turn is buffered into the next call.
            Turn(.assistant, "\nThought: \nAction: get_x_for_demo\nAction Input: {\n  \"is_id\": \"A1\"\n}"),
            Turn(.function, "{\"error\": \"\", \"response\": \"x=1\"}"),
            Turn(.assistant, "\nThought: Now I know x.\nAction: Finish\nAction Input: {\n  \"return_type\": \"give_answer\",\n  \"final_answer\": \"x is 1\"\n}"),
        ])
        #expect(second.queryID == "7")
        #expect(second.source.locator == "$.answer_generation.train_messages[1] (Step 5)")
        #expect(second.functionList?.render() == system)
    }

    @Test func keepThoughtsKeepsTheThoughtNextToTheCall() throws {
        let result = try F.convert(F.file(entries: [F.prefix + [F.call]]), keepThoughts: true)
        #expect(result.conversations[0].turns.last?.value == "\nThought: I should call it.\nAction: get_x_for_demo\nAction Input: {\n  \"is_id\": \"A1\"\n}")
    }

    @Test func entriesEndingWithoutACallAndInvalidFilesGiveNothing() throws {
        let result = try F.convert(F.file(entries: [F.prefix + [F.call, F.observation, F.thinking], F.prefix]))
        #expect(result.conversations.isEmpty && result.entriesWithoutExample == 2)
        let invalid = try F.convert(#"{"answer_generation": {"valid_data": false, "query": 3}}"#)
        #expect(invalid.invalidAnswerFile && invalid.conversations.isEmpty)
    }

    @Test func queryIDsComeFromFileNames() {
        #expect(ToolBenchAnswers.queryID(fileName: "data/G2_answer/127_ChatGPT_DFS_woFilter_w2.json") == "127")
        #expect(ToolBenchAnswers.queryID(fileName: "answers/notes_1.json") == nil)
    }

    func failure(_ text: String) -> String {
        do {
            _ = try F.convert(text)
            return "converted"
        } catch {
            return error.description
        }
    }

    @Test func malformedFilesNameTheFileAndPath() {
        let file = "G1_answer/7_ChatGPT_DFS_woFilter_w2.json"
        let nullName = F.file(entries: [F.prefix + [F.message("assistant", nil, call: ("x", "{}")).replacingOccurrences(of: #""name": "x""#, with: #""name": null"#)]])
        #expect(failure(nullName) == "\(file): $.answer_generation.train_messages[0][2].function_call.name: expected a string, found null")
        #expect(failure(#"{"win": true}"#) == "\(file): $: missing the key \"answer_generation\" (the object has \"win\")")
        #expect(failure(#"{"answer_generation": {"valid_data": "yes"}}"#) == "\(file): $.answer_generation.valid_data: expected true or false, found a string")
        let badRole = F.file(entries: [[#"{"role": "tool", "content": "x"}"#]])
        #expect(failure(badRole) == "\(file): $.answer_generation.train_messages[0][0].role: expected one of \"system\", \"user\", \"assistant\", \"function\", found \"tool\"")
        let noAnchor = F.file(entries: [[F.message("system", "Hello"), F.call]])
        #expect(failure(noAnchor).hasPrefix("\(file): $.answer_generation.train_messages[0][0].content: the system prompt lacks \"with a function call to actually excute your step.\""))
        let truncated = String(F.file(entries: [F.prefix + [F.call]]).prefix(900))
        #expect(failure(truncated).contains("the JSON is truncated"))
        #expect(failure(truncated).hasPrefix("\(file):1:901: $.answer_generation.train_messages[0]"))
    }
}

@Suite struct ConversationFileTests {
    @Test func toolLLaMAFilesKeepTheirTextAndFindTheFunctionList() throws {
        let answers = try AnswerFixture.convert(AnswerFixture.file(entries: [AnswerFixture.prefix + [AnswerFixture.call]]))
        let turns = answers.conversations[0].turns
        let records: [[String: Any]] = [["id": "Step 2: Find x.", "query_id": 7,
                                         "conversations": turns.map { ["from": $0.role.rawValue, "value": $0.value] }]]
        let text = try JSONSerialization.data(withJSONObject: records)
        let converted = try ToolLLaMAConversations.convert(JSONField(try JSONParser.parse([UInt8](text), file: "t.json"), file: "t.json"))
        #expect(converted.count == 1 && converted[0].turns == turns && converted[0].queryID == "7")
        #expect(converted[0].functionList == answers.conversations[0].functionList)
        #expect(converted[0].source.locator == "$[0]")

        let bad = #"[{"id": "x", "conversations": [{"from": "gpt", "value": "hi"}]}]"#
        #expect(throws: DataError(file: "t.json", path: "$[0].conversations[0].from",
                                  message: "expected one of \"system\", \"user\", \"assistant\", \"function\", found \"gpt\"")) {
            try ToolLLaMAConversations.convert(JSONField(try JSONParser.parse(Array(bad.utf8), file: "t.json"), file: "t.json"))
        }
    }

    @Test func chatJSONLReadsLinesAndNamesTheLineOfAnError() throws {
        let text = """
            {"messages": [{"role": "system", "content": "S"}, {"role": "user", "content": "Q"}, {"role": "assistant", "content": "A"}]}

            {"query_id": "12", "messages": [{"role": "user", "content": "Q2"}, {"role": "tool", "content": "T"}, {"role": "assistant", "content": "B"}]}
            """
        let conversations = try ChatMessagesJSONL.convert(Array(text.utf8), file: "c.jsonl")
        #expect(conversations.count == 2)
        #expect(conversations[1].turns == [Turn(.user, "Q2"), Turn(.function, "T"), Turn(.assistant, "B")])
        #expect(conversations[1].queryID == "12" && conversations[1].source.locator == "line 3")
        let bad = "{\"messages\": []}\n{\"messages\": [{\"role\": \"user\", \"content\": 5}]}\n"
        #expect(throws: DataError(file: "c.jsonl", line: 2, path: "$.messages[0].content", message: "expected a string, found the number 5")) {
            try ChatMessagesJSONL.convert(Array(bad.utf8), file: "c.jsonl")
        }
        // Every bad line, in order, not only the first.
        let lines = ["{\"messages\": []}", "{\"messages\": 5}", "not json", "{\"messages\": [{\"role\": \"bot\", \"content\": \"x\"}]}"]
        let many = (lines + Array(repeating: "[1]", count: 30)).joined(separator: "\n")
        let error = try #require(throws: DataError.self) { try ChatMessagesJSONL.convert(Array(many.utf8), file: "c.jsonl") }
        let reported = error.description.split(separator: "\n")
        #expect(reported.count == 21 && reported.last == "c.jsonl: ... and 13 more")
        #expect(reported[0] == "c.jsonl:2: $.messages: expected a list, found the number 5")
        #expect(reported[1].hasPrefix("c.jsonl:3:1: $: ") && reported[2].hasPrefix("c.jsonl:4: $.messages[0].role: "))
        #expect(reported[3] == "c.jsonl:5: $: expected an object with the key \"messages\", found a list")
        #expect(throws: DataError(file: "c.jsonl", message: "empty; expected one JSON object per line")) {
            try ChatMessagesJSONL.convert(Array("\n\n".utf8), file: "c.jsonl")
        }
        #expect {
            try ChatMessagesJSONL.convert(Array("{\"messages\": [\n".utf8), file: "c.jsonl")
        } throws: { ($0 as? DataError)?.description == "c.jsonl:1:15: $.messages[0]: unexpected end of the input; the JSON is truncated" }
    }

    @Test func foldersAreReadInPathOrderAndEveryBadFileIsReported() throws {
        let folder = try makeTemporaryFolder("formats")
        defer { try? FileManager.default.removeItem(at: folder) }
        let g1 = folder.appendingPathComponent("G1_answer")
        try FileManager.default.createDirectory(at: g1, withIntermediateDirectories: true)
        let good = AnswerFixture.file(entries: [AnswerFixture.prefix + [AnswerFixture.call]])
        try good.write(to: g1.appendingPathComponent("9_ChatGPT_DFS_woFilter_w2.json"), atomically: true, encoding: .utf8)
        try good.write(to: g1.appendingPathComponent("10_ChatGPT_DFS_woFilter_w2.json"), atomically: true, encoding: .utf8)
        try "notes".write(to: folder.appendingPathComponent("README.md"), atomically: true, encoding: .utf8)
        let data = try DataSource.load(folder.path, format: .auto, keepThoughts: false)
        #expect(data.conversations.map(\.queryID) == ["10", "9"])
        #expect(data.filesByFormat == ["toolbench-answers": 2] && data.ignoredFiles == 1)

        try "".write(to: g1.appendingPathComponent("11_empty.json"), atomically: true, encoding: .utf8)
        try #"{"answer_generation": {"valid_data": true, "query": "q", "function": [], "train_messages": [[{"role": "user"}]]}}"#
            .write(to: g1.appendingPathComponent("12_missing.json"), atomically: true, encoding: .utf8)
        #expect {
            try DataSource.load(folder.path, format: .auto, keepThoughts: false)
        } throws: { error in
            let errors = (error as? DataErrors)?.errors.map(\.description) ?? []
            return errors == [
                "\(g1.path)/11_empty.json: empty; expected JSON",
                "\(g1.path)/12_missing.json: $.answer_generation.train_messages[0][0]: missing the key \"content\" (the object has \"role\")",
            ]
        }
    }
}
