import JSON
import ToolBench

/// Action Input as ToolBench's environment reads it, and the comparisons the step metrics use.
public enum ActionArguments {
    /// `json.loads(text, strict=False)`: any JSON value, raw control characters allowed in strings; nil
    /// when the text is not JSON.
    public static func parse(_ text: String) -> JSONValue? {
        try? JSONParser.parse(Array(text.utf8), options: .python(strict: false))
    }

    /// The keys of the arguments when they are a JSON object, else none.
    public static func keys(_ value: JSONValue?) -> Set<String> {
        if case .object(let object)? = value { return Set(object.keys) }
        return []
    }

    /// JSON equality after canonicalisation: object key order does not matter, numbers compare by value
    /// (3 equals 3.0); strings, booleans and null compare exactly.
    public static func equivalent(_ a: JSONValue, _ b: JSONValue) -> Bool {
        switch (a, b) {
        case (.object(let x), .object(let y)):
            return Set(x.keys) == Set(y.keys) && x.pairs.allSatisfy { key, value in equivalent(value, y[key]!) }
        case (.array(let x), .array(let y)):
            return x.count == y.count && zip(x, y).allSatisfy { equivalent($0, $1) }
        case (.integer, _), (.float, _):
            guard let u = number(a), let v = number(b) else { return false }
            if case .integer(let s) = a, case .integer(let t) = b { return s == t }  // exact, whatever the size
            return u == v
        default:
            return a == b
        }
    }

    static func number(_ value: JSONValue) -> Double? {
        switch value {
        case .integer(let text): Double(text)
        case .float(let d): d
        default: nil
        }
    }

    /// Precision, recall and F1 of the predicted argument keys against the gold ones. Both empty is a
    /// perfect match; one empty is 0.
    public static func keyF1(predicted: Set<String>, gold: Set<String>) -> Double {
        if predicted.isEmpty && gold.isEmpty { return 1 }
        let common = Double(predicted.intersection(gold).count)
        guard common > 0 else { return 0 }
        let precision = common / Double(predicted.count), recall = common / Double(gold.count)
        return 2 * precision * recall / (precision + recall)
    }
}

/// What ToolBench's environment makes of a call to Finish (`rapidapi.py::_step`): the Action Input is
/// read with `json.loads(strict=False)`, or, when that fails, by its text fallback (`"return_type":
/// "give_answer"` / `"give_up_and_restart"` / the text up to the next `",`; `"final_answer": "` takes
/// everything after it). Codes: 3 an answer, 4 give up, 2 a bad Finish call.
public struct FinishCall: Codable, Equatable, Sendable {
    public var returnType: String?
    /// The final answer as text (a non-string JSON value as its JSON), when there is one.
    public var finalAnswer: String?
    public var code: Int
    public var observation: String

    public static func parse(_ actionInput: String) -> FinishCall {
        var returnType: String?, finalAnswer: String?
        if let value = ActionArguments.parse(actionInput) {
            if case .object(let object) = value {
                if let r = object["return_type"] { returnType = text(r) }
                if let f = object["final_answer"] { finalAnswer = text(f) }
            }
        } else {
            let s = Array(actionInput.unicodeScalars)
            let returnMarker = "\"return_type\": \"", answerMarker = "\"final_answer\": \""
            if ReactOutput.find(s, returnMarker) >= 0 {
                if actionInput.contains("\"return_type\": \"give_answer\"") {
                    returnType = "give_answer"
                } else if actionInput.contains("\"return_type\": \"give_up_and_restart\"") {
                    returnType = "give_up_and_restart"
                } else {
                    returnType = ReactOutput.slice(s, ReactOutput.find(s, returnMarker) + 16, ReactOutput.find(s, "\","))
                }
            }
            let answerAt = ReactOutput.find(s, answerMarker)
            if answerAt >= 0 { finalAnswer = ReactOutput.slice(s, answerAt + 17, nil) }
        }
        switch returnType {
        case nil:
            return FinishCall(returnType: nil, finalAnswer: finalAnswer, code: 2, observation: "{error:\"must have \"return_type\"\"}")
        case "give_up_and_restart":
            return FinishCall(returnType: returnType, finalAnswer: finalAnswer, code: 4,
                              observation: "{\"response\":\"chose to give up and restart\"}")
        case "give_answer":
            guard finalAnswer != nil else {
                return FinishCall(returnType: returnType, finalAnswer: nil, code: 2, observation: "{error:\"must have \"final_answer\"\"}")
            }
            return FinishCall(returnType: returnType, finalAnswer: finalAnswer, code: 3,
                              observation: "{\"response\":\"successfully giving the final answer.\"}")
        default:
            return FinishCall(returnType: returnType, finalAnswer: finalAnswer, code: 2,
                              observation: "{error:\"\"return_type\" is not a valid choice\"}")
        }
    }

    /// A JSON value as Python would hold it for these checks: strings as themselves, the rest as JSON.
    static func text(_ value: JSONValue) -> String {
        if case .string(let s) = value { return s }
        return value.dumps()
    }

    /// A give_answer whose final answer is not blank.
    public var hasAnswer: Bool { code == 3 && !PythonText.strip(finalAnswer ?? "").isEmpty }
}
