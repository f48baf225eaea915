import Foundation
import JSON
import Testing

@Suite struct WriterTests {
    @Test func dumpsLikePython() {
        // Expected strings printed by Python 3.11's json.dumps.
        #expect(JSONValue.object(JSONObject([("error", .string("")), ("response", .string("é😀\u{01}\t\"\\/ x\u{2028}"))])).dumps()
                == "{\"error\": \"\", \"response\": \"\\u00e9\\ud83d\\ude00\\u0001\\t\\\"\\\\/ x\\u2028\"}")
        #expect(JSONValue.array([.float(1), .float(1e-05), .float(1e16), .integer("123456789012345678901234567890"),
                                 .float(0.1), .float(-0.0), .float(.nan), .float(.infinity)]).dumps()
                == "[1.0, 1e-05, 1e+16, 123456789012345678901234567890, 0.1, -0.0, NaN, Infinity]")
    }

    @Test func compactDumpsWithoutEnsureASCII() {
        // Python: json.dumps(value, ensure_ascii=False, separators=(",", ":")); serde_json escapes the same way.
        let value = JSONValue.object(JSONObject([
            ("__metadata__", .object(JSONObject([("format", .string("pt"))]))),
            ("a\"b\\c\n\u{01}\u{7F}\u{08}\u{0C}é😀/", .array([.integer("1"), .float(2.5), .null, .bool(true)])),
        ]))
        #expect(value.dumps(ensureASCII: false, separators: .compact)
                == "{\"__metadata__\":{\"format\":\"pt\"},\"a\\\"b\\\\c\\n\\u0001\u{7F}\\b\\fé😀/\":[1,2.5,null,true]}")
    }

    /// Expected values are what CPython 3.11 prints for `repr(x)`.
    @Test(arguments: [
        (1e-05, "1e-05"), (1e16, "1e+16"), (1e15, "1000000000000000.0"), (0.0001, "0.0001"), (0.1, "0.1"),
        (1.5, "1.5"), (-0.0, "-0.0"), (123456789.123, "123456789.123"), (Double.leastNonzeroMagnitude, "5e-324"),
        (1.7976931348623157e+308, "1.7976931348623157e+308"), (2.5e-7, "2.5e-07"), (1e22, "1e+22"),
        (12345678901234567.0, "1.2345678901234568e+16"), (0.3, "0.3"), (100.0, "100.0"), (1e100, "1e+100"),
        (-3.0, "-3.0"), (9999999999999998.0, "9999999999999998.0"), (0.00012345, "0.00012345"),
    ])
    func floats(value: Double, expected: String) {
        #expect(value.pythonRepr == expected)
    }
}

@Suite struct DialectTests {
    func parse(_ text: String, _ options: JSONParser.Options) throws(JSONSyntaxError) -> JSONValue {
        try JSONParser.parse(Array(text.utf8), options: options)
    }

    /// The error's line:column and problem.
    func failure(_ text: String, _ options: JSONParser.Options) -> (Int, Int, JSONSyntaxError.Problem)? {
        do {
            _ = try parse(text, options)
            return nil
        } catch {
            return (error.position.line, error.position.column, error.problem)
        }
    }

