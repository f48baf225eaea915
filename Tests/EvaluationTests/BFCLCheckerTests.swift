@testable import Evaluation
import Foundation
import JSON
import TestSupport
import Testing

/// ToolTune's BFCL checker against bfcl's own: the call sets of Tests/Fixtures/bfcl/crosscheck.json
/// (scripts/make_bfcl_fixtures.py ran bfcl-eval's ast_checker on each) must get bfcl's verdict and
/// error type, every one.
@Suite struct BFCLCheckerTests {
    static let fixture = ToolTuneBinary.projectRoot.appendingPathComponent("Tests/Fixtures/bfcl/crosscheck.json").path

    @Test func agreesWithBFCLsCheckerOnEveryGeneratedCallSet() throws {
        guard case .object(let root) = try JSONParser.parse(contentsOf: Self.fixture),
              case .object(let entries)? = root["entries"], case .array(let cases)? = root["cases"] else {
            throw Failure("\(Self.fixture): not a cross-check fixture")
        }
        var disagreements: [String] = [], valid = 0
        var categories: Set<String> = []
        for item in cases {
            guard case .object(let c) = item, case .string(let category)? = c["category"], case .string(let id)? = c["id"],
                  case .string(let mutation)? = c["mutation"], case .array(let output)? = c["output"], case .bool(let expected)? = c["valid"],
                  case .object(let entry)? = entries[id], case .array(let functions)? = entry["function"],
                  case .array(let truth)? = entry["ground_truth"] else { throw Failure("malformed case \(item.dumps())") }
            categories.insert(category)
            let expectedType: String? = if case .string(let t)? = c["error_type"] { t } else { nil }
            let verdict = BFCLChecker.check(category: category, functions: functions, output: output, possibleAnswer: truth)
            if verdict.valid { valid += 1 }
            if verdict.valid != expected || (!expected && verdict.errorType != expectedType) {
                disagreements.append("\(id) (\(mutation)): bfcl \(expected) \(expectedType ?? ""), ToolTune \(verdict.valid) \(verdict.errorType ?? "") \(verdict.error ?? "")")
            }
        }
        #expect(cases.count >= 1000 && valid > 300 && categories == ["simple_python", "multiple", "parallel", "parallel_multiple"])
        let report = "\(disagreements.count) of \(cases.count) disagree:\n" + disagreements.prefix(30).joined(separator: "\n")
        #expect(disagreements.isEmpty, "\(report)")
    }

    @Test func pythonEqualityAndStandardisation() throws {
        func v(_ text: String) throws -> JSONValue { try JSONParser.parse(Array(text.utf8), options: .python()) }
        #expect(try PythonValue.equal(v("1"), v("1.0")) && PythonValue.equal(v("true"), v("1")) && !PythonValue.equal(v("\"1\""), v("1")))
        #expect(try PythonValue.equal(v("{\"a\": [1, 2.0]}"), v("{\"a\": [1.0, 2]}")) && !PythonValue.equal(v("[1, 2]"), v("[2, 1]")))
        #expect(try PythonValue.equal(v("100000000000000000000"), v("1e20")) && !PythonValue.equal(v("100000000000000000001"), v("1e20")))
        // Code points, not canonical equivalence: "é" precomposed is not "e" + combining acute.
        #expect(!PythonValue.equal(.string("\u{e9}"), .string("e\u{301}")))
        #expect(try PythonValue.contains(.string("abc"), .string("")) && PythonValue.contains(.string("abc"), .string("bc")))
        #expect(BFCLChecker.standardize("April 1, 2024 - It's_OK*^/.") == "april12024it\"sok")
    }
}
