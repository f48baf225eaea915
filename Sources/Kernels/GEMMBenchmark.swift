import Foundation

/// Times every GEMM engine on the matrix products of a transformer training step: the physical limit a
/// step's GFLOP/s is measured against (`tooltune bench gemm`).
public enum GEMMBenchmark {
    /// One product as the model calls it: C[m, n] = op(A)[m, k] op(B)[k, n], `perStep` times per step.
    public struct Shape: Codable, Sendable, Equatable {
        public var name: String
        public var m: Int, n: Int, k: Int
        public var transposeA: Bool, transposeB: Bool
        public var perStep: Int

        public init(_ name: String, m: Int, n: Int, k: Int, transposeA: Bool = false, transposeB: Bool = false, perStep: Int) {
            self.name = name
            self.m = m
            self.n = n
            self.k = k
            self.transposeA = transposeA
            self.transposeB = transposeB
            self.perStep = perStep
        }

        public var flops: Double { 2 * Double(m) * Double(n) * Double(k) }
    }

    /// The products of one training step of an OPT-style decoder over `tokens` tokens: per layer q|k|v,
    /// out_proj, fc1 and fc2 forward (x·Wᵀ), their input gradients (dy·W) and weight gradients (dyᵀ·x);
    /// project_in/out when `embed` differs from `hidden`; and the tied lm_head over the vocabulary in chunks
    /// of `chunk` columns: logits forward, logits again in backward, the hidden gradient and the table's.
    /// (Attention's per-head products are small and left out.)
    public static func trainingStepShapes(tokens t: Int, hidden h: Int, ffn f: Int, layers: Int, embed e: Int,
                                          vocab: Int, chunk: Int) -> [Shape] {
        var shapes: [Shape] = []
        for (name, out, input) in [("qkv", 3 * h, h), ("out_proj", h, h), ("fc1", f, h), ("fc2", h, f)] {
            shapes.append(Shape("\(name) forward", m: t, n: out, k: input, transposeB: true, perStep: layers))
            shapes.append(Shape("\(name) dx", m: t, n: input, k: out, perStep: layers))
            shapes.append(Shape("\(name) dW", m: out, n: input, k: t, transposeA: true, perStep: layers))
        }
        if e != h {
            shapes.append(Shape("project_in forward", m: t, n: h, k: e, transposeB: true, perStep: 1))
            shapes.append(Shape("project_out forward", m: t, n: e, k: h, transposeB: true, perStep: 1))
        }
        let chunks = (vocab + chunk - 1) / chunk
        shapes.append(Shape("lm_head logits", m: t, n: chunk, k: e, transposeB: true, perStep: 2 * chunks))
        shapes.append(Shape("lm_head dx", m: t, n: e, k: chunk, perStep: chunks))
        shapes.append(Shape("lm_head dW", m: chunk, n: e, k: t, transposeA: true, perStep: chunks))
        return shapes
    }

    public struct Measurement: Codable, Sendable {
        public var shape: Shape
        public var engine: String
        /// Median seconds of one product.
        public var seconds: Double
        public var gflops: Double
        /// Median CPU seconds of one product (all threads), and FLOPs per CPU-second times the threads: the
        /// rate on idle cores, which other work on a shared machine barely moves.
        public var cpuSeconds: Double
        public var gflopsIdle: Double
    }

    public struct Result: Codable, Sendable {
        public var threads: Int
        public var repeats: Int
        public var cpu: String
        public var blasCore: String
        public var onednnISA: String
        public var measurements: [Measurement]
        /// Per engine: a step's GEMM FLOPs over the time these products take at the measured speeds (wall
        /// time, and CPU time as in `Measurement.gflopsIdle`).
        public var stepGFLOPS: [String: Double]
        public var stepGFLOPSIdle: [String: Double]
    }

