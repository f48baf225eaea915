import JSON

/// BFCL's AST checker (`bfcl_eval/eval_checker/ast_eval/ast_checker.py`) for Python categories,
/// reimplemented: the same checks in the same order, with Python's value semantics (`PythonValue`), so
/// that it gives bfcl's verdict and error type on any call set (`scripts/make_bfcl_fixtures.py` checks
/// that against bfcl itself). Function names are compared as for a model that cannot write "." in a
/// function name (bfcl's `underscore_to_dot`): the expected name with "." replaced by "_", the way
/// ToolTune's prompt lists them.
///
/// The checks: the function name; every required parameter present; every given parameter known to the
/// function and to the possible answer; its type (BFCL type names; an int for a float is accepted; a value
/// of the possible answers' own type counts as a variable); its value among the possible answers
/// (strings compared after removing " ,./-_*^", lower-casing and ' -> "; lists, dicts and lists of dicts
/// element by element); every possible-answer parameter given unless its list holds "" (optional).
/// Parallel categories match each expected call, in order, to the first unmatched output call that
/// passes; "multiple" checks the one call against the one expected function.
public enum BFCLChecker {
    public struct Verdict: Codable, Equatable, Sendable {
        public var valid: Bool
        /// bfcl's `error_type` (e.g. "type_error:simple"); "exception" where bfcl's checker itself raises.
        public var errorType: String?
        public var error: String?

        static let ok = Verdict(valid: true, errorType: nil, error: nil)
        static func fail(_ type: String, _ error: String) -> Verdict { Verdict(valid: false, errorType: type, error: error) }
    }

    /// `ast_checker(functions, output, possibleAnswer, Language.PYTHON, category, model)`: `output` is the
    /// decoded call list `[{name: {param: value}}]`, `possibleAnswer` the entry's `ground_truth`.
    public static func check(category: String, functions: [JSONValue], output: [JSONValue], possibleAnswer: [JSONValue]) -> Verdict {
        do throws(PythonError) {
            if category.contains("parallel") { return try parallelNoOrder(functions, output, possibleAnswer) }
            if category.contains("multiple") { return try multiple(functions, output, possibleAnswer) }
            guard output.count == 1 else { return .fail("simple_function_checker:wrong_count", "Wrong number of functions.") }
            guard let first = functions.first, let answer = possibleAnswer.first else { throw PythonError("IndexError: list index out of range") }
            return try simple(first, output[0], answer)
        } catch {
            return .fail("exception", error.description)
        }
    }

    /// BFCL type names as Python types (`PYTHON_TYPE_MAPPING`).
    static let pythonTypes: [String: PythonValue.Kind] = [
        "string": .str, "integer": .int, "float": .float, "boolean": .bool, "array": .list, "tuple": .list, "dict": .dict, "any": .str,
    ]
    static let nestedTypes: Set<String> = ["array", "tuple"]

    static func pythonType(_ name: JSONValue) throws(PythonError) -> PythonValue.Kind {
        guard case .string(let text) = name, let kind = pythonTypes[text] else { throw PythonError("KeyError: \(name.dumps())") }
        return kind
    }

    /// The expected name as a model without "." in function names must write it.
    static func convertedName(_ name: String) -> String { name.replacingOccurrences(of: ".", with: "_") }

    static func standardize(_ text: String) -> String {
        let removed: Set<Unicode.Scalar> = [" ", ",", ".", "/", "-", "_", "*", "^"]
        var kept = String.UnicodeScalarView()
        kept.append(contentsOf: text.unicodeScalars.filter { !removed.contains($0) })
        return String(kept).lowercased().replacingOccurrences(of: "'", with: "\"")
    }

    static func standardized(_ value: JSONValue) -> JSONValue {
        if case .string(let s) = value { return .string(standardize(s)) }
        return value
    }

    static func firstKey(_ value: JSONValue) throws(PythonError) -> String {
        guard case .object(let object) = value, let key = object.keys.first else { throw PythonError("IndexError: list index out of range") }
        return key
    }

    /// `find_description`: the function of that name, or nil.
    static func description(_ functions: [JSONValue], named name: String) throws(PythonError) -> JSONValue? {
        for function in functions where PythonValue.equal(try PythonValue.item(function, "name"), .string(name)) { return function }
        return nil
    }

    static func parallelNoOrder(_ functions: [JSONValue], _ output: [JSONValue], _ answers: [JSONValue]) throws(PythonError) -> Verdict {
        guard output.count == answers.count else {
            return .fail("parallel_function_checker_no_order:wrong_count", "Wrong number of functions.")
        }
        var matched: Set<Int> = []
        var result = Verdict.ok
        for (i, answer) in answers.enumerated() {
            let function = try description(functions, named: try firstKey(answer))
            for index in output.indices where !matched.contains(index) {
                result = try simple(function ?? .null, output[index], answer)
                if result.valid {
                    matched.insert(index)
                    break
                }
            }
            if !result.valid {
                return .fail("parallel_function_checker_no_order:cannot_find_match",
                             "Could not find a matching function for index \(i) of possible answers.")
            }
        }
        return .ok
    }