    /// What Python 3.11's json.loads gives for the same texts (positions of errors included).
    @Test func pythonDialectReadsAsJsonLoads() throws {
        let python = JSONParser.Options.python()
        let repeated = try parse(#"{"a": 1, "b": 2, "a": 3}"#, python)
        #expect(repeated == .object(JSONObject([("a", .integer("3")), ("b", .integer("2"))])))
        guard case .array(let special) = try parse("[NaN, -Infinity, 1e400, -0, -0.0]", python) else { Issue.record("not a list"); return }
        #expect(special.count == 5)
        if case .float(let nan) = special[0] { #expect(nan.isNaN) } else { Issue.record("NaN is \(special[0])") }
        #expect(Array(special[1...]) == [.float(-.infinity), .float(.infinity), .integer("0"), .float(-0.0)])
        #expect(try parse(#""\ud83d\ude00""#, python) == .string("😀"))
        // Python keeps the lone surrogate, which a Swift string cannot hold.
        #expect(try parse(#""\ud800x""#, python) == .string("\u{FFFD}x"))
        #expect(try JSONParser.parse([0xEF, 0xBB, 0xBF] + Array("[1]".utf8), options: python) == .array([.integer("1")]))
        #expect(try parse("\"a\tb\"", .python(strict: false)) == .string("a\tb"))
        #expect(failure("\"a\tb\"", python)! == (1, 3, .controlCharacter(0x09)))
        #expect(failure("[01]", python)! == (1, 3, .unexpected(.commaOrArrayEnd(afterItem: 0))))
        #expect(failure(#"{"a" 1}"#, python)! == (1, 6, .unexpected(.colon(afterKey: "a"))))
        #expect(failure("[1,]", python)! == (1, 4, .unexpected(.value)))
    }

    @Test func strictDialectIsRFC8259WithUniqueKeys() throws {
        let strict = JSONParser.Options.strict
        #expect(try parse(#"{"a": [1, -0.5e3, "x\u00e9"], "b": null}"#, strict)
                == .object(JSONObject([("a", .array([.integer("1"), .float(-500), .string("xé")])), ("b", .null)])))
        #expect(failure("{\"a\": 1,\n \"a\": 2}", strict)! == (2, 2, .duplicateKey("a")))
        #expect(failure("[NaN]", strict)! == (1, 2, .unexpected(.value)))
        #expect(failure("[-01]", strict)! == (1, 3, .leadingZero))
        #expect(failure(#"["ab\ud800"]"#, strict)! == (1, 5, .loneSurrogate(0xD800)))
        #expect(failure(#"["\ud800\u0041"]"#, strict)! == (1, 3, .invalidSurrogatePair))
        #expect(failure("\u{FEFF}[1]", strict)! == (1, 1, .unexpected(.value)))
        // Columns count characters; byte columns are there too.
        let error = try #require(throws: JSONSyntaxError.self) { try parse("[\"é\", x]", strict) }
        #expect(error.position.column == 7 && error.position.byteColumn == 8 && error.path == [.index(1)])
        #expect(error.description == "1:7: $[1]: expected a value, found 'x'")
    }
}

@Suite struct DepthLimitTests {
    /// `depth` nested values: arrays and objects alternating, an integer innermost.
    static func nested(_ depth: Int) -> [UInt8] {
        let open = (0..<depth).map { $0 % 2 == 0 ? "[" : "{\"k\": " }.joined()
        let close = (0..<depth).reversed().map { $0 % 2 == 0 ? "]" : "}" }.joined()
        return Array((open + "1" + close).utf8)
    }

    @Test func readsUpToTheLimitOnAWorkerThread() throws {
        // prepare parses on worker threads, whose stacks are the smallest the parser meets.
        let limit = JSONParser.maximumDepth
        let result = DispatchQueue.global().sync { Result { try JSONParser.parse(Self.nested(limit), options: .python()) } }
        var value = try result.get()
        var levels = 0
        while true {
            switch value {
            case .array(let items): value = items[0]
            case .object(let object): value = object["k"]!
            default:
                #expect(levels == limit && value == .integer("1"))
                return
            }
            levels += 1
        }
    }

    @Test(arguments: [JSONParser.maximumDepth + 1, 10_000, 1_000_000])
    func refusesDeeperAtTheBracket(depth: Int) throws {
        for options in [JSONParser.Options.strict, .python()] {
            let error = try #require(throws: JSONSyntaxError.self) { try JSONParser.parse(Self.nested(depth), options: options) }
            #expect(error.problem == .tooDeep(limit: JSONParser.maximumDepth))
            // The 513th opening bracket: 256 "[" of 1 byte and 256 "{"k": " of 6 before it.
            #expect(error.position.line == 1 && error.position.column == 256 + 256 * 6 + 1)
            #expect(error.description.hasPrefix("1:\(error.position.column): $[0].k[0].k[0].k[0].k...(504 more): arrays and objects nested more than 512 levels deep"))
        }
    }
}
