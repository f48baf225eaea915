import Foundation

/// Which keys each query may attend to, for `rows` rows of `length` tokens.
///
/// A query attends causally to the keys of its own run of equal consecutive segment ids (packed
/// examples never see each other) that are valid (not padding). A query with no such key (a left pad,
/// for instance) attends uniformly to all `length` keys of its row: that is what Hugging Face's additive
/// mask does, because every score becomes exactly float-min and the softmax of equal scores is uniform.
/// Padding keys get weight exactly 0 from every query that has a visible key.
public struct AttentionMask: Sendable {
    public let rows: Int
    public let length: Int

    /// Tokens [start, end) of one row share a segment id; queries in [start, firstValid) see no key,
    /// queries in [firstValid, end) see the valid keys in [firstValid, query]. `hasGaps`: some token in
    /// [firstValid, end) is padding and must be masked as a key.
    struct Run: Sendable {
        let start: Int, firstValid: Int, end: Int, hasGaps: Bool
    }

    let runs: [[Run]]
    let valid: [Bool]

    /// `segments` and `valid` are [rows * length], row-major.
    public init(rows: Int, length: Int, segments: [Int32], valid: [Bool]) {
        precondition(segments.count == rows * length && valid.count == rows * length,
                     "AttentionMask: \(segments.count) segment ids and \(valid.count) flags for \(rows) x \(length)")
        self.rows = rows
        self.length = length
        self.valid = valid
        var runs: [[Run]] = []
        for b in 0..<rows {
            var rowRuns: [Run] = []
            var start = 0
            while start < length {
                var end = start + 1
                while end < length && segments[b * length + end] == segments[b * length + start] { end += 1 }
                var first = start
                while first < end && !valid[b * length + first] { first += 1 }
                let gaps = first < end && (first..<end).contains { !valid[b * length + $0] }
                rowRuns.append(Run(start: start, firstValid: first, end: end, hasGaps: gaps))
                start = end
            }
            runs.append(rowRuns)
        }
        self.runs = runs
    }

    /// A plain causal mask: one segment per row, no padding.
    public init(rows: Int, length: Int) {
        self.init(rows: rows, length: length, segments: [Int32](repeating: 0, count: rows * length),
                  valid: [Bool](repeating: true, count: rows * length))
    }
}

/// Multi-head causal self-attention over a fused q|k|v matrix, FlashAttention-style in memory: the
/// [heads x T x T] probabilities are never stored; forward keeps one log-sum-exp per query and backward
/// recomputes each tile of scores. Work is split over (row, head) pairs, each worker running its GEMMs on
/// its own thread (`parallel: false`), so the results do not depend on the thread count.
///
/// q, k, v, the output and its gradient are in the engine's precision. With a bfloat16 engine every step
/// rounds where transformers' eager attention does under torch.autocast: the scores q·kᵀ and the output
/// P·v are bfloat16 matmul results, the softmax runs in float32 and its probabilities are rounded to
/// bfloat16 for P·v; backward rounds dP, dS and dq likewise, and dk, dv once their sums over all queries
/// are complete.
public enum Attention {
    /// Queries per tile: scores are computed for keys up to the tile's last query only, so the wasted
    /// upper triangle is small, and a tile's scores fit in cache.
    public static let tileSize = 128

    /// Per-worker scratch: a [tileSize, length] score tile and its gradient, and for bfloat16 a rounded
    /// copy of one of them, for up to `workers` workers.
    public final class Scratch {
        public let length: Int
        public let workers: Int
        let buffer: FloatBuffer
        /// bfloat16 tiles (empty for float32).
        let rounded: FloatBuffer

        public init(length: Int, workers: Int, precision: Precision = .fp32) {
            self.length = length
            self.workers = max(1, workers)
            let tile = Attention.tileSize * max(1, length)
            buffer = FloatBuffer(count: self.workers * 2 * tile)
            rounded = FloatBuffer(count: precision == .bf16 ? self.workers * tile : 0, of: BFloat16.self)
        }

