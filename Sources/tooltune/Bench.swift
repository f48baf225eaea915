import ArgumentParser
import Foundation
import Training

struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Benchmarks (printed figures; compare with scripts/bench_pytorch.py via scripts/bench_train_step.sh).",
        subcommands: [TrainStep.self])

    struct TrainStep: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "train-step",
            abstract: "Time forward, backward and the AdamW step of a randomly initialized preset on random tokens.",
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
            if json {
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.sortedKeys]
                print(String(decoding: try encoder.encode(result), as: UTF8.self))
            } else {
                TrainStepBenchmark.report(result).forEach { print($0) }
            }
        }
    }
}
