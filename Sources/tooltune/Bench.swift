import ArgumentParser
import Diagnostics
import Distributed
import Foundation

struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Benchmarks (printed figures; compared with PyTorch by scripts/bench_train_step.sh, bench_generate.py and bench_allreduce.sh).",
        subcommands: [TrainStep.self, Generate.self, Allreduce.self])

    struct TrainStep: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "train-step",
            abstract: "Time the training step (forward, backward, clipping and AdamW, as train runs it) of a randomly initialized preset on random tokens.",
            discussion: "Medians over --steps steps after --warmup untimed ones; GFLOP/s with scripts/bench_pytorch.py's FLOP formula.")

        @Option(help: "opt-125m, opt-350m, opt-1.3b, tiny, tiny-350m-style.")
        var preset = "opt-125m"
        @Option(help: "Sequences per step.")
        var batch = 1
        @Option(help: "Tokens per sequence.")
        var seq = 128
        @Option(help: "Timed steps (medians are over these).")
        var steps = 5
        @Option(help: "Untimed steps first.")
        var warmup = 1
        @Option(help: "BLAS and parallel-for threads (default: all CPUs).")
        var threads = ProcessInfo.processInfo.activeProcessorCount
        @Option(help: "Seed of the weights, tokens and dropout masks.")
        var seed: UInt64 = 0
        @Flag(help: "Print one JSON line instead of the table.")
        var json = false

        func run() throws {
            let result = try TrainStepBenchmark.run(.init(preset: preset, batch: batch, seq: seq, steps: steps,
                                                          warmup: warmup, threads: threads, seed: seed))
            try printResult(result, json: json, report: TrainStepBenchmark.report)
        }
    }

    struct Generate: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Time greedy generation with the KV cache: prefill, then one token at a time.",
            discussion: "The prompt is BOS then ids 3 + (i * 7919) % (vocab - 3), as scripts/bench_generate.py gives transformers; no early stop. Medians over --repeats runs after --warmup.")

        @Option(help: "A model file (.h5 with /model and model_config).")
        var model: String
        @Option(help: "Prompt length in tokens, BOS included.")
        var promptTokens = 512
        @Option(help: "Tokens to generate.")
        var newTokens = 128
        @Option(help: "Timed runs.")
        var repeats = 3
        @Option(help: "Untimed runs first.")
        var warmup = 1
        @Option(help: "BLAS and parallel-for threads (default: all CPUs).")
        var threads = ProcessInfo.processInfo.activeProcessorCount
        @Flag(help: "Print one JSON line instead of the summary.")
        var json = false

        func run() throws {
            let result = try GenerationBenchmark.run(.init(model: model, promptTokens: promptTokens, newTokens: newTokens,
                                                           repeats: repeats, warmup: warmup, threads: threads))
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
        @Option(help: "Gradient bucket size in MB (the job's distributed.bucket_mb).")
        var bucketMb = 25.0
        @Option(help: "Timed iterations (medians are over these).")
        var iterations = 5
        @Option(help: "Untimed iterations first.")
        var warmup = 1
        @Flag(help: "Print one JSON line instead of the table.")
        var json = false

        func run() throws {
            let sizesMB = try sizes.split(separator: ",").map { part in
                guard let mb = Double(part.trimmingCharacters(in: .whitespaces)) else {
                    throw ValidationError("--sizes: \"\(part)\" is not a size in MB (expected numbers separated by commas)")
                }
                return mb
            }
            let comm = try Communicator.world()
            let result = try comm.runCollectively { comm in
                try AllreduceBenchmark.run(.init(sizesMB: sizesMB, preset: preset, bucketMB: bucketMb,
                                                 iterations: iterations, warmup: warmup), comm: comm)
            }
            if comm.isCoordinator { try printResult(result, json: json, report: AllreduceBenchmark.report) }
            if !result.verified { throw ExitCode(1) }
        }
    }
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
