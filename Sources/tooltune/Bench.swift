import ArgumentParser
import Diagnostics
import Distributed
import Foundation
import Kernels
import OPT

struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Benchmarks (printed figures; compared with PyTorch by scripts/bench_train_step.sh, bench_generate.py and bench_allreduce.sh).",
        subcommands: [TrainStep.self, Generate.self, Allreduce.self, GEMM.self])

    struct TrainStep: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "train-step",
            abstract: "Time the training step (forward, backward, clipping and AdamW, as train runs it) of a randomly initialized preset on random tokens.",
            discussion: "Medians over --steps steps after --warmup untimed ones; GFLOP/s with scripts/bench_pytorch.py's FLOP formula.")

        @Option(help: "opt-125m, opt-350m, opt-1.3b, tiny, tiny-350m-style.")
        var preset = "opt-125m"
        @Option(parsing: .unconditional, help: "Sequences per step.")
        var batch = 1
        @Option(parsing: .unconditional, help: "Tokens per sequence.")
        var seq = 128
        @Option(parsing: .unconditional, help: "Timed steps (medians are over these).")
        var steps = 5
        @Option(parsing: .unconditional, help: "Untimed steps first.")
        var warmup = 1
        @Option(parsing: .unconditional, help: "Kernel threads (default: all CPUs).")
        var threads = ProcessInfo.processInfo.activeProcessorCount
        @Option(parsing: .unconditional, help: "Seed of the weights, tokens and dropout masks.")
        var seed: UInt64 = 0
        @Option(help: "fp32, or bf16 mixed precision (a job's train.precision).")
        var precision: Precision = .fp32
        @Option(help: "The GEMM backend: auto, openblas or onednn (a job's compute.gemm).")
        var gemm: String = "auto"
        @Flag(help: "Print one JSON line instead of the table.")
        var json = false

        func validate() throws {
            try OptionCheck.threads(threads)
            try OptionCheck.atLeast(1, batch, "--batch")
            try OptionCheck.atLeast(2, seq, "--seq")
            try OptionCheck.atLeast(1, steps, "--steps")
            try OptionCheck.atLeast(0, warmup, "--warmup")
            // Every step's random tokens are made first (1 GB at most).
            let tokens = 1 << 28
            try OptionCheck.atMost(tokens, steps, "--steps")
            try OptionCheck.atMost(tokens, warmup, "--warmup")
            try OptionCheck.product([warmup + steps, batch, seq], "(--warmup + --steps) x --batch x --seq", atMost: tokens, "tokens")
            _ = try gemmBackend(gemm)
        }

        func run() throws {
            let result = try TrainStepBenchmark.run(.init(preset: preset, batch: batch, seq: seq, steps: steps,
                                                          warmup: warmup, threads: threads, seed: seed, precision: precision,
                                                          gemm: try gemmBackend(gemm)))
            try printResult(result, json: json, report: TrainStepBenchmark.report)
        }
    }

    struct Generate: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Time greedy generation with the KV cache: prefill, then one token at a time.",
            discussion: "The prompt is BOS then ids 3 + (i * 7919) % (vocab - 3), as scripts/bench_generate.py gives transformers; no early stop. Medians over --repeats runs after --warmup.")

        @Option(help: "A model file (.h5 with /model and model_config).")
        var model: String
        @Option(parsing: .unconditional, help: "Prompt length in tokens, BOS included.")
        var promptTokens = 512
        @Option(parsing: .unconditional, help: "Tokens to generate.")
        var newTokens = 128
        @Option(parsing: .unconditional, help: "Timed runs.")
        var repeats = 3
        @Option(parsing: .unconditional, help: "Untimed runs first.")
        var warmup = 1
        @Option(parsing: .unconditional, help: "Kernel threads (default: all CPUs).")
        var threads = ProcessInfo.processInfo.activeProcessorCount
        @Option(help: "fp32, or bf16 (a job's eval.precision).")
        var precision: Precision = .fp32
        @Option(help: "The GEMM backend: auto, openblas or onednn (a job's compute.gemm).")
        var gemm: String = "auto"
        @Flag(help: "Print one JSON line instead of the summary.")
        var json = false

        func validate() throws {
            try OptionCheck.threads(threads)
            // No model has more positions than OPTConfig allows.
            let positions = OPTConfig.sizeLimits.first { $0.key == .maxPositionEmbeddings }!.limit
            try OptionCheck.atLeast(1, promptTokens, "--prompt-tokens")
            try OptionCheck.atMost(positions, promptTokens, "--prompt-tokens")
            try OptionCheck.atLeast(2, newTokens, "--new-tokens")
            try OptionCheck.atMost(positions, newTokens, "--new-tokens")
            try OptionCheck.atLeast(1, repeats, "--repeats")
            try OptionCheck.atLeast(0, warmup, "--warmup")
            _ = try gemmBackend(gemm)
        }

        func run() throws {
            let result = try GenerationBenchmark.run(.init(model: model, promptTokens: promptTokens, newTokens: newTokens,
                                                           repeats: repeats, warmup: warmup, threads: threads,
                                                           precision: precision, gemm: try gemmBackend(gemm)))
            try printResult(result, json: json, report: GenerationBenchmark.report)
        }
    }
}

