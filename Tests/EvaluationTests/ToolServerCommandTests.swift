@testable import Evaluation
import Foundation
import Interop
import JSON
import OPT
import Preflight
import TestSupport
import Testing
import ToolBench

/// `tooltune eval` with `eval.toolserver` and `eval.judge` pointing at servers on 127.0.0.1 that this
/// test runs. The model is a small random one generating one token per turn: a turn that short parses
/// to an empty action, which ToolBench's `endswith` matching sends to the first API, so every turn
/// calls the tool server; no turn calls Finish, so StableToolBench's rules judge every run Unsolved
/// without asking the judge.
@Suite(.serialized) struct ToolServerCommandTests {
    let root: URL
    var job: String { root.appendingPathComponent("job.yaml").path }
    var checkpoint: String { root.appendingPathComponent("models/step-000007.h5").path }
    var evalFolder: URL { root.appendingPathComponent("run/eval") }
    let queries = ToolTuneBinary.projectRoot.appendingPathComponent("demo/data/queries/G1_query.json").path

    init() throws {
        root = try makeTemporaryFolder("eval-toolserver")
        try FileManager.default.createDirectory(at: root.appendingPathComponent("models"), withIntermediateDirectories: true)
        try jobText(server: "http://127.0.0.1:9", judge: "http://127.0.0.1:9").write(toFile: job, atomically: true, encoding: .utf8)
        let model = try OPTModel(config: try JobPreflight.load(job).model.config, seed: 3)
        try ModelCheckpoint.save(model, to: checkpoint)
    }

    func jobText(server: String, judge: String, timeout: Double = 10) -> String {
        let p = ToolTuneBinary.projectRoot.path
        return """
            name: toolserver
            seed: 5
            model: {init: random, config: {preset: tiny, vocab_size: 4096, max_position_embeddings: 1024}}
            tokenizer: {path: \(p)/demo/tokenizer}
            data: {train: \(p)/demo/data/eval/G3_answer, max_seq_len: 1024}
            train: {micro_batch_tokens: 1024, global_batch_tokens: 2048}
            checkpoint: {dir: \(root.path)/run}
            eval:
              max_new_tokens: 1
              max_steps: 2
              queries: \(queries)
              toolenv: \(p)/demo/data/toolenv/tools
              toolserver: {url: "\(server)", key_env: TOOLTUNE_TEST_KEY, timeout_s: \(timeout), retries: 1}
              judge: {base_url: "\(judge)/v1", model: test-judge, evaluate_times: 3}

            """
    }

    func run(server: LocalHTTPServer, judge: LocalHTTPServer, timeout: Double = 10) throws -> ProcessResult {
        try jobText(server: server.url, judge: judge.url, timeout: timeout).write(toFile: job, atomically: true, encoding: .utf8)
        return try runProcess(ToolTuneBinary.path, ["eval", job, "--checkpoint", checkpoint, "--limit", "2"],
                              environment: ["TOOLTUNE_TEST_KEY": "secret"], timeout: 300)
    }

