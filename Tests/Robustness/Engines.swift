import Foundation
import TestSupport
import Testing

extension RobustnessTests {
    @Test(arguments: EngineChoices.cases())
    func engineChoices(_ hostile: HostileCase) throws { try check(hostile, in: scratch) }
}

/// The GEMM engine and precision choices: job keys compute.gemm, train.precision and eval.precision with
/// values that are not choices (refused where the job is read, at its line), choices this build cannot
/// run together (bf16 on OpenBLAS: refused naming the field before anything is prepared or written), and
/// the bench commands' --gemm, --precision and size options.
enum EngineChoices {
    /// YAML texts that are not a backend or a precision.
    static let badChoices = ["cuda", "BF16", "16", "\"\"", "[bf16]", "{a: 1}"]

    static func cases() -> [HostileCase] {
        var all: [HostileCase] = []
        // Every command that reads the whole job meets the bad key before doing anything.
        for (section, key) in [("compute", "gemm"), ("train", "precision"), ("eval", "precision")] {
            for value in badChoices {
                for command in ["prepare", "train", "validate"] {
                    all.append(HostileCase(family: "engine-keys", name: "\(section).\(key): \(value) (\(command))", make: { folder in
                        [command, try Inputs.job(in: folder, train: Inputs.demoTrain, extra: "\(section): {\(key): \(value)}")]
                    }, mentions: ["job.yaml", "\(section).\(key)"]))
                }
            }
        }
        // Valid choices this build cannot run together: bf16 needs oneDNN.
        all.append(HostileCase(family: "engine-keys", name: "train.precision bf16 on compute.gemm openblas (train)", make: { folder in
            ["train", try Inputs.job(in: folder, train: Inputs.demoTrain, extra: "train: {precision: bf16}\ncompute: {gemm: openblas}")]
        }, mentions: ["job.yaml", "train.precision", "openblas"]))
        all.append(HostileCase(family: "engine-keys", name: "eval.precision bf16 on compute.gemm openblas (eval)", make: { folder in
            let job = try SmallRun.copy(to: folder, trained: true, extra: "eval: {precision: bf16}\ncompute: {gemm: openblas}")
            return ["eval", job, "--checkpoint", folder.appendingPathComponent("run/checkpoints/step-000002.h5").path]
        }, mentions: ["job.yaml", "eval.precision", "openblas"], watched: ["run"]))

        func option(_ label: String, _ name: String, _ values: [String], status: Int32 = 64, mentions: [String] = [],
                    _ command: @escaping @Sendable (String) throws -> [String]) {
            for value in values {
                all.append(HostileCase(family: "engine-options", name: "\(label) \(name) \(value)",
                                       make: { _ in try command(value) }, status: status, mentions: [name] + mentions))
            }
        }
        @Sendable func model() throws -> String { try modelFile.get() }
        let backends = ["cuda", "OneDNN", ""]
        let precisions = ["fp16", "BF16", ""]
        option("bench train-step", "--gemm", backends) { ["bench", "train-step", "--preset", "tiny", "--gemm", $0] }
        option("bench generate", "--gemm", backends) { ["bench", "generate", "--model", try model(), "--gemm", $0] }
        option("bench train-step", "--precision", precisions) { ["bench", "train-step", "--preset", "tiny", "--precision", $0] }
        option("bench generate", "--precision", precisions) { ["bench", "generate", "--model", try model(), "--precision", $0] }
        option("bench gemm", "--precision", precisions) { ["bench", "gemm", "--preset", "tiny", "--precision", $0] }
        option("generate", "--precision", precisions) { ["generate", try model(), "--prompt", "hi", "--precision", $0] }
        // bf16 on OpenBLAS: a valid pair this build cannot run, refused before any work.
        option("bench train-step", "--precision", ["bf16"], status: 1, mentions: ["openblas"]) {
            ["bench", "train-step", "--preset", "tiny", "--gemm", "openblas", "--precision", $0]
        }
        option("bench generate", "--precision", ["bf16"], status: 1, mentions: ["openblas"]) {
            ["bench", "generate", "--model", try model(), "--gemm", "openblas", "--precision", $0]
        }
        // Sizes: each a usage error naming the option, where -5 was "Missing value" and 2^40 trapped.
        option("bench gemm", "--tokens", ["0", "-5", "1099511627776", "nan"]) { ["bench", "gemm", "--preset", "tiny", "--tokens", $0] }
        option("bench gemm", "--tokens", ["268435456"], status: 1, mentions: ["opt-1.3b", "GB"]) {  // within the bound, past the memory (12 TB)
            ["bench", "gemm", "--preset", "opt-1.3b", "--tokens", $0]
        }
        option("bench gemm", "--repeats", ["0", "-1"]) { ["bench", "gemm", "--preset", "tiny", "--repeats", $0] }
        option("bench gemm", "--threads", ["0", "100000"]) { ["bench", "gemm", "--preset", "tiny", "--threads", $0] }
        option("bench train-step", "--batch", ["0", "-1", "9223372036854775807"]) { ["bench", "train-step", "--preset", "tiny", "--batch", $0] }
        option("bench train-step", "--seq", ["1", "-128"]) { ["bench", "train-step", "--preset", "tiny", "--seq", $0] }
        option("bench train-step", "--steps", ["0", "9223372036854775807"]) { ["bench", "train-step", "--preset", "tiny", "--steps", $0] }
        option("bench train-step", "--warmup", ["-1", "9223372036854775807"]) { ["bench", "train-step", "--preset", "tiny", "--warmup", $0] }
        option("bench train-step", "--batch", ["4096"], status: 1, mentions: ["--seq", "activation memory"]) {  // tokens fit, activations (3.6 TB) do not
            ["bench", "train-step", "--preset", "opt-125m", "--seq", "2048", "--steps", "1", "--warmup", "0", "--batch", $0]
        }
        option("bench generate", "--prompt-tokens", ["0", "-1", "9223372036854775807"]) { ["bench", "generate", "--model", try model(), "--prompt-tokens", $0] }
        option("bench generate", "--new-tokens", ["1", "-5", "9223372036854775807"]) { ["bench", "generate", "--model", try model(), "--new-tokens", $0] }
        option("bench generate", "--repeats", ["0"]) { ["bench", "generate", "--model", try model(), "--repeats", $0] }
        return all
    }
}
