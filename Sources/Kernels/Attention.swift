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
public enum Attention {
    /// Queries per tile: scores are computed for keys up to the tile's last query only, so the wasted
    /// upper triangle is small, and a tile's scores fit in cache.
    public static let tileSize = 128

    /// Per-worker scratch: a [tileSize, length] score tile and its gradient, for up to `workers` workers.
    public final class Scratch {
        public let length: Int
        public let workers: Int
        let buffer: FloatBuffer

        public init(length: Int, workers: Int) {
            self.length = length
            self.workers = max(1, workers)
            buffer = FloatBuffer(count: self.workers * 2 * Attention.tileSize * max(1, length))
        }

        func scores(_ slot: Int) -> UnsafeMutablePointer<Float> { buffer.pointer + slot * 2 * Attention.tileSize * length }
        func scoreGradients(_ slot: Int) -> UnsafeMutablePointer<Float> { scores(slot) + Attention.tileSize * length }
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
    public static func forward(qkv: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>,
                               logSumExp: UnsafeMutablePointer<Float>, mask: AttentionMask, shape: Shape,
                               scratch: Scratch) {
        forEachHead(mask: mask, shape: shape, scratch: scratch) { b, h, slot in
            forwardHead(b: b, h: h, qkv: qkv, output: output, logSumExp: logSumExp, mask: mask, shape: shape,
                        scores: scratch.scores(slot))
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

    private static func forwardHead(b: Int, h: Int, qkv: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>,
                                    logSumExp: UnsafeMutablePointer<Float>, mask: AttentionMask, shape: Shape,
                                    scores: UnsafeMutablePointer<Float>) {
        let T = mask.length, C = shape.channels, ld = 3 * C, hd = shape.headDim
        let base = b * T
        let q = qkv + base * ld + h * hd, k = q + C, v = q + 2 * C
        let out = output + base * C + h * hd
        let lse = logSumExp + (b * shape.heads + h) * T
        var uniformOutput: [Float]? = nil
        for run in mask.runs[b] {
            if run.start < run.firstValid {
                // Queries with no visible key: the mean of all values of the row.
                let mean = uniformOutput ?? meanOfRows(v, rows: T, stride: ld, count: hd)
                uniformOutput = mean
                for i in run.start..<run.firstValid {
                    mean.withUnsafeBufferPointer { (out + i * C).update(from: $0.baseAddress!, count: hd) }
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
                           scores: scores, logSumExp: lse + r0, maskRow: padding)
            }
        }
    }

    /// One tile of causal softmax attention for one head: `queries` queries against `keys` keys, query ii
    /// seeing keys 0 ..< firstVisible + ii. q [queries, ldq], k and v [keys, ldkv], output [queries, ldo],
    /// scores [queries, keys] scratch; logSumExp [queries] is written when given. `maskRow(ii, row)` may set
    /// the scores of hidden keys to -infinity before the softmax.
    private static func causalTile(q: UnsafePointer<Float>, ldq: Int, k: UnsafePointer<Float>, v: UnsafePointer<Float>,
                                   ldkv: Int, queries m: Int, keys nk: Int, firstVisible: Int, headDim hd: Int,
                                   output: UnsafeMutablePointer<Float>, ldo: Int, scores: UnsafeMutablePointer<Float>,
                                   logSumExp: UnsafeMutablePointer<Float>?,
                                   maskRow: ((Int, UnsafeMutablePointer<Float>) -> Void)?) {
        matmul(q, k, into: scores, m: m, n: nk, k: hd, transposeB: true, lda: ldq, ldb: ldkv, ldc: nk, parallel: false)
        for ii in 0..<m {
            let row = scores + ii * nk, visible = firstVisible + ii
            maskRow?(ii, row)
            let top = VectorMath.maximum(row, visible)
            let total = VectorMath.expShiftedInPlace(row, visible, shift: top)
            VectorMath.scale(row, visible, by: 1 / total)
            (row + visible).update(repeating: 0, count: nk - visible)
            logSumExp?[ii] = top + Foundation.log(total)
        }
        matmul(scores, v, into: output, m: m, n: hd, k: nk, lda: nk, ldb: ldkv, ldc: ldo, parallel: false)
    }

    /// Causal attention while decoding with a key/value cache (inference only: nothing is kept for a
    /// backward). `count` new queries sit at positions start ..< start + count of one sequence; query i
    /// attends to the cached keys and values 0 ... start + i, which include its own.
    /// Shapes: queries [count, queryStride] (already scaled; head h in columns h*headDim ..< (h+1)*headDim),
    /// keys and values [start + count, cacheStride] in the same column layout, output [count, heads*headDim].
    /// `scratch.length` must be at least start + count.
    public static func forwardCached(queries: UnsafePointer<Float>, queryStride: Int, keys: UnsafePointer<Float>,
                                     values: UnsafePointer<Float>, cacheStride: Int, start: Int, count: Int,
                                     output: UnsafeMutablePointer<Float>, shape: Shape, scratch: Scratch) {
        precondition(scratch.length >= start + count, "Attention scratch planned for \(scratch.length) keys, not \(start + count)")
        let hd = shape.headDim, C = shape.channels
        Parallel.forEachItem(shape.heads, slots: scratch.workers) { h, slot in
            for r0 in stride(from: 0, to: count, by: tileSize) {
                let r1 = min(r0 + tileSize, count)
                causalTile(q: queries + r0 * queryStride + h * hd, ldq: queryStride, k: keys + h * hd,
                           v: values + h * hd, ldkv: cacheStride, queries: r1 - r0, keys: start + r1,
                           firstVisible: start + r0 + 1, headDim: hd, output: output + r0 * C + h * hd, ldo: C,
                           scores: scratch.scores(slot), logSumExp: nil, maskRow: nil)
            }
        }
    }

    /// Gradients of `forward`: given dOutput and the forward's output and logSumExp, writes
    /// dQKV[rows * length, 3 * heads * headDim] (dq is with respect to the scaled q). For queries that
    /// see no key this differentiates the softmax at its uniform probabilities, as transformers'
    /// autograd does (q and k get gradients there although the float32 forward no longer depends on them).
    public static func backward(qkv: UnsafePointer<Float>, output: UnsafePointer<Float>,
                                dOutput: UnsafePointer<Float>, logSumExp: UnsafePointer<Float>,
                                dQKV: UnsafeMutablePointer<Float>, mask: AttentionMask, shape: Shape,
                                scratch: Scratch) {
        forEachHead(mask: mask, shape: shape, scratch: scratch) { b, h, slot in
            backwardHead(b: b, h: h, qkv: qkv, output: output, dOutput: dOutput, logSumExp: logSumExp, dQKV: dQKV,
                         mask: mask, shape: shape, scores: scratch.scores(slot), dScores: scratch.scoreGradients(slot))
        }
    }

    private static func backwardHead(b: Int, h: Int, qkv: UnsafePointer<Float>, output: UnsafePointer<Float>,
                                     dOutput: UnsafePointer<Float>, logSumExp: UnsafePointer<Float>,
                                     dQKV: UnsafeMutablePointer<Float>, mask: AttentionMask, shape: Shape,
                                     scores: UnsafeMutablePointer<Float>, dScores: UnsafeMutablePointer<Float>) {
        let T = mask.length, C = shape.channels, ld = 3 * C, hd = shape.headDim
        let base = b * T
        let q = qkv + base * ld + h * hd, k = q + C, v = q + 2 * C
        let dq = dQKV + base * ld + h * hd, dk = dq + C, dv = dq + 2 * C
        let out = output + base * C + h * hd, dOut = dOutput + base * C + h * hd
        let lse = logSumExp + (b * shape.heads + h) * T
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
                matmul(q + r0 * ld, k + k0 * ld, into: scores, m: m, n: nk, k: hd, transposeB: true,
                       lda: ld, ldb: ld, ldc: nk, parallel: false)
                for ii in 0..<m {
                    let i = r0 + ii, row = scores + ii * nk, visible = i - k0 + 1
                    if let run, run.hasGaps { maskPadding(row, keys: k0..<(i + 1), valid: mask.valid, rowBase: base) }
                    _ = VectorMath.expShiftedInPlace(row, visible, shift: lse[i])
                    (row + visible).update(repeating: 0, count: nk - visible)
                }
            }
            // dV += P^T dO;  dP = dO V^T;  dS = P * (dP - <dO, O>);  dQ = dS K;  dK += dS^T Q.
            matmul(scores, dOut + r0 * C, into: dv + k0 * ld, m: nk, n: hd, k: m, transposeA: true, beta: 1,
                   lda: nk, ldb: C, ldc: ld, parallel: false)
            matmul(dOut + r0 * C, v + k0 * ld, into: dScores, m: m, n: nk, k: hd, transposeB: true,
                   lda: C, ldb: ld, ldc: nk, parallel: false)
            for ii in 0..<m {
                let i = r0 + ii
                let d = VectorMath.dot(dOut + i * C, out + i * C, hd)
                let p = scores + ii * nk, g = dScores + ii * nk
                var j = 0
                let dv = VectorMath.Vector(repeating: d)
                while j + 16 <= nk {
                    VectorMath.store(VectorMath.load(p + j) * (VectorMath.load(g + j) - dv), g + j)
                    j += 16
                }
                while j < nk { g[j] = p[j] * (g[j] - d); j += 1 }
            }
            matmul(dScores, k + k0 * ld, into: dq + r0 * ld, m: m, n: hd, k: nk, lda: nk, ldb: ld, ldc: ld, parallel: false)
            matmul(dScores, q + r0 * ld, into: dk + k0 * ld, m: nk, n: hd, k: m, transposeA: true, beta: 1,
                   lda: nk, ldb: ld, ldc: ld, parallel: false)
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
    }

    /// Sets the scores of padding keys to -infinity (their softmax weight becomes exactly 0).
    private static func maskPadding(_ row: UnsafeMutablePointer<Float>, keys: Range<Int>, valid: [Bool], rowBase: Int) {
        for j in keys where !valid[rowBase + j] { row[j - keys.lowerBound] = -.infinity }
    }

    /// The mean of `rows` vectors of `count` values, `stride` apart.
    private static func meanOfRows(_ p: UnsafePointer<Float>, rows: Int, stride: Int, count: Int) -> [Float] {
        var mean = [Float](repeating: 0, count: count)
        mean.withUnsafeMutableBufferPointer { m in
            for r in 0..<rows { VectorMath.add(p + r * stride, into: m.baseAddress!, count) }
            VectorMath.scale(m.baseAddress!, count, by: 1 / Float(rows))
        }
        return mean
    }
}