    @Test func rolloutsCallTheServerAndTheRunsAreJudgedByTheRules() throws {
        let server = try LocalHTTPServer { _, _ in LocalHTTPServer.Response(body: "{\"error\": \"\", \"response\": \"fine\"}") }
        let judge = try LocalHTTPServer { _, _ in LocalHTTPServer.Response(status: 500, body: "never asked") }
        let result = try run(server: server, judge: judge)
        #expect(result.status == 0, "\(result.stderr)")
        // Two queries, two turns each, every one a call of the query's first API.
        let prompts = try QueryFiles.read(file: queries).prefix(2).map { QueryPrompt($0, tools: Demo.tools) }
        let requests = server.requests
        #expect(requests.count == 4 && judge.requests.isEmpty)
        for (i, request) in requests.enumerated() {
            let body = try StableToolBenchTests.json(request)
            let prompt = prompts[i / 2]
            #expect(request.path == "/virtual" && request.headers["toolbench_key"] == "secret")
            #expect(body == JSONObject([("category", .string(prompt.query.apis[0].categoryName)), ("tool_name", .string(prompt.toolNames[0])),
                                        ("api_name", .string(RapidAPI.changeName(RapidAPI.standardize(prompt.query.apis[0].apiName)))),
                                        ("tool_input", .string("")), ("strip", .string("truncate")), ("toolbench_key", .string("secret"))]))
        }
        let evaluation = try JSONDecoder().decode(CheckpointEvaluation.self, from: Data(contentsOf: evalFolder.appendingPathComponent("step-000007.json")))
        #expect(evaluation.settings.toolServer == server.url + "/virtual" && evaluation.settings.judge?.model == "test-judge")
        #expect(evaluation.queryCases.allSatisfy { $0.steps.map(\.observation) == ["{\"error\": \"\", \"response\": \"fine\"}", "{\"error\": \"\", \"response\": \"fine\"}"] })
        let sopr = try #require(evaluation.judged?.overall)
        #expect(sopr.sopr == 0 && sopr.standardDeviation == 0 && sopr.runScores == [0, 0, 0] && sopr.unsolved == 6 && sopr.judgeCalls == 0)
        #expect(evaluation.queryCases.allSatisfy { $0.judgements?.map(\.reason) == Array(repeating: "no Finish call ends the run", count: 3) })
        #expect(result.stdout.contains("SoPR, judged by test-judge"))
        let report = try String(contentsOf: evalFolder.appendingPathComponent("report.md"), encoding: .utf8)
        #expect(report.contains("| SoPR, judged by test-judge | 0.0% |") && report.contains("whose calls the tool server \(server.url)/virtual answered"))
        // The converted answers: one file per query group, a chain per query id.
        let converted = evalFolder.appendingPathComponent("stabletoolbench/step-000007/G1_query.json")
        guard case .object(let file) = try JSONParser.parse(contentsOf: converted.path) else { throw Failure("not an object") }
        #expect(file.keys == prompts.map(\.query.queryID))
        for (key, answer) in file.pairs {
            let expected = StableToolBenchAnswers.answer(try #require(evaluation.queryCases.first { $0.queryID == key }),
                                                         prompt: try #require(prompts.first { $0.query.queryID == key }))
            #expect(answer == expected)
        }
    }

    @Test func serverFailuresStopTheEvaluationWithoutAReport() throws {
        let judge = try LocalHTTPServer { _, _ in LocalHTTPServer.Response(status: 500, body: "never asked") }
        let failing = try LocalHTTPServer { _, _ in LocalHTTPServer.Response(status: 500, body: "Internal Server Error") }
        let broken = try run(server: failing, judge: judge)
        #expect(broken.status == 1 && broken.stderr.contains("tool server: POST \(failing.url)/virtual: HTTP 500: Internal Server Error"),
                "\(broken.stderr)")
        #expect(failing.requests.count == 2)  // one retry
        let slow = try LocalHTTPServer { _, _ in LocalHTTPServer.Response(body: "{\"error\": \"\", \"response\": \"\"}", delay: 3) }
        let timedOut = try run(server: slow, judge: judge, timeout: 0.5)
        #expect(timedOut.status == 1 && timedOut.stderr.contains("/virtual: no answer within the timeout"), "\(timedOut.stderr)")
        #expect(!FileManager.default.fileExists(atPath: evalFolder.path))
        // A key variable that is not set stops it before anything runs.
        let missingKey = try runProcess(ToolTuneBinary.path, ["eval", job, "--checkpoint", checkpoint], environment: [:])
        #expect(missingKey.status == 1 && missingKey.stderr.contains("eval.toolserver.key_env: the environment variable TOOLTUNE_TEST_KEY is not set"),
                "\(missingKey.stderr)")
    }
}