    static func multiple(_ functions: [JSONValue], _ output: [JSONValue], _ answers: [JSONValue]) throws(PythonError) -> Verdict {
        guard output.count == answers.count else { return .fail("multiple_function_checker:wrong_count", "Wrong number of functions.") }
        guard let answer = answers.first else { throw PythonError("IndexError: list index out of range") }
        return try simple(try description(functions, named: try firstKey(answer)) ?? .null, output[0], answer)
    }

    /// `simple_function_checker`.
    static func simple(_ function: JSONValue, _ output: JSONValue, _ answer: JSONValue) throws(PythonError) -> Verdict {
        guard case .object(let answerObject) = answer, let possible = answerObject.values.first else {
            throw PythonError("IndexError: list index out of range")
        }
        guard case .string(let name) = try PythonValue.item(function, "name") else { throw PythonError("TypeError: function name") }
        let parameters = try PythonValue.item(function, "parameters")
        let details = try PythonValue.item(parameters, "properties")
        let required = try PythonValue.item(parameters, "required")
        let functionName = convertedName(name)
        guard try PythonValue.contains(output, .string(functionName)) else {
            return .fail("simple_function_checker:wrong_func_name", "Function name '\(functionName)' not found in model output.")
        }
        let given = try PythonValue.item(output, functionName)
        for parameter in try PythonValue.iterate(required) where !(try PythonValue.contains(given, parameter)) {
            return .fail("simple_function_checker:missing_required", "Missing required parameter: \(parameter.dumps()).")
        }
        guard case .object(let givenObject) = given else { throw PythonError("AttributeError: no items()") }
        for (parameter, original) in givenObject.pairs {
            guard try PythonValue.contains(details, .string(parameter)), try PythonValue.contains(possible, .string(parameter)) else {
                return .fail("simple_function_checker:unexpected_param", "Unexpected parameter: '\(parameter)'.")
            }
            let typeName = try PythonValue.item(try PythonValue.item(details, parameter), "type")
            let expected = try pythonType(typeName)
            var nested: PythonValue.Kind?
            if case .string(let t) = typeName, nestedTypes.contains(t) {
                nested = try pythonType(try PythonValue.item(try PythonValue.item(try PythonValue.item(details, parameter), "items"), "type"))
            }
            var value = original
            // Python's float(int): an int where a float is expected passes.
            if typeName == .string("float"), case .integer(let text) = value { value = .float(Double(text) ?? .infinity) }
            let allowed = try PythonValue.item(possible, parameter)
            let typed = try typeCheck(parameter, value, allowed, expected: expected, nested: nested)
            guard typed.verdict.valid else { return typed.verdict }
            if !typed.isVariable {
                if expected == .dict {
                    let r = try dictCheck(value, allowed)
                    if !r.valid { return r }
                    continue
                } else if expected == .list && nested == .dict {
                    let r = try listDictCheck(value, allowed)
                    if !r.valid { return r }
                    continue
                } else if expected == .str {
                    let r = try stringCheck(parameter, value, allowed)
                    if !r.valid { return r }
                    continue
                } else if expected == .list {
                    let r = try listCheck(parameter, value, allowed)
                    if !r.valid { return r }
                    continue
                }
            }
            guard try PythonValue.contains(allowed, value) else {
                return .fail("value_error:others", "Invalid value for parameter '\(parameter)': \(value.dumps()).")
            }
        }
        for parameter in try PythonValue.iterate(possible) {
            guard case .string(let key) = parameter else { continue }
            if !(try PythonValue.contains(given, parameter)), !(try PythonValue.contains(try PythonValue.item(possible, key), .string(""))) {
                return .fail("simple_function_checker:missing_optional",
                             "Optional parameter '\(key)' not provided and not marked as optional.")
            }
        }
        return .ok
    }

    /// `get_possible_answer_type`: the type of the first possible answer that is not "".
    static func answerType(_ allowed: JSONValue) throws(PythonError) -> PythonValue.Kind? {
        for answer in try PythonValue.iterate(allowed) where !PythonValue.equal(answer, .string("")) {
            return PythonValue.kind(answer)
        }
        return nil
    }

