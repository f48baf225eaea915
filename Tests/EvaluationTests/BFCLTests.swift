@testable import Evaluation
import Foundation
import JSON
import TestSupport
import Testing
import ToolBench

/// A small BFCL data folder in bfcl-eval's layout, written by the tests (our own entries, BFCL's format).
enum BFCLFixture {
    static let triangle = """
        {"name": "geometry.triangle_area", "description": "Area of a triangle.", "parameters": {"type": "dict", "properties": \
        {"base": {"type": "integer", "description": "The base."}, "height": {"type": "float", "description": "The height."}, \
        "unit": {"type": "string", "description": "Unit.", "enum": ["cm", "m"], "default": "cm"}, \
        "tags": {"type": "array", "items": {"type": "string"}, "description": "Labels."}, \
        "shape": {"type": "dict", "properties": {"kind": {"type": "string"}}, "required": ["kind"], "description": "Shape."}}, \
        "required": ["base", "height"]}}
        """
    static let weather = """
        {"name": "get_weather", "description": "Weather in a city.", "parameters": {"type": "dict", "properties": \
        {"city": {"type": "string", "description": "City."}}, "required": ["city"]}}
        """

    static func entry(_ id: String, _ question: String, _ functions: [String]) -> String {
        "{\"id\": \"\(id)\", \"question\": [[{\"role\": \"user\", \"content\": \"\(question)\"}]], \"function\": [\(functions.joined(separator: ", "))]}"
    }

    /// Writes the five categories, two entries each, into `folder` (version 4 and an older version 3 that must be ignored).
    static func write(to folder: URL) throws {
        let answers = folder.appendingPathComponent("possible_answer")
        try FileManager.default.createDirectory(at: answers, withIntermediateDirectories: true)
        let weatherTruth = "{\"get_weather\": {\"city\": [\"Paris\", \"paris, france\"]}}"
        let triangleTruth = "{\"geometry.triangle_area\": {\"base\": [10], \"height\": [5.0], \"unit\": [\"cm\", \"\"], \"tags\": [\"\"], \"shape\": [\"\"]}}"
        let data: [(String, [String], [String])] = [
            ("simple_python", [entry("simple_python_0", "Area of a triangle with base 10 and height 5?", [triangle]),
                               entry("simple_python_1", "Weather in Paris?", [weather])],
             ["[\(triangleTruth)]", "[\(weatherTruth)]"]),
            ("multiple", [entry("multiple_0", "Weather in Paris?", [triangle, weather]),
                          entry("multiple_1", "Triangle, base 10, height 5.", [weather, triangle])],
             ["[\(weatherTruth)]", "[\(triangleTruth)]"]),
            ("parallel", [entry("parallel_0", "Weather in Paris and in Rome?", [weather]),
                          entry("parallel_1", "Weather in Paris twice?", [weather])],
             ["[\(weatherTruth), {\"get_weather\": {\"city\": [\"Rome\"]}}]", "[\(weatherTruth), \(weatherTruth)]"]),
            ("parallel_multiple", [entry("parallel_multiple_0", "Weather in Paris and a triangle.", [weather, triangle]),
                                   entry("parallel_multiple_1", "Weather in Rome and in Paris.", [triangle, weather])],
             ["[\(weatherTruth), \(triangleTruth)]", "[{\"get_weather\": {\"city\": [\"Rome\"]}}, \(weatherTruth)]"]),
            ("irrelevance", [entry("irrelevance_0", "Who wrote Hamlet?", [weather]), entry("irrelevance_1", "What is 2+2?", [triangle])], []),
        ]
        for (category, entries, truths) in data {
            try (entries.joined(separator: "\n") + "\n").write(to: folder.appendingPathComponent("BFCL_v4_\(category).json"), atomically: true, encoding: .utf8)
            try "not json\n".write(to: folder.appendingPathComponent("BFCL_v3_\(category).json"), atomically: true, encoding: .utf8)
            if !truths.isEmpty {
                let lines = zip(entries.indices, truths).map { "{\"id\": \"\(category)_\($0)\", \"ground_truth\": \($1)}" }
                try (lines.joined(separator: "\n") + "\n").write(to: answers.appendingPathComponent("BFCL_v4_\(category).json"), atomically: true, encoding: .utf8)
            }
        }
    }
}

@Suite struct BFCLTests {
    static func call(_ name: String, _ arguments: String) -> String { RolloutTests.call(name, arguments) }

    static func entries() throws -> [BFCLEntry] {
        let folder = try makeTemporaryFolder("bfcl-data")
        try BFCLFixture.write(to: folder)
        return try BFCLData.load(folder: folder.path, categories: BFCLData.categories, limit: nil)
    }

