import Foundation
import Kernels
import OPT

/// Times training steps of a randomly initialized model on random tokens, part by part, the way
/// scripts/bench_pytorch.py times PyTorch: same shapes, threads, dropout (0.1) and optimizer
/// (AdamW, lr 2e-5, no weight decay), the same FLOP accounting, and the same JSON keys.
public enum TrainStepBenchmark {
    public struct Options: Sendable {
        public var preset: String
        public var batch: Int
        public var seq: Int
        public var steps: Int
        public var warmup: Int
        public var threads: Int
        public var seed: UInt64

        public init(preset: String, batch: Int, seq: Int, steps: Int, warmup: Int, threads: Int, seed: UInt64) {
            self.preset = preset
            self.batch = batch
            self.seq = seq
            self.steps = steps
            self.warmup = warmup
            self.threads = threads
            self.seed = seed
        }
    }

    /// Medians over the timed steps; key names as bench_pytorch.py's JSON.
    public struct Result: Codable, Sendable {
        public var framework = "tooltune"
        public var preset: String
        public var batch: Int
        public var seq: Int
        public var steps: Int
        public var warmup: Int
        public var threads: Int
        public var params: Int
        public var matmul_params: Int
        public var flops_per_token_fwd: Double
        public var flops_per_token_fwd_bwd: Double
        public var forward_s: Double
        /// Includes zeroing the gradient buffer (PyTorch allocates fresh gradients inside backward instead).
        public var backward_s: Double
        public var optimizer_s: Double
        public var step_s: Double
        public var tokens_per_s: Double
        public var gflops_forward: Double
        public var gflops_backward: Double
        public var gflops_step: Double
        public var final_loss: Double
        public var build_s: Double
        public var peak_rss_mb: Double
        public var blas_core: String
    }

    public struct OptionError: Error, CustomStringConvertible {
        public let message: String
        public var description: String { message }
    }

    public static let learningRate = 2e-5
    public static let dropout: Float = 0.1

    /// Weights multiplied per token: q, k, v, out_proj, fc1, fc2 in every layer, project_in/out, and the
    /// lm_head (vocab x word_embed_proj_dim, counted although it is tied).
    public static func matmulParameters(_ c: OPTConfig) -> Int {
        c.numHiddenLayers * (4 * c.hiddenSize * c.hiddenSize + 2 * c.hiddenSize * c.ffnDim)
            + (c.hasProjections ? 2 * c.hiddenSize * c.wordEmbedProjDim : 0) + c.vocabSize * c.wordEmbedProjDim
    }

    /// (forward, forward + backward) FLOPs per token for sequences of `seq`: 6 per matmul weight plus
    /// 12 * layers * hidden * seq for the full (not causal-halved) attention squares.
    public static func flopsPerToken(_ c: OPTConfig, seq: Int) -> (forward: Double, total: Double) {
        let total = Double(6 * matmulParameters(c) + 12 * c.numHiddenLayers * c.hiddenSize * seq)
        return (total / 3, total)
    }