        func scores(_ slot: Int) -> UnsafeMutablePointer<Float> { buffer.pointer + slot * 2 * Attention.tileSize * length }
        func scoreGradients(_ slot: Int) -> UnsafeMutablePointer<Float> { scores(slot) + Attention.tileSize * length }

        /// `count` floats from `values` as the engine's inputs: themselves for float32, else rounded into
        /// the slot's bfloat16 tile.
        func asInputs<Element: GEMMElement>(_ values: UnsafeMutablePointer<Float>, count: Int, slot: Int) -> UnsafePointer<Element> {
            if Element.precision == .fp32 { return UnsafeRawPointer(values).assumingMemoryBound(to: Element.self) }
            precondition(rounded.count * 2 >= (slot + 1) * Attention.tileSize * length, "Attention scratch was planned for float32")
            let target = rounded.elements(BFloat16.self) + slot * Attention.tileSize * length
            BFloat16.convert(values, into: target, count: count)
            return UnsafeRawPointer(target).assumingMemoryBound(to: Element.self)
        }
    }

    /// The shapes of one call: `qkv` is [rows * length, 3 * heads * headDim] with q (already scaled, as
    /// OPT scales q after its bias), k and v side by side; head h uses columns h*headDim ..< (h+1)*headDim
    /// of each. `output` and its gradient are [rows * length, heads * headDim]; `logSumExp` is
    /// [rows, heads, length].
    public struct Shape: Sendable {
        public let heads: Int, headDim: Int
        public init(heads: Int, headDim: Int) {
            self.heads = heads
            self.headDim = headDim
        }
        var channels: Int { heads * headDim }
    }

    /// output[t, h] = Σ_j softmax_j(q[t, h] · k[j, h]) v[j, h] over the keys `mask` allows;
    /// logSumExp[b, h, t] = log Σ_j exp(q · k_j) for queries with a visible key (unused otherwise).
    @_specialize(exported: true, where Element == Float)
    @_specialize(exported: true, where Element == BFloat16)
    public static func forward<Element: GEMMElement>(
        qkv: UnsafePointer<Element>, output: UnsafeMutablePointer<Element>, logSumExp: UnsafeMutablePointer<Float>,
        mask: AttentionMask, shape: Shape, scratch: Scratch, engine: GEMMEngine = .float32
    ) {
        forEachHead(mask: mask, shape: shape, scratch: scratch) { b, h, slot in
            forwardHead(b: b, h: h, qkv: qkv, output: output, logSumExp: logSumExp, mask: mask, shape: shape,
                        scratch: scratch, slot: slot, engine: engine)
        }
    }

    /// Runs `body(row, head, slot)` for every (row, head) pair on up to `scratch.workers` workers, each
    /// with its own scratch slot.
    private static func forEachHead(mask: AttentionMask, shape: Shape, scratch: Scratch,
                                    _ body: (_ b: Int, _ h: Int, _ slot: Int) -> Void) {
        precondition(scratch.length >= mask.length, "Attention scratch planned for \(scratch.length) tokens, not \(mask.length)")
        let items = mask.rows * shape.heads
        Parallel.forEachItem(items, slots: scratch.workers) { item, slot in body(item / shape.heads, item % shape.heads, slot) }
    }

