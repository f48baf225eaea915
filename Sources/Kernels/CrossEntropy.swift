import Foundation

/// Cross-entropy of a tied output layer (logits = hidden · table^T, the lm_head sharing the token
/// embedding), computed in vocabulary chunks so that the full [rows x vocab] logits never exist: forward
/// keeps a running max and sum per row (an online log-sum-exp); backward recomputes each chunk.
public enum CrossEntropy {
    /// Logit values per chunk (16 MiB).
    public static let chunkBudget = 1 << 22

    /// Columns per vocabulary chunk for `rows` rows: about `chunkBudget` logits, at least 64 columns, a
    /// multiple of 16. A function of the shape alone, so the bits of a result never depend on how much
    /// scratch a caller planned.
    public static func chunkWidth(rows: Int, vocab: Int) -> Int {
        min(vocab, max(64, chunkBudget / max(1, rows) / 16 * 16))
    }

    /// Scratch floats that a pass of any number of rows up to `rows` needs: `n * chunkWidth(n)` is at
    /// most `n * vocab` and at most `max(chunkBudget, 64 n)`.
    public static func scratchCount(rows: Int, vocab: Int) -> Int {
        min(rows * vocab, max(chunkBudget, 64 * rows))
    }

    /// losses[n] = logSumExp[n] - logit[n, targets[n]], with logits[n, v] = hidden[n, :] · table[v, :].
    /// Shapes: hidden [n, d], table [vocab, d], targets [n] (each in 0..<vocab), losses and logSumExp [n]
    /// (logSumExp is kept for `backward`). `scratch` holds [n, width] logits: `chunkWidth` columns unless
    /// `width` is given (tests force many chunks with it); `scratchCount` plans it.
    /// `predictions` [n], when given, gets each row's argmax over the vocabulary (the first of equal
    /// maxima, as torch.argmax), for token accuracy.
    /// Hidden states and table are in the engine's precision (bfloat16 copies for mixed precision); the
    /// softmax and everything after it are float32, on logits that a bfloat16 engine rounds to bfloat16
    /// (torch.autocast's lm_head returns bfloat16 logits, which the loss reads in float32).
    @_specialize(exported: true, where Element == Float)
    @_specialize(exported: true, where Element == BFloat16)
    public static func forward<Element: GEMMElement>(
        hidden: UnsafePointer<Element>, table: UnsafePointer<Element>, targets: UnsafePointer<Int32>,
        losses: UnsafeMutablePointer<Float>, logSumExp: UnsafeMutablePointer<Float>,
        rows n: Int, vocab: Int, dim d: Int, scratch: UnsafeMutableBufferPointer<Float>,
        width: Int? = nil, predictions: UnsafeMutablePointer<Int32>? = nil, engine: GEMMEngine = .float32
    ) {
        guard n > 0 else { return }
        let width = checkedWidth(width, rows: n, vocab: vocab, scratch: scratch.count)
        let scratch = scratch.baseAddress!
        // logSumExp holds the running max until the end; losses holds the running sum of exponentials.
        let runningMax = logSumExp, runningSum = losses
        var targetLogits = [Float](repeating: 0, count: n)
        for r in 0..<n { runningMax[r] = -.infinity; runningSum[r] = 0 }
        targetLogits.withUnsafeMutableBufferPointer { picked in
            let picked = picked.baseAddress!
            forEachChunk(engine, hidden: hidden, table: table, rows: n, vocab: vocab, dim: d, width: width, scratch: scratch) { v0, w in
                Parallel.forEach(n, minimumChunk: 8) { range in
                    for r in range {
                        let row = scratch + r * w
                        let target = Int(targets[r])
                        if target >= v0 && target < v0 + w { picked[r] = row[target - v0] }
                        let chunkMax = VectorMath.maximum(row, w)
                        if let predictions, chunkMax > runningMax[r] {
                            predictions[r] = Int32(v0 + (0..<w).first { row[$0] == chunkMax }!)
                        }
                        let top = max(runningMax[r], chunkMax)
                        let rescaled = runningSum[r] == 0 ? 0 : runningSum[r] * VectorMath.exp(runningMax[r] - top)
                        runningSum[r] = rescaled + VectorMath.expShiftedInPlace(row, w, shift: top)
                        runningMax[r] = top
                    }
                }
            }
            for r in 0..<n {
                logSumExp[r] = runningMax[r] + Foundation.log(runningSum[r])
                losses[r] = logSumExp[r] - picked[r]
            }
        }
    }

