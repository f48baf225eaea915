import Foundation
@testable import Job
import Testing

/// `eval.toolserver` and `eval.judge`: read with their defaults, printed back by `resolvedYAML`, and
/// every problem named by its key.
@Suite struct EvalServicesTests {
    let workspace: JobWorkspace

    init() throws { workspace = try JobWorkspace() }

    @Test func toolServerAndJudgeAreReadWithTheirDefaults() throws {
        #expect(try workspace.parse(JobWorkspace.base).eval.toolServer == nil)
        let job = try workspace.parse(JobWorkspace.base + """
            eval:
              toolserver: {url: "http://localhost:8080"}
              judge:
                base_url: https://api.example.com/v1
                model: gpt-4o-mini
                key_env: OPENAI_API_KEY

            """)
        #expect(job.eval.toolServer == JobSpec.ToolServerSpec(url: "http://localhost:8080", keyEnv: nil, timeoutSeconds: 60, retries: 2))
        #expect(job.eval.judge == JobSpec.JudgeSpec(baseURL: "https://api.example.com/v1", model: "gpt-4o-mini", keyEnv: "OPENAI_API_KEY",
                                                    evaluateTimes: 3, timeoutSeconds: 120, retries: 2))
        let resolved = try job.resolvedYAML()
        #expect(resolved.contains("  toolserver:\n    url: http://localhost:8080\n    timeout_s: 60.0\n    retries: 2\n"), "\(resolved)")
        let again = try JobSpec.parse(resolved, file: "resolved.yaml")
        #expect(again.eval.toolServer == job.eval.toolServer && again.eval.judge == job.eval.judge)
        let tuned = try workspace.parse(JobWorkspace.base + """
            eval:
              toolserver: {url: "http://h:1/virtual", key_env: TOOLBENCH_KEY, timeout_s: 2.5, retries: 0}
              judge: {base_url: "http://h:2/v1", model: m, evaluate_times: 5, timeout_s: 30, retries: 1}

            """)
        #expect(tuned.eval.toolServer == JobSpec.ToolServerSpec(url: "http://h:1/virtual", keyEnv: "TOOLBENCH_KEY", timeoutSeconds: 2.5, retries: 0))
        #expect(tuned.eval.judge == JobSpec.JudgeSpec(baseURL: "http://h:2/v1", model: "m", keyEnv: nil, evaluateTimes: 5, timeoutSeconds: 30,
                                                      retries: 1))
    }

    @Test func everyProblemIsNamedByItsKey() throws {
        let issues = workspace.issues(JobWorkspace.base + """
            eval:
              toolserver: {url: "ftp://h", key_env: "1KEY", timeout_s: 0, retry: 3}
              judge: {base_url: "localhost:8000", evaluate_times: 0}

            """)
        #expect(Set(issues.map(\.keyPath)) == ["eval.toolserver.url", "eval.toolserver.key_env", "eval.toolserver.timeout_s",
                                               "eval.toolserver.retry", "eval.judge.base_url", "eval.judge.model",
                                               "eval.judge.evaluate_times"], "\(issues)")
        #expect(issues.first { $0.keyPath == "eval.toolserver.url" }?.message == "expected an http:// or https:// address, found the string \"ftp://h\"")
        #expect(issues.first { $0.keyPath == "eval.judge.model" }?.message.contains("missing") == true)
    }
}