extension Bench {
    struct Allreduce: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Time float32 sum-allreduces over mpirun's ranks, and one gradient sync of a preset in buckets.",
            discussion: "Run under mpirun -n N. Medians over --iterations after --warmup, of the slowest rank; every sum is checked (exit 1 if one is wrong). busbw = algbw x 2(N-1)/N, as nccl-tests report it.")

        @Option(help: "Message sizes in MB, comma-separated.")
        var sizes = "1,4,16,64"
        @Option(help: "The preset whose parameter count sizes the gradient sync.")
        var preset = "opt-350m"
        @Option(parsing: .unconditional, help: "Gradient bucket size in MB (the job's distributed.bucket_mb).")
        var bucketMb = 25.0
        @Option(parsing: .unconditional, help: "Timed iterations (medians are over these).")
        var iterations = 5
        @Option(parsing: .unconditional, help: "Untimed iterations first.")
        var warmup = 1
        @Option(help: "flat (one MPI_Allreduce) or hierarchical (within each node over shared memory, then one rank per node over the network): the job's distributed.allreduce.")
        var allreduce = "flat"
        @Option(help: "fp32, or bf16 (sent as bfloat16, summed in float32): the job's distributed.allreduce_dtype.")
        var allreduceDtype = "fp32"
        @Flag(help: "Print one JSON line instead of the table.")
        var json = false

        func run() throws {
            guard let topology = GradientReduction.Topology(rawValue: allreduce) else {
                throw ValidationError("--allreduce: \"\(allreduce)\" is not flat or hierarchical")
            }
            guard let wire = GradientReduction.Wire(rawValue: allreduceDtype) else {
                throw ValidationError("--allreduce-dtype: \"\(allreduceDtype)\" is not fp32 or bf16")
            }
            let sizesMB = try sizes.split(separator: ",").map { part in
                guard let mb = Double(part.trimmingCharacters(in: .whitespaces)), mb.isFinite, mb > 0 else {
                    throw ValidationError("--sizes: \"\(part)\" is not a size in MB (expected positive numbers separated by commas)")
                }
                return mb
            }
            let comm = try Communicator.world()
            let result = try comm.runCollectively { comm in
                try AllreduceBenchmark.run(.init(sizesMB: sizesMB, preset: preset, bucketMB: bucketMb, iterations: iterations,
                                                 warmup: warmup, reduction: GradientReduction(topology: topology, wire: wire)),
                                           comm: comm)
            }
            if comm.isCoordinator { try printResult(result, json: json, report: AllreduceBenchmark.report) }
            if !result.verified { throw ExitCode(1) }
        }
    }
}

extension Bench {
    struct GEMM: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "gemm",
            abstract: "GFLOP/s of every GEMM engine (backend and precision) on the matrix products of a preset's training step.",
            discussion: "The physical limit of `bench train-step`: per shape and engine, the median over --repeats products after one untimed; the step-weighted line is a step's GEMM FLOPs over the time its products take at these speeds. bf16 engines appear where the CPU has bfloat16 instructions.")

        @Option(help: "opt-125m, opt-350m, opt-1.3b, tiny, tiny-350m-style.")
        var preset = "opt-350m"
        @Option(parsing: .unconditional, help: "Tokens per step (batch x seq), the rows of the activation matrices.")
        var tokens = 2048
        @Option(parsing: .unconditional, help: "Timed products per shape (medians are over these).")
        var repeats = 5
        @Option(parsing: .unconditional, help: "Threads of the pool that runs the tiles (default: all CPUs).")
        var threads = ProcessInfo.processInfo.activeProcessorCount
        @Option(help: "Only the engines of this precision (fp32 or bf16; default: every engine).")
        var precision: Precision?
        @Flag(help: "Print one JSON line instead of the table.")
        var json = false

        func validate() throws {
            try OptionCheck.threads(threads)
            try OptionCheck.atLeast(1, tokens, "--tokens")
            try OptionCheck.atMost(1 << 28, tokens, "--tokens")
            try OptionCheck.atLeast(1, repeats, "--repeats")
        }

        func run() throws {
            let shapes = try GEMMBenchmark.trainingStepShapes(preset: preset, tokens: tokens)
            let engines = GEMMEngine.available.filter { precision == nil || $0.precision == precision }
            guard !engines.isEmpty else { throw ValidationError("--precision bf16: this CPU has no bfloat16 instructions") }
            let result = try GEMMBenchmark.run(shapes: shapes, engines: engines, repeats: repeats, threads: threads)
            try printResult(result, json: json, report: GEMMBenchmark.report)
        }
    }
}

extension Precision: ExpressibleByArgument {}

/// `--gemm`: nil for auto, else a backend.
func gemmBackend(_ name: String) throws -> GEMMBackend? {
    if name == "auto" { return nil }
    guard let backend = GEMMBackend(rawValue: name) else {
        throw ValidationError("--gemm: expected auto, \(GEMMBackend.allCases.map(\.rawValue).joined(separator: ", ")), found \(name)")
    }
    return backend
}

/// A command's result: one JSON line with sorted keys (what the comparison scripts read), or the report's lines.
func printResult<Result: Encodable>(_ result: Result, json: Bool, report: (Result) -> [String]) throws {
    if json {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        print(String(decoding: try encoder.encode(result), as: UTF8.self))
    } else {
        report(result).forEach { print($0) }
    }
}
