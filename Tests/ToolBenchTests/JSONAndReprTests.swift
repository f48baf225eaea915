import Foundation
import JSON
import Testing
import ToolBench

@Suite struct JSONParserTests {
    func parse(_ text: String) throws(DataError) -> JSONValue {
        try JSONParser.parse(Array(text.utf8), file: "t.json")
    }

    func error(_ text: String) -> String {
        do {
            _ = try parse(text)
            return "parsed"
        } catch {
            return error.description
        }
    }

    @Test func keepsKeyOrderAndNumberKinds() throws {
        let value = try parse(#"{"z": 1, "a": [1E5, 1e0, -0, -0.0, 10, 1.0, NaN, Infinity, -Infinity], "m": null, "b": true}"#)
        guard case .object(let object) = value else { Issue.record("not an object"); return }
        #expect(object.keys == ["z", "a", "m", "b"])
        // Python's json.loads gives [100000.0, 1.0, 0, -0.0, 10, 1.0, nan, inf, -inf].
        #expect(PythonRepr.repr(object["a"]!) == "[100000.0, 1.0, 0, -0.0, 10, 1.0, nan, inf, -inf]")
    }

    @Test func aRepeatedKeyKeepsItsFirstPlaceAndLastValue() throws {
        #expect(PythonRepr.repr(try parse(#"{"a": 1, "b": 2, "a": 3}"#)) == "{'a': 3, 'b': 2}")
    }

    @Test func decodesEscapesAndSurrogatePairs() throws {
        #expect(try parse(#""caf\u00e9 \ud83d\ude00 \"q\" \\ \/ \n\t""#) == .string("café 😀 \"q\" \\ / \n\t"))
    }

    @Test func errorsNameTheFileLineColumnAndPath() {
        #expect(error(#"{"a": [1, 2"#) == "t.json:1:12: $.a: unexpected end of the input inside a list; the JSON is truncated")
        #expect(error("{\"a\": {\"b\": [true, \n  fals]}}") == "t.json:2:3: $.a.b[1]: expected a value, found 'f'")
        #expect(error(#"{"a": "x"#) == "t.json:1:9: $.a: unexpected end of the input inside a string; the JSON is truncated")
        #expect(error(#"{"a" 1}"#) == "t.json:1:6: $: expected ':' after key \"a\", found '1'")
        #expect(error(#"[1] 2"#) == "t.json:1:5: $: extra data after the JSON value")
        #expect(error("\"a\tb\"") == "t.json:1:3: $: raw control character U+0009 inside a string (must be escaped)")
        #expect(error(#"{"odd key": [01]}"#) == "t.json:1:15: $[\"odd key\"]: expected ',' or ']' after item 0, found '1'")
        #expect(error("") == "t.json: empty; expected JSON")
        #expect(error("  \n ") == "t.json:1: empty; expected JSON")
    }

    @Test func rejectsInvalidUTF8WithItsPosition() {
        do {
            _ = try JSONParser.parse(Array("[\"ok\",\n \"".utf8) + [0xC3, 0x28] + Array("\"]".utf8), file: "u.json")
            Issue.record("parsed")
        } catch {
            #expect(error.description == "u.json:2:3: not valid UTF-8 text")
        }
    }

    @Test func typedAccessErrorsNameThePath() throws {
        let root = JSONField(try parse(#"{"m": [{"role": "assistant", "function_call": {"name": null}}]}"#), file: "f.json")
        let call = try root.field("m").items()[0].field("function_call")
        #expect(throws: DataError(file: "f.json", path: "$.m[0].function_call.name", message: "expected a string, found null")) {
            try call.field("name").string()
        }
        #expect(throws: DataError(file: "f.json", path: "$.m[0].function_call",
                                  message: "missing the key \"arguments\" (the object has \"name\")")) {
            try call.field("arguments")
        }
    }
}

@Suite struct PythonReprTests {
    @Test func stringsQuoteAndEscapeAsCPython() {
        let cases: [(String, String)] = [
            ("a'b", #""a'b""#), ("a\"b", #"'a"b'"#), ("a'b\"c", #"'a\'b"c'"#), ("tab\there", #"'tab\there'"#),
            ("nl\n", #"'nl\n'"#), ("bs\\", #"'bs\\'"#), ("\u{0}\u{1F}\u{7F}", #"'\x00\x1f\x7f'"#),
            ("\u{85}\u{A0}\u{AD}", #"'\x85\xa0\xad'"#), ("é中😀", "'é中😀'"), ("\u{2028}\u{200B}\u{FEFF}", #"'\u2028\u200b\ufeff'"#),
            ("\u{1F600}\u{E0001}", #"'😀\U000e0001'"#), ("\u{E000}", #"'\ue000'"#), ("\u{10FFFF}", #"'\U0010ffff'"#),
        ]
        for (value, expected) in cases { #expect(PythonRepr.string(value) == expected, "\(value.debugDescription)") }
    }

    @Test func containersAndConstants() throws {
        let value = try JSONParser.parse(Array(#"{"a": true, "b": null, "c": [1, -2, 3.5], "d": {}, "e": []}"#.utf8), file: "x")
        #expect(PythonRepr.repr(value) == "{'a': True, 'b': None, 'c': [1, -2, 3.5], 'd': {}, 'e': []}")
    }

    @Test func literalsReadBackExactly() {
        let text = #"[{'name': "it's", 'x': [1, 2.5, -3e-07, True, None], 'd': {'k': '\n\x00\u2028é'}}, {}]"#
        let value = PythonRepr.parseLiteral(text)
        #expect(value.map(PythonRepr.repr) == text)
        #expect(PythonRepr.parseLiteral("[{'a': 1}") == nil)
        #expect(PythonRepr.parseLiteral("[{1: 1}]") == nil)
    }
}
