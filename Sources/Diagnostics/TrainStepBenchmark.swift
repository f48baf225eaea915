import Distributed
import Foundation
import Job
import Kernels
import OPT
import Reporting
import Storage
import Training

/// Times the training step (`Training.TrainingState.step`, what `tooltune train` runs: gradient buckets,
/// global-norm clipping at 1.0, AdamW) of a randomly initialized model on random tokens, part by part, the
/// way scripts/bench_pytorch.py times PyTorch: same shapes, threads, dropout (0.1), optimizer (AdamW, lr
/// 2e-5, no weight decay) and clipping, the same FLOP accounting, and the same JSON keys. The run is a job
/// with the default `train` settings and a constant learning rate.
public enum TrainStepBenchmark {
    public struct Options: Sendable {
        public var preset: String
        public var batch: Int
        public var seq: Int
        public var steps: Int
        public var warmup: Int
        public var threads: Int
        public var seed: UInt64
        public var precision: Precision
        /// nil: `compute.gemm: auto`.
        public var gemm: GEMMBackend?

        public init(preset: String, batch: Int, seq: Int, steps: Int, warmup: Int, threads: Int, seed: UInt64,
                    precision: Precision = .fp32, gemm: GEMMBackend? = nil) {
            self.preset = preset
            self.batch = batch
            self.seq = seq
            self.steps = steps
            self.warmup = warmup
            self.threads = threads
            self.seed = seed
            self.precision = precision
            self.gemm = gemm
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
        /// The gradient norm, clipping and the AdamW update.
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
        /// Median CPU seconds of a step (all threads), and the step's FLOPs per CPU-second times the threads:
        /// the rate on idle cores, which load from other processes does not lower the way it lowers wall time.
        public var cpuSeconds: Double
        public var gflopsIdle: Double
        /// fp32 or bf16; the GEMM backend; the kernels it ran (oneDNN's instruction set or OpenBLAS's core).
        public var precision: String
        public var gemm: String
        public var kernels: String

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
            case precision, gemm, kernels
            case cpuSeconds = "cpu_s"
            case gflopsIdle = "gflops_idle"
        }
    }

    /// The job defaults (lr 2e-5, dropout 0.1, max_grad_norm 1.0, no weight decay) with a constant schedule.
    public static var settings: JobSpec.TrainSpec {
        var train = JobSpec.TrainSpec.defaults
        train.schedule.name = .constant
        train.schedule.warmupRatio = 0
        return train
    }

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
              (2...config.maxPositionEmbeddings).contains(options.seq) else {
            throw BenchmarkOptionError(message: "need --batch >= 1, --steps >= 1, --warmup >= 0, --threads >= 1 and 2 <= --seq <= \(config.maxPositionEmbeddings)")
        }
        useThreads(options.threads)
        let engine = try JobSpec.ComputeSpec(gemm: options.gemm).engine(options.precision, field: "--precision")
        let comm = try Communicator.world()
        guard comm.size == 1 else {
            throw BenchmarkOptionError(message: "bench train-step times one rank; under mpirun, time `train` or `bench allreduce`")
        }
        let buildStart = Date()
        let model = try OPTModel(config: config, seed: options.seed)
        model.use(engine)
        let buildSeconds = Date().timeIntervalSince(buildStart)
        let (b, t) = (options.batch, options.seq)
        let steps = options.warmup + options.steps
        let data = RandomSequences(count: steps * b, length: t, vocab: config.vocabSize, seed: options.seed)
        let state = try TrainingState(model: model, optimizer: TrainingState.optimizer(for: model, settings.optimizer), data: data,
                                      stepsPerEpoch: [steps], train: settings, seed: options.seed,
                                      distributed: JobSpec.DistributedSpec.defaults, comm: comm)
        var forward: [Double] = [], backward: [Double] = [], update: [Double] = [], whole: [Double] = [], cpu: [Double] = []
        var lastLoss = 0.0
        for step in 0..<steps {
            // One micro-batch of b sequences, as a job with micro_batch_tokens b x seq plans it.
            let plan = StepPlan(epoch: 0, stepInEpoch: step, microBatches: [[Array((step * b)..<((step + 1) * b))]])
            let cpuStart = ProcessCPUTime.seconds()
            let (metrics, times): (StepMetrics, TrainingState.StepTimes)
            do {
                (metrics, times) = try state.step(plan)
            } catch let error as OPTModelError {
                throw BenchmarkOptionError(message: "--batch \(b) x --seq \(t): \(error)")  // more activations than memory
            }
            let cpuSeconds = ProcessCPUTime.seconds() - cpuStart
            lastLoss = metrics.loss
            if step >= options.warmup {
                forward.append(times.forward)
                backward.append(times.backward)
                update.append(times.update)
                whole.append(metrics.seconds)
                cpu.append(cpuSeconds)
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
                      peakRSSMegabytes: ProcessMemory.peakResidentMiB(), blasCore: BLAS.coreName,
                      cpuSeconds: cpu.median, gflopsIdle: flops.total * tokens / cpu.median * Double(options.threads) / 1e9,
                      precision: engine.precision.rawValue, gemm: engine.backend.rawValue,
                      kernels: engine.backend == .onednn ? GEMMEngine.oneDNNInstructionSet : BLAS.coreName)
    }