    public static func run(_ options: Options) throws -> Result {
        guard let config = OPTConfig.presets[options.preset] else {
            throw OptionError(message: "unknown preset \(options.preset); known: \(OPTConfig.presets.keys.sorted().joined(separator: ", "))")
        }
        guard options.batch >= 1, options.steps >= 1, options.warmup >= 0, options.threads >= 1,
              (1...config.maxPositionEmbeddings).contains(options.seq) else {
            throw OptionError(message: "need --batch >= 1, --steps >= 1, --warmup >= 0, --threads >= 1 and 1 <= --seq <= \(config.maxPositionEmbeddings)")
        }
        BLAS.threadCount = options.threads
        Parallel.threadCount = options.threads
        let buildStart = Date()
        let model = try OPTModel(config: config, seed: options.seed)
        let buildSeconds = Date().timeIntervalSince(buildStart)
        let optimizer = AdamW(parameterCount: model.layout.count, hyperparameters: .init(learningRate: learningRate))
        let groups = model.layout.optimizerGroups(weightDecay: 0)

        var rng = SplitMix64(seed: options.seed ^ 0x5EED)
        var forward: [Double] = [], backward: [Double] = [], update: [Double] = [], whole: [Double] = []
        var lastLoss = 0.0
        let (b, t) = (options.batch, options.seq)
        for step in 0..<(options.warmup + options.steps) {
            let tokens = (0..<(b * t)).map { _ in Int32(rng.next() % UInt64(config.vocabSize)) }
            let targets = (0..<(b * t)).map { $0 % t + 1 < t ? tokens[$0 + 1] : -1 }
            let batch = try MicroBatch(rows: b, length: t, tokens: tokens, targets: targets,
                                       sequenceIDs: (0..<b).map { UInt64(step * b + $0) })
            let dropout = Dropout(probability: dropout, seed: options.seed, step: UInt64(step))
            let t0 = Date()
            let result = try model.forward(batch, dropout: dropout)
            let t1 = Date()
            model.zeroGradients()
            model.backward(scale: 1 / Float(result.targetCount))
            let t2 = Date()
            optimizer.update(parameters: model.parameters.pointer, gradients: model.gradients.pointer, groups: groups)
            let t3 = Date()
            lastLoss = result.lossSum / Double(result.targetCount)
            if step >= options.warmup {
                forward.append(t1.timeIntervalSince(t0))
                backward.append(t2.timeIntervalSince(t1))
                update.append(t3.timeIntervalSince(t2))
                whole.append(t3.timeIntervalSince(t0))
            }
        }
        let flops = flopsPerToken(config, seq: t)
        let tokens = Double(b * t)
        let (f, bw, o, s) = (median(forward), median(backward), median(update), median(whole))
        return Result(preset: options.preset, batch: b, seq: t, steps: options.steps, warmup: options.warmup,
                      threads: options.threads, params: model.layout.count, matmul_params: matmulParameters(config),
                      flops_per_token_fwd: flops.forward, flops_per_token_fwd_bwd: flops.total,
                      forward_s: f, backward_s: bw, optimizer_s: o, step_s: s, tokens_per_s: tokens / s,
                      gflops_forward: flops.forward * tokens / f / 1e9,
                      gflops_backward: (flops.total - flops.forward) * tokens / bw / 1e9,
                      gflops_step: flops.total * tokens / s / 1e9, final_loss: lastLoss, build_s: buildSeconds,
                      peak_rss_mb: peakResidentMegabytes(), blas_core: BLAS.coreName)
    }

    static func median(_ values: [Double]) -> Double {
        let sorted = values.sorted()
        let mid = sorted.count / 2
        return sorted.count % 2 == 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2
    }

    /// The process's peak resident set so far (Linux reports ru_maxrss in KiB).
    static func peakResidentMegabytes() -> Double {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        return Double(usage.ru_maxrss) / 1024
    }

    /// The human-readable report, laid out as bench_pytorch.py's.
    public static func report(_ r: Result) -> [String] {
        func ms(_ s: Double) -> String { String(format: "%10.1f ms", s * 1e3) }
        func rate(_ g: Double) -> String { String(format: "%8.1f GFLOP/s", g) }
        return [
            "\(r.preset): \(r.params.formatted()) parameters (\(r.matmul_params.formatted()) in matmuls incl. lm_head); fp32, dropout 0.1, \(r.threads) threads, OpenBLAS \(r.blas_core)",
            "batch \(r.batch) x seq \(r.seq) = \(r.batch * r.seq) tokens/step; medians over \(r.steps) steps after \(r.warmup) warmup",
            "  forward+loss \(ms(r.forward_s))  \(rate(r.gflops_forward))",
            "  backward     \(ms(r.backward_s))  \(rate(r.gflops_backward))   (incl. zeroing gradients)",
            "  AdamW step   \(ms(r.optimizer_s))",
            "  whole step   \(ms(r.step_s))  \(rate(r.gflops_step))  " + String(format: "%.1f tokens/s", r.tokens_per_s),
            String(format: "  FLOPs/token: %.1f M forward, %.1f M forward+backward", r.flops_per_token_fwd / 1e6, r.flops_per_token_fwd_bwd / 1e6),
            String(format: "  last loss %.4f; peak RSS %.0f MB; model build %.1f s", r.final_loss, r.peak_rss_mb, r.build_s),
        ]
    }
}
