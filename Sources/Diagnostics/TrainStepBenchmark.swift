import Foundation
import Kernels
import OPT
import Reporting

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

    /// Medians over the timed steps, encoded with bench_pytorch.py's JSON keys.
    public struct Result: Codable, Sendable {
        public var framework = "tooltune"
        public var preset: String
        public var batch: Int
        public var seq: Int
        public var steps: Int
        public var warmup: Int
        public var threads: Int
        public var params: Int
        public var matmulParams: Int
        public var flopsPerTokenForward: Double
        public var flopsPerTokenForwardBackward: Double
        public var forwardSeconds: Double
        /// Includes zeroing the gradient buffer (PyTorch allocates fresh gradients inside backward instead).
        public var backwardSeconds: Double
        public var optimizerSeconds: Double
        public var stepSeconds: Double
        public var tokensPerSecond: Double
        public var gflopsForward: Double
        public var gflopsBackward: Double
        public var gflopsStep: Double
        public var finalLoss: Double
        public var buildSeconds: Double
        public var peakRSSMegabytes: Double
        public var blasCore: String

        enum CodingKeys: String, CodingKey {
            case framework, preset, batch, seq, steps, warmup, threads, params
            case matmulParams = "matmul_params"
            case flopsPerTokenForward = "flops_per_token_fwd"
            case flopsPerTokenForwardBackward = "flops_per_token_fwd_bwd"
            case forwardSeconds = "forward_s"
            case backwardSeconds = "backward_s"
            case optimizerSeconds = "optimizer_s"
            case stepSeconds = "step_s"
            case tokensPerSecond = "tokens_per_s"
            case gflopsForward = "gflops_forward"
            case gflopsBackward = "gflops_backward"
            case gflopsStep = "gflops_step"
            case finalLoss = "final_loss"
            case buildSeconds = "build_s"
            case peakRSSMegabytes = "peak_rss_mb"
            case blasCore = "blas_core"
        }
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
        let config = try BenchmarkOptionError.preset(options.preset)
        guard options.batch >= 1, options.steps >= 1, options.warmup >= 0, options.threads >= 1,
              (1...config.maxPositionEmbeddings).contains(options.seq) else {
            throw BenchmarkOptionError(message: "need --batch >= 1, --steps >= 1, --warmup >= 0, --threads >= 1 and 1 <= --seq <= \(config.maxPositionEmbeddings)")
        }
        useThreads(options.threads)
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
        let (f, bw, o, s) = (forward.median, backward.median, update.median, whole.median)
        return Result(preset: options.preset, batch: b, seq: t, steps: options.steps, warmup: options.warmup,
                      threads: options.threads, params: model.layout.count, matmulParams: matmulParameters(config),
                      flopsPerTokenForward: flops.forward, flopsPerTokenForwardBackward: flops.total,
                      forwardSeconds: f, backwardSeconds: bw, optimizerSeconds: o, stepSeconds: s,
                      tokensPerSecond: tokens / s, gflopsForward: flops.forward * tokens / f / 1e9,
                      gflopsBackward: (flops.total - flops.forward) * tokens / bw / 1e9,
                      gflopsStep: flops.total * tokens / s / 1e9, finalLoss: lastLoss, buildSeconds: buildSeconds,
                      peakRSSMegabytes: ProcessMemory.peakResidentMiB(), blasCore: BLAS.coreName)
    }

    /// The human-readable report, laid out as bench_pytorch.py's.
    public static func report(_ r: Result) -> [String] {
        func ms(_ s: Double) -> String { String(format: "%10.1f ms", s * 1e3) }
        func rate(_ g: Double) -> String { String(format: "%8.1f GFLOP/s", g) }
        return [
            "\(r.preset): \(r.params.formatted()) parameters (\(r.matmulParams.formatted()) in matmuls incl. lm_head); fp32, dropout 0.1, \(r.threads) threads, OpenBLAS \(r.blasCore)",
            "batch \(r.batch) x seq \(r.seq) = \(r.batch * r.seq) tokens/step; medians over \(r.steps) steps after \(r.warmup) warmup",
            "  forward+loss \(ms(r.forwardSeconds))  \(rate(r.gflopsForward))",
            "  backward     \(ms(r.backwardSeconds))  \(rate(r.gflopsBackward))   (incl. zeroing gradients)",
            "  AdamW step   \(ms(r.optimizerSeconds))",
            "  whole step   \(ms(r.stepSeconds))  \(rate(r.gflopsStep))  " + String(format: "%.1f tokens/s", r.tokensPerSecond),
            String(format: "  FLOPs/token: %.1f M forward, %.1f M forward+backward", r.flopsPerTokenForward / 1e6, r.flopsPerTokenForwardBackward / 1e6),
            String(format: "  last loss %.4f; peak RSS %.0f MB; model build %.1f s", r.finalLoss, r.peakRSSMegabytes, r.buildSeconds),
        ]
    }
}

/// A benchmark option out of range.
public struct BenchmarkOptionError: Error, CustomStringConvertible {
    public let message: String
    public var description: String { message }

    /// The preset named by `--preset`.
    static func preset(_ name: String) throws -> OPTConfig {
        guard let config = OPTConfig.presets[name] else {
            throw BenchmarkOptionError(message: "unknown preset \(name); known: \(OPTConfig.presets.keys.sorted().joined(separator: ", "))")
        }
        return config
    }
}