    /// Medians of `repeats` timed products after one untimed one, for each shape and engine.
    public static func run(shapes: [Shape], engines: [GEMMEngine], repeats: Int, threads: Int) throws -> Result {
        guard repeats >= 1, threads >= 1 else { throw GEMMEngineError("need repeats >= 1 and threads >= 1") }
        useThreads(threads)
        var measurements: [Measurement] = []
        var stepGFLOPS: [String: Double] = [:], stepGFLOPSIdle: [String: Double] = [:]
        var rng = SplitMix64(seed: 1)
        for engine in engines {
            var stepFlops = 0.0, stepSeconds = 0.0, stepCPUSeconds = 0.0
            for shape in shapes {
                let a = FloatBuffer(count: shape.m * shape.k), b = FloatBuffer(count: shape.k * shape.n)
                let c = FloatBuffer(count: shape.m * shape.n)
                for i in 0..<a.count { a[i] = Float(rng.nextUniform() - 0.5) }
                for i in 0..<b.count { b[i] = Float(rng.nextUniform() - 0.5) }
                let a16 = engine.precision == .bf16 ? FloatBuffer(count: a.count, of: BFloat16.self) : nil
                let b16 = engine.precision == .bf16 ? FloatBuffer(count: b.count, of: BFloat16.self) : nil
                if let a16, let b16 {
                    BFloat16.round(a.pointer, into: a16.elements(), count: a.count)
                    BFloat16.round(b.pointer, into: b16.elements(), count: b.count)
                }
                func once() {
                    if let a16, let b16 {
                        engine.multiply(a16.elements(BFloat16.self), b16.elements(BFloat16.self), into: c.pointer,
                                        m: shape.m, n: shape.n, k: shape.k,
                                        transposeA: shape.transposeA, transposeB: shape.transposeB)
                    } else {
                        engine.multiply(a.pointer, b.pointer, into: c.pointer, m: shape.m, n: shape.n, k: shape.k,
                                        transposeA: shape.transposeA, transposeB: shape.transposeB)
                    }
                }
                once()
                var times: [Double] = [], cpuTimes: [Double] = []
                for _ in 0..<repeats {
                    let start = DispatchTime.now().uptimeNanoseconds, cpuStart = ProcessCPUTime.seconds()
                    once()
                    cpuTimes.append(ProcessCPUTime.seconds() - cpuStart)
                    times.append(Double(DispatchTime.now().uptimeNanoseconds - start) * 1e-9)
                }
                let seconds = times.sorted()[times.count / 2], cpuSeconds = cpuTimes.sorted()[cpuTimes.count / 2]
                measurements.append(Measurement(shape: shape, engine: engine.description, seconds: seconds,
                                                gflops: shape.flops / seconds / 1e9, cpuSeconds: cpuSeconds,
                                                gflopsIdle: shape.flops / cpuSeconds * Double(threads) / 1e9))
                stepFlops += shape.flops * Double(shape.perStep)
                stepSeconds += seconds * Double(shape.perStep)
                stepCPUSeconds += cpuSeconds * Double(shape.perStep)
            }
            stepGFLOPS[engine.description] = stepFlops / stepSeconds / 1e9
            stepGFLOPSIdle[engine.description] = stepFlops / stepCPUSeconds * Double(threads) / 1e9
        }
        return Result(threads: threads, repeats: repeats, cpu: cpuModel(), blasCore: BLAS.coreName,
                      onednnISA: GEMMEngine.oneDNNInstructionSet, measurements: measurements, stepGFLOPS: stepGFLOPS,
                      stepGFLOPSIdle: stepGFLOPSIdle)
    }

    /// A table: one row per shape, one GFLOP/s column per engine, and the step-weighted total.
    public static func report(_ r: Result) -> [String] {
        let engines = r.measurements.reduce(into: [String]()) { if !$0.contains($1.engine) { $0.append($1.engine) } }
        var lines = ["GEMM GFLOP/s on \(r.threads) threads, medians of \(r.repeats); \(r.cpu), OpenBLAS \(r.blasCore) kernels, oneDNN \(r.onednnISA)"]
        let header = "shape".padding(toLength: 22, withPad: " ", startingAt: 0) + "m x n x k".padding(toLength: 20, withPad: " ", startingAt: 0)
            + "x/step " + engines.map { $0.leftPadded(14) }.joined()
        lines += [header, String(repeating: "-", count: header.count)]
        var seen: [String] = []
        for m in r.measurements where !seen.contains(m.shape.name) {
            seen.append(m.shape.name)
            let s = m.shape
            let dims = "\(s.m)x\(s.n)x\(s.k)\(s.transposeA ? " T" : "")\(s.transposeB ? " Tb" : "")"
            let row = engines.map { e in
                r.measurements.first { $0.engine == e && $0.shape.name == s.name }.map { String(format: "%14.1f", $0.gflops) } ?? "-".leftPadded(14)
            }
            lines.append(s.name.padding(toLength: 22, withPad: " ", startingAt: 0) + dims.padding(toLength: 20, withPad: " ", startingAt: 0)
                         + "\(s.perStep)".leftPadded(6) + " " + row.joined())
        }
        lines.append("step-weighted".padding(toLength: 49, withPad: " ", startingAt: 0)
                     + engines.map { String(format: "%14.1f", r.stepGFLOPS[$0] ?? 0) }.joined())
        lines.append("  on idle cores (CPU time)".padding(toLength: 49, withPad: " ", startingAt: 0)
                     + engines.map { String(format: "%14.1f", r.stepGFLOPSIdle[$0] ?? 0) }.joined())
        return lines
    }

    /// /proc/cpuinfo's model name and family (e.g. "AMD EPYC, family 26"), or "unknown".
    public static func cpuModel() -> String {
        guard let info = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8) else { return "unknown" }
        func field(_ key: String) -> String? {
            info.split(separator: "\n").first { $0.hasPrefix(key) }.flatMap { $0.split(separator: ":", maxSplits: 1).last }
                .map { $0.trimmingCharacters(in: .whitespaces) }
        }
        return [field("model name"), field("cpu family").map { "family \($0)" }].compactMap { $0 }.joined(separator: ", ")
    }
}

extension String {
    func leftPadded(_ width: Int) -> String { count >= width ? self : String(repeating: " ", count: width - count) + self }
}