    /// `type_checker`, with its is_variable flag.
    static func typeCheck(_ parameter: String, _ value: JSONValue, _ allowed: JSONValue, expected: PythonValue.Kind,
                          nested: PythonValue.Kind?) throws(PythonError) -> (verdict: Verdict, isVariable: Bool) {
        var isVariable = false
        let answerKind = try answerType(allowed)
        if let answerKind, answerKind != expected { isVariable = true }
        var result = Verdict(valid: true, errorType: "type_error:simple", error: nil)
        if PythonValue.kind(value) == expected {
            guard let nested else { return (.ok, isVariable) }
            for item in try PythonValue.iterate(allowed) {
                var flag = true
                if PythonValue.kind(item) == .list {
                    for element in try PythonValue.iterate(value)
                    where !(try typeCheck(parameter, element, item, expected: nested, nested: nil).verdict.valid) {
                        flag = false
                        break
                    }
                }
                if flag { return (.ok, isVariable) }
            }
            result = .fail("type_error:nested", "Nested type checking failed for parameter '\(parameter)'.")
        }
        if let answerKind, PythonValue.kind(value) == answerKind {
            return (result, true)
        }
        return (.fail("type_error:simple", "Incorrect type for parameter '\(parameter)': expected \(expected.rawValue), got \(PythonValue.kind(value).rawValue)."),
                isVariable)
    }

    static func stringCheck(_ parameter: String, _ value: JSONValue, _ allowed: JSONValue) throws(PythonError) -> Verdict {
        let options = try PythonValue.indexed(allowed).compactMap { answer -> JSONValue? in
            if case .string = answer { return standardized(answer) }
            return nil
        }
        guard options.contains(where: { PythonValue.equal($0, standardized(value)) }) else {
            return .fail("value_error:string", "Invalid value for parameter '\(parameter)': \(value.dumps()).")
        }
        return .ok
    }

    static func listCheck(_ parameter: String, _ value: JSONValue, _ allowed: JSONValue) throws(PythonError) -> Verdict {
        let given = JSONValue.array(try PythonValue.iterate(value).map(standardized))
        var options: [JSONValue] = []
        for answer in try PythonValue.indexed(allowed) { options.append(.array(try PythonValue.indexed(answer).map(standardized))) }
        guard options.contains(where: { PythonValue.equal($0, given) }) else {
            return .fail("value_error:list/tuple", "Invalid value for parameter '\(parameter)': \(value.dumps()).")
        }
        return .ok
    }

    /// `dict_checker`: the value matches one of the possible dicts (keys known, values allowed, every key
    /// without "" among its values present).
    static func dictCheck(_ value: JSONValue, _ allowed: JSONValue) throws(PythonError) -> Verdict {
        var result = Verdict.fail("dict_checker:unclear", "")
        for answer in try PythonValue.indexed(allowed) {
            if PythonValue.equal(answer, .string("")) { continue }
            result = .fail("dict_checker:unclear", "")
            var flag = true
            guard case .object(let given) = value else { throw PythonError("AttributeError: no items()") }
            for (key, element) in given.pairs {
                guard try PythonValue.contains(answer, .string(key)) else {
                    result = .fail("value_error:dict_key", "Unexpected dict key parameter: '\(key)'.")
                    flag = false
                    break
                }
                let options = try PythonValue.indexed(try PythonValue.item(answer, key)).map(standardized)
                let candidate = standardized(element)
                guard options.contains(where: { PythonValue.equal($0, candidate) }) else {
                    result = .fail("value_error:dict_value", "Invalid value for parameter '\(key)': \(element.dumps()).")
                    flag = false
                    break
                }
            }
            guard case .object(let expected) = answer else { throw PythonError("AttributeError: no items()") }
            for (key, options) in expected.pairs {
                if !(try PythonValue.contains(value, .string(key))), !(try PythonValue.contains(options, .string(""))) {
                    result = .fail("value_error:dict_key", "Missing dict key parameter: '\(key)'.")
                    flag = false
                    break
                }
            }
            if flag { return .ok }
        }
        return result
    }

    /// `list_dict_checker`: a list of dicts matching, position by position, one of the possible lists.
    static func listDictCheck(_ value: JSONValue, _ allowed: JSONValue) throws(PythonError) -> Verdict {
        var result = Verdict.fail("list_dict_checker:unclear", "")
        let given = try PythonValue.indexed(value)
        for answer in try PythonValue.indexed(allowed) {
            guard given.count == (try PythonValue.length(answer)) else {
                result = .fail("value_error:list_dict_count", "Wrong number of dictionaries in the list.")
                continue
            }
            var flag = true
            for (element, option) in zip(given, try PythonValue.indexed(answer)) {
                result = try dictCheck(element, .array([option]))
                if !result.valid {
                    flag = false
                    break
                }
            }
            if flag { return .ok }
        }
        return result
    }
}
