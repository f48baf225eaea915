import Foundation
import TestSupport
import Testing
import ToolBench

/// ToolBench's own `data_example` (`TestSupport.ToolBenchDataExample`): these tests run when it is at
/// ../shared/toolbench and are skipped, saying so, when it is not.
enum RealData {
    static var answers: String { ToolBenchDataExample.answers }
    static var present: Bool { ToolBenchDataExample.present }
    static let skipNote = Comment(rawValue: ToolBenchDataExample.skipNote)

    /// One train_messages entry read with Foundation's parser (independent of our JSONParser).
    static func rawMessages(_ file: String, entry: Int) throws -> [[String: Any]] {
        let data = try Data(contentsOf: URL(fileURLWithPath: answers + "/" + file))
        let root = try JSONSerialization.jsonObject(with: data) as! [String: Any]
        let generation = root["answer_generation"] as! [String: Any]
        return (generation["train_messages"] as! [[[String: Any]]])[entry]
    }
}

@Suite(.enabled(if: RealData.present, RealData.skipNote))
struct RealToolBenchTests {
    @Test func fifteenAnswerFilesGiveFiftyExamples() throws {
        let data = try DataSource.load(RealData.answers, format: .auto, keepThoughts: false)
        #expect(data.filesByFormat == ["toolbench-answers": 15])
        #expect(data.invalidAnswerFiles == 2)  // G1/69 and G3/8 have valid_data false
        #expect(data.conversations.count == 50)
        let targets = data.conversations.map { $0.turns.last!.value }
        #expect(targets.filter { $0.contains("\nAction: Finish\n") }.count == 13)
        #expect(targets.filter { $0.contains("give_up_and_restart") }.count == 4)
    }

    /// The expected text is assembled here from the template rules and the raw messages (read with
    /// Foundation's JSON parser): "Role: value" joined by "\n", "</s>" at the end, the system prompt
    /// through process_system_message, assistant calls as "\nThought: \nAction: ...\nAction Input: ...".
    /// Only the Python repr of the function list is taken from the rendering; its ends are checked here and
    /// every byte of it by the committed hashes (RealToolBenchTokenTests).
    func expectedText(file: String, entry: Int, rendered: String, finishDescription: String) throws -> String {
        let messages = try RealData.rawMessages(file, entry: entry)
        let anchor = "with a function call to actually excute your step."
        let system = (messages[0]["content"] as! String)
            .replacingOccurrences(of: anchor, with: anchor + " Your output should follow this format:\nThought:\nAction\nAction Input:\n")
            + "\nSpecifically, you have access to the following APIs: "
        let systemTurn = try #require(rendered.components(separatedBy: "\nUser: ").first)
        #expect(systemTurn.hasPrefix("System: " + system))
        let repr = String(systemTurn.dropFirst(("System: " + system).count))
        let firstName = ((try RealData.rawFunctions(file)).first!["name"] as! String)
        #expect(repr.hasPrefix("[{'name': '\(firstName)', 'description': '"))
        // Finish last, as Python prints it (the data has two versions of its description).
        #expect(repr.hasSuffix("{'name': 'Finish', 'description': " + finishDescription
                               + #", 'parameters': {'type': 'object', 'properties': {'return_type': {'type': 'string', 'enum': ['give_answer', 'give_up_and_restart']}, 'final_answer': {'type': 'string', 'description': 'The final answer you want to give the user. You should have this field if "return_type"=="give_answer"'}}, 'required': ['return_type']}}]"#))
        var turns = ["System: " + system + repr]
        for message in messages.dropFirst() {
            switch message["role"] as! String {
            case "user": turns.append("User: " + (message["content"] as! String))
            case "function": turns.append("Function: " + (message["content"] as! String))
            default:
                let call = message["function_call"] as! [String: String]
                turns.append("Assistant: \nThought: \nAction: " + call["name"]! + "\nAction Input: " + call["arguments"]!)
            }
        }
        return turns.joined(separator: "\n") + "</s>"
    }

    func rendered(_ file: String, step: Int) throws -> RenderedText {
        let contents = try ToolBenchAnswers.read(file: RealData.answers + "/" + file, keepThoughts: false)
        let conversation = try #require(contents.conversations.first { $0.source.locator.hasSuffix("(Step \(step))") })
        return ToolLlamaTemplate.render(conversation.turns, loss: .lastAssistant)
    }

    @Test func aFinishGiveAnswerExampleRendersAsToolLLaMAWouldSeeIt() throws {
        let file = "G1_answer/10_ChatGPT_DFS_woFilter_w2.json"
        let r = try rendered(file, step: 6)
        // The older Finish text has "can't", so Python's repr switches to double quotes.
        let finish = #""If you think you get the result which can answer the task, call this function to give the final answer. Or, if you think you can't handle the task from this status, call this function to restart. Remember: you should ALWAYS call this function at the end of your try, and the final answer is the ONLY part that will be showed to user, so final answer should contain enough information.""#
        #expect(r.text == (try expectedText(file: file, entry: 2, rendered: r.text, finishDescription: finish)))
        #expect(r.text.hasSuffix("\"\n}</s>"))
        let target = String(decoding: Array(r.body.utf8)[r.trainableBytes[0]], as: UTF8.self)
        #expect(target.hasPrefix("\nThought: \nAction: Finish\nAction Input: {\n  \"return_type\": \"give_answer\",\n  \"final_answer\": \""))
        #expect(r.text.hasSuffix("\nAssistant: " + target + "</s>"))
    }

    @Test func aGiveUpExampleWithABackTrackingTurnRendersAsToolLLaMAWouldSeeIt() throws {
        let file = "G2_answer/127_ChatGPT_DFS_woFilter_w2.json"
        let r = try rendered(file, step: 7)
        let finish = "'If you believe that you have obtained a result that can answer the task, please call this function to provide the final answer. Alternatively, if you recognize that you are unable to proceed with the task in the current state, call this function to restart. Remember: you must ALWAYS call this function at the end of your attempt, and the only part that will be shown to the user is the final answer, so it should contain sufficient information.'"
        #expect(r.text == (try expectedText(file: file, entry: 2, rendered: r.text, finishDescription: finish)))
        let target = String(decoding: Array(r.body.utf8)[r.trainableBytes[0]], as: UTF8.self)
        #expect(target == "\nThought: \nAction: Finish\nAction Input: {\n  \"return_type\": \"give_up_and_restart\"\n}")
        // The DFS back-tracking prompt is an ordinary user turn in the history; the thoughts next to the
        // calls (this entry has two) are dropped, as ToolBench's preprocessing drops them.
        #expect(r.text.components(separatedBy: "\nUser: ").count == 3)
        #expect(!r.text.contains("\nThought: \nAction: Finish\nAction Input: {\n  \"return_type\": \"give_answer\""))
    }
}

extension RealData {
    static func rawFunctions(_ file: String) throws -> [[String: Any]] {
        let data = try Data(contentsOf: URL(fileURLWithPath: answers + "/" + file))
        let root = try JSONSerialization.jsonObject(with: data) as! [String: Any]
        return (root["answer_generation"] as! [String: Any])["function"] as! [[String: Any]]
    }
}
