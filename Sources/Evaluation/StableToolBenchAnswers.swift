import Foundation
import JSON
import Storage
import ToolBench

/// Rollouts in StableToolBench's converted answer format (`toolbench/tooleval/convert_to_answer_format.py`),
/// the input of its `eval_pass_rate.py`: one file per test set,
///
///     {qid: {"query", "available_tools", "answer": {"method", "total_steps", "final_answer", "answer_details": [node]}}}
///
/// with nodes `{"role", "message", "next": [node]}` in one chain: system and user (messages left empty),
/// then the steps. The converter reads a finished CoT run (valid data) from its train messages, where
/// a step is one "tool" node `{"name", "arguments", "response"}` (Finish's response empty, and a call to
/// an unknown function named "invalid_hallucination_function_name"); any other run from its chain of
/// nodes, where a step is an "assistant" node (the thought) and a "tool" node (the observation as
/// response, Finish's too). `final_answer` is, as ToolBench's CoT writes it, the whole Action Input of
/// the accepted give_answer call, and "" for any other ending; `total_steps` counts every node.
public enum StableToolBenchAnswers {
    public static let method = "CoT@1"

    /// One query's converted answer.
    public static func answer(_ result: RolloutResult, prompt: QueryPrompt) -> JSONValue {
        let answered = result.end == .giveAnswer
        var chain: [(role: String, message: JSONValue)] = [("system", .string("")), ("user", .string(""))]
        for step in result.steps {
            let finish = step.parsed.action == "Finish"
            if !answered { chain.append(("assistant", .string(step.parsed.thought))) }
            let name = answered && step.code == 1 ? "invalid_hallucination_function_name" : step.parsed.action
            let response = answered && finish ? "" : step.observation
            chain.append(("tool", .object(JSONObject([("name", .string(name)), ("arguments", .string(step.parsed.actionInput)),
                                                      ("response", .string(response))]))))
        }
        var node: JSONValue?
        for (role, message) in chain.reversed() {
            node = .object(JSONObject([("role", .string(role)), ("message", message), ("next", .array(node.map { [$0] } ?? []))]))
        }
        let finalAnswer = answered ? result.steps.last!.parsed.actionInput : ""
        return .object(JSONObject([
            ("query", .string(prompt.query.query)),
            ("available_tools", .array(prompt.functions)),
            ("answer", .object(JSONObject([
                ("method", .string(method)), ("total_steps", .integer(String(chain.count))),
                ("final_answer", .string(finalAnswer)), ("answer_details", .array([node!])),
            ]))),
        ]))
    }

    /// Writes one file per query group, `<folder>/<group>.json` (each atomically), from an evaluation's
    /// rollouts and their converted answers (in case order).
    public static func write(_ evaluation: CheckpointEvaluation, answers: [JSONValue], folder: URL) throws {
        var groups: [String: JSONObject] = [:]
        for (result, answer) in zip(evaluation.queryCases, answers) { groups[result.group, default: JSONObject()][result.queryID] = answer }
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        for (group, object) in groups.sorted(by: { $0.key < $1.key }) {
            try AtomicFile.write(Data(JSONValue.object(object).dumps(ensureASCII: false).utf8),
                                 to: folder.appendingPathComponent(group + ".json").path)
        }
    }
}