    private static func forwardHead<Element: GEMMElement>(
        b: Int, h: Int, qkv: UnsafePointer<Element>, output: UnsafeMutablePointer<Element>,
        logSumExp: UnsafeMutablePointer<Float>, mask: AttentionMask, shape: Shape, scratch: Scratch, slot: Int,
        engine: GEMMEngine
    ) {
        let T = mask.length, C = shape.channels, ld = 3 * C, hd = shape.headDim
        let base = b * T
        let q = qkv + base * ld + h * hd, k = q + C, v = q + 2 * C
        let out = output + base * C + h * hd
        let lse = logSumExp + (b * shape.heads + h) * T
        var uniformOutput: [Float]? = nil
        for run in mask.runs[b] {
            if run.start < run.firstValid {
                // Queries with no visible key: every key of the row weighted 1/T (as the engine reads it).
                let mean = uniformOutput ?? uniformAverage(v, rows: T, stride: ld, count: hd)
                uniformOutput = mean
                for i in run.start..<run.firstValid {
                    for d in 0..<hd { out[i * C + d] = Element(mean[d]) }
                    lse[i] = 0
                }
            }
            let k0 = run.firstValid
            for r0 in stride(from: run.firstValid, to: run.end, by: tileSize) {
                let r1 = min(r0 + tileSize, run.end)
                let padding: ((Int, UnsafeMutablePointer<Float>) -> Void)? = run.hasGaps ? { ii, row in
                    maskPadding(row, keys: k0..<(r0 + ii + 1), valid: mask.valid, rowBase: base)
                } : nil
                causalTile(q: q + r0 * ld, ldq: ld, k: k + k0 * ld, v: v + k0 * ld, ldkv: ld, queries: r1 - r0,
                           keys: r1 - k0, firstVisible: r0 - k0 + 1, headDim: hd, output: out + r0 * C, ldo: C,
                           scratch: scratch, slot: slot, logSumExp: lse + r0, maskRow: padding, engine: engine)
            }
        }
    }

    /// One tile of causal softmax attention for one head: `queries` queries against `keys` keys, query ii
    /// seeing keys 0 ..< firstVisible + ii. q [queries, ldq], k and v [keys, ldkv], output [queries, ldo];
    /// logSumExp [queries] is written when given. `maskRow(ii, row)` may set the scores of hidden keys to
    /// -infinity before the softmax.
    private static func causalTile<Element: GEMMElement>(
        q: UnsafePointer<Element>, ldq: Int, k: UnsafePointer<Element>, v: UnsafePointer<Element>, ldkv: Int,
        queries m: Int, keys nk: Int, firstVisible: Int, headDim hd: Int, output: UnsafeMutablePointer<Element>, ldo: Int,
        scratch: Scratch, slot: Int, logSumExp: UnsafeMutablePointer<Float>?,
        maskRow: ((Int, UnsafeMutablePointer<Float>) -> Void)?, engine: GEMMEngine
    ) {
        let scores = scratch.scores(slot)
        engine.multiply(q, k, into: scores, m: m, n: nk, k: hd, transposeB: true, lda: ldq, ldb: ldkv, ldc: nk, parallel: false)
        for ii in 0..<m {
            let row = scores + ii * nk, visible = firstVisible + ii
            maskRow?(ii, row)
            let top = VectorMath.maximum(row, visible)
            let total = VectorMath.expShiftedInPlace(row, visible, shift: top)
            VectorMath.scale(row, visible, by: 1 / total)
            (row + visible).update(repeating: 0, count: nk - visible)
            logSumExp?[ii] = top + Foundation.log(total)
        }
        let p: UnsafePointer<Element> = scratch.asInputs(scores, count: m * nk, slot: slot)
        engine.multiply(p, v, into: output, m: m, n: hd, k: nk, lda: nk, ldb: ldkv, ldc: ldo, parallel: false)
    }

