import Evaluation
import Testing
import ToolBench

/// ToolBench's react_parser on hand-made outputs. The expected fields are what the Python function
/// (toolbench/inference/utils.py) returns for the same strings after `.strip()`, as ToolLLaMA calls it.
@Suite struct ReactOutputTests {
    static let cases: [(String, (String, String, String), Bool)] = [
        ("\nThought: look it up\nAction: weather_for_demo\nAction Input: {\n  \"city\": \"Oslo\"\n}\n",
         ("look it up", "weather_for_demo", "{\n  \"city\": \"Oslo\"\n}"), true),
        // Missing Action Input: find() gives -1, and s[a:-1] drops the last character.
        ("\nThought: \nAction: weather_for_demo", ("", "weather_for_dem", "ion: weather_for_demo"), false),
        ("", ("", "", ""), false),
        // Broken JSON parses as text.
        ("\nThought: \nAction: weather_for_demo\nAction Input: {\"city\": \"Oslo\"",
         ("", "weather_for_demo", "{\"city\": \"Oslo\""), true),
        ("Action: x\nAction Input: {}", ("x\nAction Input: {", "x", "{}"), false),
        ("hello world, no markers at all", ("rld, no markers at al", "orld, no markers at al", "no markers at all"), false),
        // The first "Action: " wins, even inside the thought.
        ("\nThought: I'll call Action: now\nAction: f\nAction Input: {}", ("I'll call Action: now", "now\nAction: f", "{}"), true),
        // Python indexes characters (Unicode scalars), not bytes.
        ("\nThought: é😀\nAction: fé\nAction Input: {\"a\": \"😀\"}", ("é😀", "fé", "{\"a\": \"😀\"}"), true),
    ]

    @Test(arguments: cases.indices)
    func fieldsAreReactParsers(index: Int) {
        let (text, fields, wellFormed) = Self.cases[index]
        #expect(ReactOutput.parse(text) == ReactOutput(thought: fields.0, action: fields.1, actionInput: fields.2,
                                                         wellFormed: wellFormed))
    }
}
