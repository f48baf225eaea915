import JSON
import ToolBench

/// One judgement of one rollout.
public struct Judgement: Codable, Equatable, Sendable {
    public var status: AnswerStatus
    /// Judge calls it took: 0 (decided by the rules without a judge), 1, or 2 (the first said Unsure).
    public var judgeCalls: Int
    /// The rule that decided without a judge, or the judge's reason.
    public var reason: String
}

/// StableToolBench's solvable pass rate (SoPR) of a set of rollouts: every query judged `evaluateTimes`
/// times; run r scores (Solved + 0.5 × Unsure) / queries; SoPR is the mean over runs, with the
/// population standard deviation over runs (numpy.std), both as fractions.
public struct SoPRSummary: Codable, Equatable, Sendable {
    public var judgeModel: String
    public var evaluateTimes: Int
    public var queries: Int
    public var runScores: [Double]
    public var sopr: Double
    public var standardDeviation: Double
    /// Judgements per status, over all runs.
    public var solved: Int
    public var unsure: Int
    public var unsolved: Int
    public var judgeCalls: Int

    /// `judgements[q][r]`: query q's judgement in run r.
    public init(_ judgements: [[Judgement]], judgeModel: String, evaluateTimes: Int) {
        self.judgeModel = judgeModel
        self.evaluateTimes = evaluateTimes
        queries = judgements.count
        runScores = (0..<evaluateTimes).map { r in
            guard !judgements.isEmpty else { return 0 }
            let points = judgements.reduce(0.0) { sum, runs in
                sum + (runs[r].status == .solved ? 1 : runs[r].status == .unsure ? 0.5 : 0)
            }
            return points / Double(judgements.count)
        }
        sopr = runScores.reduce(0, +) / Double(max(1, runScores.count))
        let mean = sopr
        standardDeviation = (runScores.reduce(0.0) { $0 + ($1 - mean) * ($1 - mean) } / Double(max(1, runScores.count))).squareRoot()
        let all = judgements.joined()
        solved = all.filter { $0.status == .solved }.count
        unsure = all.filter { $0.status == .unsure }.count
        unsolved = all.filter { $0.status == .unsolved }.count
        judgeCalls = all.reduce(0) { $0 + $1.judgeCalls }
    }
}

/// StableToolBench's rules for judging one converted answer (`eval_pass_rate.py::compute_pass_rate`,
/// `rtl.py::check_is_solved`): a run whose last tool node is not a Finish call is Unsolved without a
/// judge; an empty final answer or one containing give_up_and_restart is Unsolved; otherwise the judge
/// reads the final answer (check_answer_status) and, only when it says Unsure, the whole answer as JSON
/// (parse_answer_status), whose verdict stands.
public enum SoPR {
    /// Judges `converted` (one query of `StableToolBenchAnswers.file`) once.
    public static func judge(_ converted: JSONValue, judge: AnswerJudge) throws -> Judgement {
        guard case .object(let example) = converted, case .string(let query)? = example["query"],
              case .object(let answer)? = example["answer"], case .string(let finalAnswer)? = answer["final_answer"] else {
            preconditionFailure("not a converted answer")
        }
        guard finalStep(answer).contains("'name': 'Finish'") else {
            return Judgement(status: .unsolved, judgeCalls: 0, reason: "no Finish call ends the run")
        }
        if finalAnswer.isEmpty || finalAnswer.contains("give_up_and_restart") {
            return Judgement(status: .unsolved, judgeCalls: 0, reason: "empty final answer or give-up")
        }
        let first = try judge.ask(.checkAnswerStatus, query: query, answer: finalAnswer)
        guard first.status == .unsure else { return Judgement(status: first.status, judgeCalls: 1, reason: first.reason) }
        let second = try judge.ask(.parseAnswerStatus, query: query, answer: JSONValue.object(answer).dumps())
        return Judgement(status: second.status, judgeCalls: 2, reason: second.reason)
    }

    /// The message of the chain's last tool node with a message, as Python's `str` prints it
    /// (`tooleval/utils.py::get_steps` walks `answer_details[0]` along each node's first `next`).
    static func finalStep(_ answer: JSONObject) -> String {
        guard case .array(let roots)? = answer["answer_details"], var node = roots.first else { return "" }
        var last = ""
        while case .object(let fields) = node {
            if fields["role"] == .string("tool"), let message = fields["message"], truthy(message) {
                if case .string(let text) = message { last = text } else { last = PythonRepr.repr(message) }
            }
            guard case .array(let next)? = fields["next"], let child = next.first else { break }
            node = child
        }
        return last
    }

    static func truthy(_ value: JSONValue) -> Bool {
        switch value {
        case .null: false
        case .bool(let b): b
        case .string(let s): !s.isEmpty
        case .array(let a): !a.isEmpty
        case .object(let o): o.count > 0
        case .integer(let text): Int(text) != 0
        case .float(let d): d != 0
        }
    }
}