    /// Causal attention while decoding with a key/value cache (inference only: nothing is kept for a
    /// backward). `count` new queries sit at positions start ..< start + count of one sequence; query i
    /// attends to the cached keys and values 0 ... start + i, which include its own.
    /// Shapes: queries [count, queryStride] (already scaled; head h in columns h*headDim ..< (h+1)*headDim),
    /// keys and values [start + count, cacheStride] in the same column layout, output [count, heads*headDim].
    /// `scratch.length` must be at least start + count.
    @_specialize(exported: true, where Element == Float)
    @_specialize(exported: true, where Element == BFloat16)
    public static func forwardCached<Element: GEMMElement>(
        queries: UnsafePointer<Element>, queryStride: Int, keys: UnsafePointer<Element>, values: UnsafePointer<Element>,
        cacheStride: Int, start: Int, count: Int, output: UnsafeMutablePointer<Element>, shape: Shape, scratch: Scratch,
        engine: GEMMEngine = .float32
    ) {
        precondition(scratch.length >= start + count, "Attention scratch planned for \(scratch.length) keys, not \(start + count)")
        let hd = shape.headDim, C = shape.channels
        Parallel.forEachItem(shape.heads, slots: scratch.workers) { h, slot in
            for r0 in stride(from: 0, to: count, by: tileSize) {
                let r1 = min(r0 + tileSize, count)
                causalTile(q: queries + r0 * queryStride + h * hd, ldq: queryStride, k: keys + h * hd,
                           v: values + h * hd, ldkv: cacheStride, queries: r1 - r0, keys: start + r1,
                           firstVisible: start + r0 + 1, headDim: hd, output: output + r0 * C + h * hd, ldo: C,
                           scratch: scratch, slot: slot, logSumExp: nil, maskRow: nil, engine: engine)
            }
        }
    }

    /// Gradients of `forward`: given dOutput and the forward's logSumExp, writes dQKV[rows * length, 3 *
    /// heads * headDim] (dq is with respect to the scaled q). With P the probabilities and dP = dO vᵀ, the
    /// softmax's gradient is dS = P ∘ (dP - Σ_j P_j dP_j), as autograd computes it. For queries that see no
    /// key this differentiates the softmax at its uniform probabilities, as transformers' autograd does (q
    /// and k get gradients there although the float32 forward no longer depends on them).
    @_specialize(exported: true, where Element == Float)
    @_specialize(exported: true, where Element == BFloat16)
    public static func backward<Element: GEMMElement>(
        qkv: UnsafePointer<Element>, dOutput: UnsafePointer<Element>, logSumExp: UnsafePointer<Float>,
        dQKV: UnsafeMutablePointer<Float>, mask: AttentionMask, shape: Shape, scratch: Scratch,
        engine: GEMMEngine = .float32
    ) {
        forEachHead(mask: mask, shape: shape, scratch: scratch) { b, h, slot in
            backwardHead(b: b, h: h, qkv: qkv, dOutput: dOutput, logSumExp: logSumExp, dQKV: dQKV,
                         mask: mask, shape: shape, scratch: scratch, slot: slot, engine: engine)
        }
    }