    /// The human-readable report, laid out as bench_pytorch.py's.
    public static func report(_ r: Result) -> [String] {
        func ms(_ s: Double) -> String { String(format: "%10.1f ms", s * 1e3) }
        func rate(_ g: Double) -> String { String(format: "%8.1f GFLOP/s", g) }
        return [
            "\(r.preset): \(r.params.formatted()) parameters (\(r.matmulParams.formatted()) in matmuls incl. lm_head); \(r.precision), dropout 0.1, \(r.threads) threads, GEMMs on \(r.gemm) (\(r.kernels))",
            "batch \(r.batch) x seq \(r.seq) = \(r.batch * r.seq) tokens/step; medians over \(r.steps) steps after \(r.warmup) warmup",
            "  forward+loss \(ms(r.forwardSeconds))  \(rate(r.gflopsForward))",
            "  backward     \(ms(r.backwardSeconds))  \(rate(r.gflopsBackward))   (incl. zeroing gradients)",
            "  clip + AdamW \(ms(r.optimizerSeconds))",
            "  whole step   \(ms(r.stepSeconds))  \(rate(r.gflopsStep))  " + String(format: "%.1f tokens/s", r.tokensPerSecond),
            String(format: "  CPU time     %10.1f s   %8.1f GFLOP/s on idle cores (FLOPs per CPU-second x %d threads)", r.cpuSeconds, r.gflopsIdle, r.threads),
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

/// The benchmark's data: `count` sequences of `length` token ids drawn in order from one generator seeded
/// by the benchmark's seed, each trained on every next token.
final class RandomSequences: TrainingData {
    let rowLength: Int
    let targetCounts: [Int32]
    private let tokens: [[Int32]]

    init(count: Int, length: Int, vocab: Int, seed: UInt64) {
        var rng = SplitMix64(seed: seed ^ 0x5EED)
        tokens = (0..<count).map { _ in (0..<length).map { _ in Int32(rng.next() % UInt64(vocab)) } }
        rowLength = length
        targetCounts = Array(repeating: Int32(length - 1), count: count)
    }

    func length(ofSequence s: Int) -> Int { rowLength }

    func exampleTokens(ofSequence s: Int) -> Int { rowLength }

    func readSequence(_ s: Int) throws -> PackedSequence {
        let ids = tokens[s], n = ids.count
        return PackedSequence(index: s, tokens: ids,
                              targets: (0..<n).map { $0 + 1 < n ? ids[$0 + 1] : PreparedDatasetFormat.ignoreIndex },
                              positions: (0..<n).map(Int32.init), segmentIDs: Array(repeating: 0, count: n), boundaries: [0, n])
    }
}