    /// Gradients of `scale * Σ_n losses[n]`: with g[n, v] = scale * (softmax(logits)[n, v] - [v == target]),
    /// dHidden[n, d] = g · table (overwritten) and dTable[vocab, d] += g^T · hidden. `logSumExp` is the
    /// forward's. Shapes and chunks as in `forward`. A bfloat16 engine works as torch.autocast's lm_head
    /// does: g rounded to bfloat16 (in `rounded` [n * width]) times bfloat16 inputs, both gradients rounded
    /// to bfloat16 (dTable's chunk by chunk, before it is added).
    @_specialize(exported: true, where Element == Float)
    @_specialize(exported: true, where Element == BFloat16)
    public static func backward<Element: GEMMElement>(
        hidden: UnsafePointer<Element>, table: UnsafePointer<Element>, targets: UnsafePointer<Int32>,
        logSumExp: UnsafePointer<Float>, scale: Float,
        dHidden: UnsafeMutablePointer<Float>, dTable: UnsafeMutablePointer<Float>,
        rows n: Int, vocab: Int, dim d: Int, scratch: UnsafeMutableBufferPointer<Float>,
        rounded: UnsafeMutablePointer<BFloat16>? = nil, width: Int? = nil, engine: GEMMEngine = .float32
    ) {
        guard n > 0 else { return }
        let width = checkedWidth(width, rows: n, vocab: vocab, scratch: scratch.count)
        let scratch = scratch.baseAddress!
        precondition(Element.precision == .fp32 || rounded != nil, "CrossEntropy.backward: bfloat16 needs `rounded` scratch")
        let g = UnsafeRawPointer(Element.precision == .fp32 ? UnsafeRawPointer(scratch) : UnsafeRawPointer(rounded!))
            .assumingMemoryBound(to: Element.self)
        forEachChunk(engine, hidden: hidden, table: table, rows: n, vocab: vocab, dim: d, width: width, scratch: scratch) { v0, w in
            Parallel.forEach(n, minimumChunk: 8) { range in
                for r in range {
                    let row = scratch + r * w
                    _ = VectorMath.expShiftedInPlace(row, w, shift: logSumExp[r])
                    let target = Int(targets[r])
                    if target >= v0 && target < v0 + w { row[target - v0] -= 1 }
                    VectorMath.scale(row, w, by: scale)
                    if let rounded { BFloat16.convert(row, into: rounded + r * w, count: w) }
                }
            }
            // dHidden sums over the whole vocabulary: rounded once, after the last chunk, as one matmul is.
            engine.multiply(g, table + v0 * d, into: dHidden, m: n, n: d, k: w, beta: v0 == 0 ? 0 : 1, rounding: false)
            engine.multiply(g, hidden, into: dTable + v0 * d, m: w, n: d, k: n, transposeA: true, beta: 1)
        }
        if engine.precision == .bf16 {
            Parallel.forEach(n, minimumChunk: 64) { range in
                BFloat16.roundInPlace(dHidden + range.lowerBound * d, count: range.count * d)
            }
        }
    }

    static func checkedWidth(_ width: Int?, rows: Int, vocab: Int, scratch: Int) -> Int {
        let width = min(vocab, width ?? chunkWidth(rows: rows, vocab: vocab))
        precondition(width > 0 && rows * width <= scratch, "CrossEntropy: scratch of \(scratch) floats is too small for \(rows) rows x \(width) columns")
        return width
    }

    /// For each vocabulary chunk [v0, v0 + w): scratch[n, w] = the chunk's logits, then `body(v0, w)`.
    private static func forEachChunk<Element: GEMMElement>(
        _ engine: GEMMEngine, hidden: UnsafePointer<Element>, table: UnsafePointer<Element>, rows n: Int, vocab: Int,
        dim d: Int, width: Int, scratch: UnsafeMutablePointer<Float>, _ body: (_ v0: Int, _ w: Int) -> Void
    ) {
        for v0 in stride(from: 0, to: vocab, by: width) {
            let w = min(width, vocab - v0)
            engine.multiply(hidden, table + v0 * d, into: scratch, m: n, n: w, k: d, transposeB: true)
            body(v0, w)
        }
    }
}