    private static func backwardHead<Element: GEMMElement>(
        b: Int, h: Int, qkv: UnsafePointer<Element>, dOutput: UnsafePointer<Element>, logSumExp: UnsafePointer<Float>,
        dQKV: UnsafeMutablePointer<Float>, mask: AttentionMask, shape: Shape, scratch: Scratch, slot: Int,
        engine: GEMMEngine
    ) {
        let T = mask.length, C = shape.channels, ld = 3 * C, hd = shape.headDim
        let base = b * T
        let q = qkv + base * ld + h * hd, k = q + C, v = q + 2 * C
        let dq = dQKV + base * ld + h * hd, dk = dq + C, dv = dq + 2 * C
        let dOut = dOutput + base * C + h * hd
        let lse = logSumExp + (b * shape.heads + h) * T
        let scores = scratch.scores(slot), dScores = scratch.scoreGradients(slot)
        for t in 0..<T {
            (dk + t * ld).update(repeating: 0, count: hd)
            (dv + t * ld).update(repeating: 0, count: hd)
        }
        // One tile: queries [r0, r1) against keys [k0, k1). `uniform`: the queries see no key and
        // attend with weight 1/T to every key of the row (keys must then be the whole row).
        func tile(_ r0: Int, _ r1: Int, keys k0: Int, _ k1: Int, uniform: Bool, run: AttentionMask.Run?) {
            let m = r1 - r0, nk = k1 - k0
            if uniform {
                scores.update(repeating: 1 / Float(T), count: m * nk)
            } else {
                engine.multiply(q + r0 * ld, k + k0 * ld, into: scores, m: m, n: nk, k: hd, transposeB: true,
                                lda: ld, ldb: ld, ldc: nk, parallel: false)
                for ii in 0..<m {
                    let i = r0 + ii, row = scores + ii * nk, visible = i - k0 + 1
                    if let run, run.hasGaps { maskPadding(row, keys: k0..<(i + 1), valid: mask.valid, rowBase: base) }
                    _ = VectorMath.expShiftedInPlace(row, visible, shift: lse[i])
                    (row + visible).update(repeating: 0, count: nk - visible)
                }
            }
            // dV += Pᵀ dO, summed over every query tile before it is rounded.
            let p: UnsafePointer<Element> = scratch.asInputs(scores, count: m * nk, slot: slot)
            engine.multiply(p, dOut + r0 * C, into: dv + k0 * ld, m: nk, n: hd, k: m, transposeA: true, beta: 1,
                            lda: nk, ldb: C, ldc: ld, rounding: false, parallel: false)
            // dP = dO Vᵀ;  dS = P ∘ (dP - Σ_j P_j dP_j).
            engine.multiply(dOut + r0 * C, v + k0 * ld, into: dScores, m: m, n: nk, k: hd, transposeB: true,
                            lda: C, ldb: ld, ldc: nk, parallel: false)
            for ii in 0..<m {
                let p = scores + ii * nk, g = dScores + ii * nk
                let d = VectorMath.dot(p, g, nk)
                var j = 0
                let dv = VectorMath.Vector(repeating: d)
                while j + 16 <= nk {
                    VectorMath.store(VectorMath.load(p + j) * (VectorMath.load(g + j) - dv), g + j)
                    j += 16
                }
                while j < nk { g[j] = p[j] * (g[j] - d); j += 1 }
            }
            // dQ = dS K (complete for these queries);  dK += dSᵀ Q, summed over every query tile.
            let dS: UnsafePointer<Element> = scratch.asInputs(dScores, count: m * nk, slot: slot)
            engine.multiply(dS, k + k0 * ld, into: dq + r0 * ld, m: m, n: hd, k: nk, lda: nk, ldb: ld, ldc: ld, parallel: false)
            engine.multiply(dS, q + r0 * ld, into: dk + k0 * ld, m: nk, n: hd, k: m, transposeA: true, beta: 1,
                            lda: nk, ldb: ld, ldc: ld, rounding: false, parallel: false)
        }
        for run in mask.runs[b] {
            for r0 in stride(from: run.start, to: run.firstValid, by: tileSize) {
                tile(r0, min(r0 + tileSize, run.firstValid), keys: 0, T, uniform: true, run: nil)
            }
            for r0 in stride(from: run.firstValid, to: run.end, by: tileSize) {
                let r1 = min(r0 + tileSize, run.end)
                tile(r0, r1, keys: run.firstValid, r1, uniform: false, run: run)
            }
        }
        if engine.precision == .bf16 {
            for t in 0..<T {
                BFloat16.roundInPlace(dk + t * ld, count: hd)
                BFloat16.roundInPlace(dv + t * ld, count: hd)
            }
        }
    }

    /// Sets the scores of padding keys to -infinity (their softmax weight becomes exactly 0).
    private static func maskPadding(_ row: UnsafeMutablePointer<Float>, keys: Range<Int>, valid: [Bool], rowBase: Int) {
        for j in keys where !valid[rowBase + j] { row[j - keys.lowerBound] = -.infinity }
    }

    /// Σ_j w v_j over `rows` vectors of `count` values, `stride` apart, with w = 1/rows as the engine's
    /// inputs hold it (rounded to bfloat16 for bfloat16): the output of a query that sees no key.
    private static func uniformAverage<Element: GEMMElement>(_ p: UnsafePointer<Element>, rows: Int, stride: Int,
                                                             count: Int) -> [Float] {
        var sum = [Float](repeating: 0, count: count)
        for r in 0..<rows {
            for d in 0..<count { sum[d] += p[r * stride + d].floatValue }
        }
        let weight = Element(1 / Float(rows)).floatValue
        return sum.map { $0 * weight }
    }
}
