import Foundation
import JSON
import TestSupport
import Testing
@testable import ToolBench

/// ToolBench's query -> functions -> system prompt rules. The demo answer files (written by
/// scripts/toolbench_format.py, whose rules were checked against ToolBench's code and data) hold the
/// system prompts ToolBench builds for the demo queries: ours must equal them byte for byte.
@Suite struct QueryPromptTests {
    static let root = ToolTuneBinary.projectRoot.appendingPathComponent("demo/data")

    @Test func namesAreStandardizedAsToolBenchDoes() {
        #expect(RapidAPI.standardize("City A") == "city_a")
        #expect(RapidAPI.standardize("target-lang") == "target_lang")
        #expect(RapidAPI.standardize("flightNumber") == "flightnumber")
        #expect(RapidAPI.standardize("5 Day Forecast") == "get_5_day_forecast")
        #expect(RapidAPI.standardize("__Get  /v2/items?__") == "get_v2_items")
        #expect(RapidAPI.standardize("a^b 天气") == "a^b_天气")  // "^" and CJK are kept
        #expect(RapidAPI.standardize("???") == "")
        #expect(RapidAPI.changeName("id") == "is_id" && RapidAPI.changeName("from") == "is_from" && RapidAPI.changeName("idx") == "idx")
        // The last 64 characters of a long name.
        let long = RapidAPI.functionName(apiName: String(repeating: "a", count: 70), standardToolName: "tool")
        #expect(long.count == 64 && long.hasSuffix("a_for_tool"))
    }

    @Test func demoQueriesGiveTheSystemPromptsOfTheirAnswerFiles() throws {
        let tools = try ToolDescriptions(folder: Self.root.appendingPathComponent("toolenv/tools").path)
        #expect(tools.count == 12)
        var compared = 0
        for group in ["G1", "G2", "G3"] {
            for query in try QueryFiles.read(file: Self.root.appendingPathComponent("queries/\(group)_query.json").path) {
                let answer = Self.root.appendingPathComponent("eval/\(group)_answer/\(query.queryID)_ChatGPT_DFS_woFilter_w2.json").path
                let expected = try #require(try DataSource.read(answer, format: .toolbenchAnswers, keepThoughts: false).conversations.first)
                let prompt = QueryPrompt(query, tools: tools)
                #expect(prompt.conversation.turns[0] == expected.turns[0], "query \(query.queryID): system prompt")
                #expect(prompt.conversation.turns[1] == expected.turns[1], "query \(query.queryID): user turn")
                #expect(prompt.functionList == expected.functionList)
                #expect(!prompt.relevantFunctions.isEmpty && prompt.relevantFunctions.allSatisfy(prompt.functionNames.contains))
                compared += 1
            }
        }
        #expect(compared == 40)
    }

    @Test func functionsFollowApiJsonToOpenaiJson() {
        let api = QueryAPI(categoryName: "Data", toolName: "Demo Tool", apiName: "Get Item",
                           apiDescription: "  Get Item returns the item.\n ",
                           requiredParameters: [APIParameter(name: "id", type: .string("NUMBER"), description: "the id", defaultValue: .integer("3"))],
                           optionalParameters: [APIParameter(name: "lang-code", type: .string("ENUM"), description: "", defaultValue: .string(""))],
                           templateResponse: nil)
        let function = RapidAPI.function(for: api, standardToolName: "demo_tool")
        #expect(PythonRepr.repr(function) == "{'name': 'get_item_for_demo_tool', 'description': 'This is the subfunction for tool \"demo_tool\", you can use this tool.The description of this function is: \"get_item_for_demo_tool returns the item.\"', 'parameters': {'type': 'object', 'properties': {'is_id': {'type': 'integer', 'description': 'the id', 'example_value': 3}, 'lang_code': {'type': 'string', 'description': ''}}, 'required': ['is_id'], 'optional': ['lang_code']}}")
        // Optional parameters only come with a required one (rapidapi.py's loop nesting).
        var optionalOnly = api
        optionalOnly.requiredParameters = []
        #expect(PythonRepr.repr(RapidAPI.function(for: optionalOnly, standardToolName: "demo_tool")).hasSuffix("'parameters': {'type': 'object', 'properties': {}, 'required': [], 'optional': []}}"))
        #expect(RapidAPI.taskDescription(tools: [("a", " first\ndescription "), ("b", ""), ("a", "later")]).hasSuffix("tools:\n1.a: later\n2.b: None\n"))
    }

    @Test func badQueryFilesNameTheField() throws {
        let text = "[{\"query\": \"q\", \"query_id\": 1, \"api_list\": [{\"category_name\": \"C\", \"tool_name\": 5, \"api_name\": \"a\"}]}]"
        #expect(throws: DataError(file: "q.json", path: "$[0].api_list[0].tool_name", message: "expected a string, found the number 5")) {
            try QueryFiles.convert(JSONField(try JSONParser.parse(Array(text.utf8), file: "q.json"), file: "q.json"))
        }
        #expect(throws: DataError.self) {
            try QueryFiles.convert(JSONField(try JSONParser.parse(Array("{}".utf8), file: "q.json"), file: "q.json"))
        }
    }

    @Test(.enabled(if: StableToolBenchQueries.present, Comment(rawValue: StableToolBenchQueries.skipNote)))
    func everyStableToolBenchQueryGetsAPromptWithItsRelevantAPIs() throws {
        var queries = 0, relevant = 0, missing: [String] = []
        for group in ["G1_instruction", "G1_category", "G1_tool", "G2_instruction", "G2_category", "G3_instruction"] {
            for query in try QueryFiles.read(file: StableToolBenchQueries.file(group)) {
                let prompt = QueryPrompt(query)
                queries += 1
                relevant += prompt.relevantFunctions.count
                missing += prompt.relevantFunctions.filter { !prompt.functionNames.contains($0) }.map { "\(group) \(query.queryID): \($0)" }
                // The system prompt's function list reads back as the same Python literal.
                #expect(FunctionListPrompt.parse(systemPrompt: prompt.conversation.turns[0].value) == prompt.functionList)
            }
        }
        #expect(queries == 765)
        #expect(missing.isEmpty, "relevant APIs not in the api_list: \(missing.prefix(5))")
        #expect(relevant > 765)
    }

    @Test func nonStrictJSONAcceptsRawControlCharacters() throws {
        let text = Array("{\"a\": \"x\ny\"}".utf8)
        #expect(throws: DataError.self) { try JSONParser.parse(text, file: "t") }
        #expect(try JSONParser.parse(text, file: "t", strict: false) == .object(JSONObject([("a", .string("x\ny"))])))
    }
}