    static func run(_ entry: BFCLEntry, _ script: [String]) throws -> (BFCLCaseResult, ScriptedGenerator) {
        let generator = ScriptedGenerator(script)
        let result = try BFCLRollout(prompt: BFCLPrompt(entry), maxSteps: 6).run(generator: generator, fitter: Demo.fitter(), reserve: 96, seed: 1)
        return (result, generator)
    }

    @Test func dataLoadsTheNewestVersionWithItsPossibleAnswers() throws {
        let entries = try Self.entries()
        #expect(entries.map(\.id) == ["simple_python_0", "simple_python_1", "multiple_0", "multiple_1", "parallel_0", "parallel_1",
                                      "parallel_multiple_0", "parallel_multiple_1", "irrelevance_0", "irrelevance_1"])
        #expect(entries[1].question == "Weather in Paris?" && entries[1].functions.count == 1 && entries[1].groundTruth?.count == 1)
        #expect(entries[8].groundTruth == nil && entries[8].irrelevance && entries[4].parallel && !entries[2].parallel)
        // The package folder works too (its data/ is used), and --limit keeps the first N per category.
        let package = try makeTemporaryFolder("bfcl-package")
        try BFCLFixture.write(to: package.appendingPathComponent("data"))
        #expect(try BFCLData.load(folder: package.path, categories: ["parallel", "irrelevance"], limit: 1).map(\.id) == ["parallel_0", "irrelevance_0"])
    }

    @Test func badDataNamesTheFileAndTheLine() throws {
        let folder = try makeTemporaryFolder("bfcl-bad")
        try BFCLFixture.write(to: folder)
        let file = folder.appendingPathComponent("BFCL_v4_parallel.json")
        try (BFCLFixture.entry("parallel_0", "q", [BFCLFixture.weather]) + "\n{\"id\": \"parallel_1\", \"question\": [[{\"role\": \"system\", \"content\": \"x\"}]], \"function\": []}\n")
            .write(to: file, atomically: true, encoding: .utf8)
        #expect { try BFCLData.load(folder: folder.path, categories: ["parallel"], limit: nil) } throws: { error in
            "\(error)".contains("BFCL_v4_parallel.json:2: $.question[0][0].role: expected a user message")
        }
        #expect { try BFCLData.load(folder: folder.path, categories: ["live_simple"], limit: nil) } throws: { error in
            "\(error)".contains("--categories: live_simple is not one of simple_python, multiple, parallel, parallel_multiple, irrelevance")
        }
        let empty = try makeTemporaryFolder("bfcl-empty")
        #expect { try BFCLData.load(folder: empty.path, categories: ["simple_python"], limit: nil) } throws: { error in
            "\(error)".contains("no BFCL_v<N>_simple_python.json; give bfcl-eval's data folder (pip install bfcl-eval")
        }
    }

    @Test func functionsAreListedAsToolBenchFunctions() throws {
        let entry = try Self.entries()[0]
        let prompt = BFCLPrompt(entry)
        #expect(prompt.functionNames == ["geometry_triangle_area"])
        let expected = """
            {"name": "geometry_triangle_area", "description": "Area of a triangle.", "parameters": {"type": "object", "properties": \
            {"base": {"type": "integer", "description": "The base."}, "height": {"type": "number", "description": "The height."}, \
            "unit": {"type": "string", "description": "Unit.", "enum": ["cm", "m"], "example_value": "cm"}, \
            "tags": {"type": "array", "description": "Labels.", "items": {"type": "string"}}, \
            "shape": {"type": "object", "description": "Shape.", "properties": {"kind": {"type": "string"}}, "required": ["kind"]}}, \
            "required": ["base", "height"], "optional": ["unit", "tags", "shape"]}}
            """
        #expect(prompt.functions[0].dumps() == expected)
        #expect(prompt.functions.last == RapidAPI.finishFunction)
        let conversation = prompt.conversation
        #expect(conversation.turns[0].value.contains("You have access of the following tools:\n1.geometry_triangle_area: None\n"))
        #expect(conversation.turns[0].value.hasSuffix(PythonRepr.repr(.array(prompt.functions))))
        #expect(conversation.turns[1].value == "\nArea of a triangle with base 10 and height 5?\nBegin!\n")
    }

    @Test func singleCallCategoriesEndAtTheFirstCall() throws {
        let entries = try Self.entries()
        // Right, with the optional unit and "10" as an int; a string in another case passes bfcl's normalisation.
        let (right, generator) = try Self.run(entries[0], [Self.call("geometry_triangle_area", "{\"base\": 10, \"height\": 5, \"unit\": \"CM\"}"),
                                                           Self.call("Finish", "{}")])
        #expect(right.verdict.valid && right.end == .call && right.steps.count == 1 && generator.prompts.count == 1)
        #expect(right.calls == ["{\"geometry_triangle_area\": {\"base\": 10, \"height\": 5, \"unit\": \"CM\"}}"])
        let (dotted, _) = try Self.run(entries[0], [Self.call("geometry.triangle_area", "{\"base\": 10, \"height\": 5}")])
        #expect(dotted.verdict.errorType == "simple_function_checker:wrong_func_name")
        let (wrongType, _) = try Self.run(entries[0], [Self.call("geometry_triangle_area", "{\"base\": \"10\", \"height\": 5}")])
        #expect(wrongType.verdict.errorType == "type_error:simple")
        let (notJSON, _) = try Self.run(entries[1], [Self.call("get_weather", "city=Paris")])
        #expect(notJSON.verdict.errorType == "ast_decoder:decoder_failed" && notJSON.calls == nil)
        let (finished, _) = try Self.run(entries[1], [Self.call("Finish", "{\"return_type\": \"give_answer\", \"final_answer\": \"sunny\"}")])
        #expect(finished.end == .finish && finished.calls == [] && finished.verdict.errorType == "simple_function_checker:wrong_count")
        // multiple: the right function among several.
        let (multiple, _) = try Self.run(entries[2], [Self.call("get_weather", "{\"city\": \"Paris, France\"}")])
        #expect(multiple.verdict.valid)
        let (other, _) = try Self.run(entries[2], [Self.call("geometry_triangle_area", "{\"base\": 1, \"height\": 1}")])
        #expect(!other.verdict.valid)
    }

    @Test func parallelCategoriesCollectCallsUntilFinish() throws {
        let entries = try Self.entries()
        let rome = Self.call("get_weather", "{\"city\": \"Rome\"}"), paris = Self.call("get_weather", "{\"city\": \"Paris\"}")
        let (result, generator) = try Self.run(entries[4], [rome, paris, Self.call("Finish", "{\"return_type\": \"give_answer\", \"final_answer\": \"ok\"}")])
        #expect(result.verdict.valid && result.end == .finish && result.calls?.count == 2)  // any order
        // Each call is answered with an empty response, and the next prompt shows it.
        #expect(result.steps[0].observation == "{\"error\": \"\", \"response\": \"\"}")
        #expect(generator.prompts[1].hasSuffix(rome + "\nFunction: {\"error\": \"\", \"response\": \"\"}\nAssistant: "))
        let (unknown, _) = try Self.run(entries[4], [Self.call("weather", "{\"city\": \"Rome\"}"), Self.call("Finish", "{}")])
        #expect(unknown.steps[0].observation == "{\"error\": \"No such function name: weather\", \"response\": \"\"}" && !unknown.verdict.valid)
        let (short, _) = try Self.run(entries[4], [paris, Self.call("Finish", "{}")])
        #expect(short.verdict.errorType == "parallel_function_checker_no_order:wrong_count")
        let (capped, _) = try Self.run(entries[5], [paris])
        #expect(capped.end == .maxSteps && capped.steps.count == 6 && capped.verdict.errorType == "parallel_function_checker_no_order:wrong_count")
        let (mixed, _) = try Self.run(entries[6], [Self.call("geometry_triangle_area", "{\"base\": 10, \"height\": 5.0}"), paris, "no format"])
        #expect(mixed.end == .malformed && mixed.verdict.valid)
    }

    @Test func irrelevancePassesWhenNoCallIsMade() throws {
        let entries = try Self.entries()
        let (gaveUp, _) = try Self.run(entries[8], [Self.call("Finish", "{\"return_type\": \"give_up_and_restart\"}")])
        #expect(gaveUp.verdict.valid && gaveUp.end == .finish)
        let (called, _) = try Self.run(entries[8], [Self.call("get_weather", "{\"city\": \"Elsinore\"}")])
        #expect(called.verdict.errorType == "irrelevance_error:decoder_success" && called.end == .call)
        let (babble, _) = try Self.run(entries[9], ["I do not know."])
        #expect(babble.verdict.valid && babble.end == .malformed && babble.calls == [])
        let summary = BFCLSummary([gaveUp, called, babble])
        #expect(summary.entries == 3 && abs(summary.accuracy! - 2.0 / 3) < 1e-12 && summary.errors == ["irrelevance_error:decoder_success": 1])
        #expect(abs(summary.noCallRate! - 2.0 / 3) < 1e-12 && abs(summary.meanCalls! - 1.0 / 3) < 1e-12)
    }
}
