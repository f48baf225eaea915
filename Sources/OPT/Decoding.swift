import Kernels

/// The keys and values every layer computed for one sequence's tokens so far, so that decoding runs the
/// prompt once (prefill) and then one new token at a time. Keys and values are [layers, capacity, hidden]
/// each, keys as k_proj gives them and values as v_proj gives them (heads side by side in each row).
///
/// One sequence for one thread of control; `tokens` are the cached ids, so a prompt that starts with
/// them only needs its new tail run (see `OPTModel.prefill(_:cache:)`).
public final class KVCache {
    public let capacity: Int
    public private(set) var tokens: [Int32] = []
    let config: OPTConfig
    let keys: FloatBuffer
    let values: FloatBuffer

    /// A cache for up to `capacity` tokens (at most the model's `max_position_embeddings`).
    public init(config: OPTConfig, capacity: Int) throws {
        guard capacity >= 1, capacity <= config.maxPositionEmbeddings else {
            throw OPTModelError(message: "KV cache capacity \(capacity) is outside 1...\(config.maxPositionEmbeddings) (max_position_embeddings)")
        }
        self.capacity = capacity
        self.config = config
        keys = FloatBuffer(count: config.numHiddenLayers * capacity * config.hiddenSize)
        values = FloatBuffer(count: config.numHiddenLayers * capacity * config.hiddenSize)
    }

    /// Tokens cached; the next token's position.
    public var count: Int { tokens.count }

    /// Forgets every token after the first `count` (their keys and values are overwritten later).
    public func truncate(to count: Int) {
        precondition(count >= 0 && count <= tokens.count, "KVCache.truncate(to: \(count)) with \(tokens.count) tokens")
        tokens.removeLast(tokens.count - count)
    }

    /// How many leading tokens of `prompt` the cache already holds, leaving at least its last token to run.
    public func reusablePrefix(of prompt: [Int32]) -> Int {
        var common = 0
        while common < min(tokens.count, prompt.count - 1), tokens[common] == prompt[common] { common += 1 }
        return common
    }

    func keys(_ l: Int) -> UnsafeMutablePointer<Float> { keys.pointer + l * capacity * config.hiddenSize }
    func values(_ l: Int) -> UnsafeMutablePointer<Float> { values.pointer + l * capacity * config.hiddenSize }

    func append(_ new: [Int32]) { tokens += new }
}

/// Activation scratch for cached decoding of up to `rows` new tokens per call, against up to `length`
/// cached ones. Nothing is kept between calls except what the KVCache holds.
final class DecodeScratch {
    let rows: Int, length: Int
    /// One kept slot, overwritten by each layer; two streams, read and written in turn.
    let activations: LayerActivations
    /// The last row through the head: normalized [hidden], statistics [2], projected [embed].
    let head: FloatBuffer

    init(config: OPTConfig, rows: Int, length: Int) {
        self.rows = rows
        self.length = length
        activations = LayerActivations(config: config, tokens: rows, length: length, kept: 1, streams: 2)
        head = FloatBuffer(count: config.hiddenSize + 2 + config.wordEmbedProjDim)
    }

    /// Layer buffers for `n` rows; the layer reads stream `l % 2` and writes the other.
    func layer(_ l: Int, rows n: Int, config: OPTConfig) -> LayerBuffers {
        activations.layer(rows: n, input: l % 2, output: (l + 1) % 2, kept: 0, stride: rows, hidden: config.hiddenSize,
                          ffn: config.ffnDim)
    }

    /// The last layer's outputs, [n, hidden].
    func output(layers: Int, hidden h: Int) -> UnsafeMutablePointer<Float> {
        activations.streams.pointer + (layers % 2) * rows * h
    }
}

extension OPTModel {
    /// Runs `tokens` at the cache's next positions (the whole prompt, or one new token), appends their
    /// keys and values to `cache`, and returns the logits [vocab] after the last of them. Eval mode (no
    /// dropout); the same kernels as `forward`, so the logits equal a full recomputation of the sequence
    /// up to float rounding.
    public func extend(_ cache: KVCache, with tokens: [Int32]) throws -> [Float] {
        let (s, outputs) = try runCached(cache, tokens)
        let h = config.hiddenSize, head = s.head.pointer
        let z = headForward(outputs + (tokens.count - 1) * h, rows: 1, normOutput: head, mean: head + h, rstd: head + h + 1,
                            projected: head + h + 2)
        var logits = [Float](repeating: 0, count: config.vocabSize)
        logits.withUnsafeMutableBufferPointer { out in
            matvec(parameters.pointer + layout.embedTokens, z, into: out.baseAddress!, rows: config.vocabSize,
                   columns: config.wordEmbedProjDim)
        }
        return logits
    }

    /// Teacher-forced scores of one sequence through cached decoding, without the training workspace
    /// (whose saved activations a long sequence of a large model would make gigabytes): `cache` is
    /// emptied and filled with `tokens`, and `targets[t]` (-1: none) is scored from position t as in
    /// `forward(_:predictions: true)`.
    public func teacherForced(_ tokens: [Int32], targets: [Int32], cache: KVCache) throws -> ForwardResult {
        guard targets.count == tokens.count else {
            throw MicroBatchError(message: "targets has \(targets.count) values for \(tokens.count) tokens")
        }
        for (i, t) in targets.enumerated() where t < -1 || Int(t) >= config.vocabSize {
            throw MicroBatchError(message: "targets[\(i)] = \(t) is outside the vocabulary 0..<\(config.vocabSize)")
        }
        cache.truncate(to: 0)
        let (_, outputs) = try runCached(cache, tokens)
        let rows = targets.indices.filter { targets[$0] >= 0 }, chosen = rows.map { targets[$0] }
        let m = rows.count, h = config.hiddenSize, e = config.wordEmbedProjDim, vocab = config.vocabSize
        guard m > 0 else { return ForwardResult(lossSum: 0, targetCount: 0, targetLosses: []) }
        let gathered = FloatBuffer(count: m * h), normOutput = FloatBuffer(count: m * h), statistics = FloatBuffer(count: 2 * m)
        let projected = FloatBuffer(count: m * e), losses = FloatBuffer(count: m), logSumExp = FloatBuffer(count: m)
        let scratch = FloatBuffer(count: CrossEntropy.scratchCount(rows: m, vocab: vocab))
        for (i, row) in rows.enumerated() { (gathered.pointer + i * h).update(from: outputs + row * h, count: h) }
        let z = headForward(gathered.pointer, rows: m, normOutput: normOutput.pointer, mean: statistics.pointer,
                            rstd: statistics.pointer + m, projected: projected.pointer)
        var predictions = [Int32](repeating: 0, count: m)
        chosen.withUnsafeBufferPointer { t in
            predictions.withUnsafeMutableBufferPointer { out in
                CrossEntropy.forward(hidden: z, table: parameters.pointer + layout.embedTokens, targets: t.baseAddress!,
                                     losses: losses.pointer, logSumExp: logSumExp.pointer, rows: m, vocab: vocab, dim: e,
                                     scratch: scratch.buffer, predictions: out.baseAddress)
            }
        }
        let values = losses.array
        return ForwardResult(lossSum: values.reduce(0.0) { $0 + Double($1) }, targetCount: m, targetLosses: values,
                             targetPredictions: predictions)
    }

    /// Runs `tokens` at the cache's next positions and appends their keys and values; returns the
    /// scratch and its pointer to the last layer's outputs [tokens.count, hidden].
    func runCached(_ cache: KVCache, _ tokens: [Int32]) throws -> (DecodeScratch, UnsafeMutablePointer<Float>) {
        let n = tokens.count, start = cache.count
        guard n >= 1 else { throw OPTModelError(message: "KV cache: no tokens to run") }
        guard cache.config == config else { throw OPTModelError(message: "KV cache made for another model configuration") }
        guard start + n <= cache.capacity else {
            throw OPTModelError(message: "KV cache full: \(start) cached + \(n) new tokens > capacity \(cache.capacity)")
        }
        for (i, id) in tokens.enumerated() where id < 0 || Int(id) >= config.vocabSize {
            throw MicroBatchError(message: "tokens[\(i)] = \(id) is outside the vocabulary 0..<\(config.vocabSize)")
        }
        let s = decodeScratch(rows: n, length: cache.capacity)
        let h = config.hiddenSize
        let shape = Attention.Shape(heads: config.numAttentionHeads, headDim: config.headDim)
        embed(tokens, positions: (start..<(start + n)).map(Int32.init), into: s.activations.streams.pointer,
              tokenEmbeddings: s.activations.tokenEmbeddings?.pointer)
        for l in 0..<config.numHiddenLayers {
            layerForward(l, s.layer(l, rows: n, config: config), attend: { qkv, output in
                let keys = cache.keys(l), values = cache.values(l)
                Parallel.forEach(n, minimumChunk: 64) { range in
                    for i in range {
                        (keys + (start + i) * h).update(from: qkv + i * 3 * h + h, count: h)
                        (values + (start + i) * h).update(from: qkv + i * 3 * h + 2 * h, count: h)
                    }
                }
                Attention.forwardCached(queries: qkv, queryStride: 3 * h, keys: keys, values: values, cacheStride: h,
                                        start: start, count: n, output: output, shape: shape,
                                        scratch: s.activations.attentionScratch)
            }, addResidual: { x, residual, out, _ in
                Residual.add(x, residual: residual, into: out, count: n * h)
            })
        }
        cache.append(tokens)
        return (s, s.output(layers: config.numHiddenLayers, hidden: h))
    }

    /// Makes `cache` hold `prompt` and returns the logits after its last token, running only the part of
    /// the prompt that is not cached yet (the cache keeps the longest common prefix; at least the last
    /// token is run again to get its logits).
    public func prefill(_ prompt: [Int32], cache: KVCache) throws -> [Float] {
        guard !prompt.isEmpty else { throw OPTModelError(message: "empty prompt") }
        let reused = cache.reusablePrefix(of: prompt)
        cache.truncate(to: reused)
        return try extend(cache, with: Array(prompt[reused...]))
    }

    /// Scratch for `rows` new tokens against `length` cached ones, kept while big enough.
    func decodeScratch(rows: Int, length: Int) -> DecodeScratch {
        if let s = decoding, s.rows >= rows, s.length >= length { return s }
        let planned = (rows: max(rows, decoding?.rows ?? 0), length: max(length, decoding?.length ?? 0))
        decoding = nil  // free the old one first
        let s = DecodeScratch(config: config, rows: planned.rows, length: planned.length)
        decoding = s
        return s
    }
}
