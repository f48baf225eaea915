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
    /// The model's precision: bfloat16 keys and values for a bf16 model (as autocast's k_proj and v_proj
    /// return them), half the bytes.
    let precision: Precision
    let keys: FloatBuffer
    let values: FloatBuffer

    /// A cache for up to `capacity` tokens (at most the model's `max_position_embeddings`) of `model`.
    public convenience init(for model: OPTModel, capacity: Int) throws {
        try self.init(config: model.config, precision: model.engine.precision, capacity: capacity)
    }

    /// A cache for up to `capacity` tokens of a model with `config` running in `precision`.
    public init(config: OPTConfig, precision: Precision = .fp32, capacity: Int) throws {
        guard capacity >= 1, capacity <= config.maxPositionEmbeddings else {
            throw OPTModelError(message: "KV cache capacity \(capacity) is outside 1...\(config.maxPositionEmbeddings) (max_position_embeddings)")
        }
        self.capacity = capacity
        self.config = config
        self.precision = precision
        let element: any GEMMElement.Type = precision == .bf16 ? BFloat16.self : Float.self
        keys = FloatBuffer(count: config.numHiddenLayers * capacity * config.hiddenSize, of: element)
        values = FloatBuffer(count: config.numHiddenLayers * capacity * config.hiddenSize, of: element)
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

    func keys<Element: GEMMElement>(_ l: Int, _: Element.Type) -> UnsafeMutablePointer<Element> {
        keys.elements() + l * capacity * config.hiddenSize
    }
    func values<Element: GEMMElement>(_ l: Int, _: Element.Type) -> UnsafeMutablePointer<Element> {
        values.elements() + l * capacity * config.hiddenSize
    }

    func append(_ new: [Int32]) { tokens += new }
}

/// Activation scratch for cached decoding of up to `rows` new tokens per call, against up to `length`
/// cached ones. Nothing is kept between calls except what the KVCache holds.
final class DecodeScratch {
    let rows: Int, length: Int
    /// One kept slot, overwritten by each layer; two streams, read and written in turn.
    let activations: LayerActivations
    /// The last row through the head: statistics [2]; normalized [hidden] and projected [embed], GEMM inputs.
    let headStatistics: FloatBuffer
    let headNormOutput: FloatBuffer
    let headProjected: FloatBuffer

    init(config: OPTConfig, precision: Precision, rows: Int, length: Int) throws {
        self.rows = rows
        self.length = length
        var memory = ActivationMemory(pass: "decoding \(rows) tokens against \(length) cached")
        activations = try LayerActivations(config: config, precision: precision, tokens: rows, length: length, kept: 1,
                                           streams: 2, memory: &memory)
        let element: any GEMMElement.Type = precision == .bf16 ? BFloat16.self : Float.self
        headStatistics = FloatBuffer(count: 2)
        headNormOutput = FloatBuffer(count: config.hiddenSize, of: element)
        headProjected = FloatBuffer(count: config.wordEmbedProjDim, of: element)
    }

    var precision: Precision { activations.precision }

    /// Layer buffers for `n` rows; the layer reads stream `l % 2` and writes the other.
    func layer<Element: GEMMElement>(_ l: Int, rows n: Int, config: OPTConfig, _ type: Element.Type) -> LayerBuffers<Element> {
        activations.layer(type, rows: n, input: l % 2, output: (l + 1) % 2, kept: 0, stride: rows, hidden: config.hiddenSize,
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
        switch engine.precision {
        case .fp32: try extend(cache, with: tokens, Float.self)
        case .bf16: try extend(cache, with: tokens, BFloat16.self)
        }
    }

    private func extend<Element: GEMMElement>(_ cache: KVCache, with tokens: [Int32], _ type: Element.Type) throws -> [Float] {
        let (s, outputs) = try runCached(cache, tokens, type)
        let h = config.hiddenSize, statistics = s.headStatistics.pointer
        let z = headForward(outputs + (tokens.count - 1) * h, rows: 1, normOutput: s.headNormOutput.elements(type),
                            mean: statistics, rstd: statistics + 1, projected: s.headProjected.elements(type))
        var logits = [Float](repeating: 0, count: config.vocabSize)
        logits.withUnsafeMutableBufferPointer { out in
            engine.multiplyVector(weights(type) + layout.embedTokens, z, into: out.baseAddress!, rows: config.vocabSize,
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
        return switch engine.precision {
        case .fp32: try teacherForced(tokens, targets: targets, cache: cache, Float.self)
        case .bf16: try teacherForced(tokens, targets: targets, cache: cache, BFloat16.self)
        }
    }

    private func teacherForced<Element: GEMMElement>(_ tokens: [Int32], targets: [Int32], cache: KVCache,
                                                     _ type: Element.Type) throws -> ForwardResult {
        let (_, outputs) = try runCached(cache, tokens, type)
        let rows = targets.indices.filter { targets[$0] >= 0 }, chosen = rows.map { targets[$0] }
        let m = rows.count, h = config.hiddenSize, e = config.wordEmbedProjDim, vocab = config.vocabSize
        guard m > 0 else { return ForwardResult(lossSum: 0, targetCount: 0, targetLosses: []) }
        let gathered = FloatBuffer(count: m * h), normOutput = FloatBuffer(count: m * h, of: type)
        let statistics = FloatBuffer(count: 2 * m), projected = FloatBuffer(count: m * e, of: type)
        let losses = FloatBuffer(count: m), logSumExp = FloatBuffer(count: m)
        let scratch = FloatBuffer(count: CrossEntropy.scratchCount(rows: m, vocab: vocab))
        for (i, row) in rows.enumerated() { (gathered.pointer + i * h).update(from: outputs + row * h, count: h) }
        let z = headForward(gathered.pointer, rows: m, normOutput: normOutput.elements(type), mean: statistics.pointer,
                            rstd: statistics.pointer + m, projected: projected.elements(type))
        var predictions = [Int32](repeating: 0, count: m)
        chosen.withUnsafeBufferPointer { t in
            predictions.withUnsafeMutableBufferPointer { out in
                CrossEntropy.forward(hidden: z, table: weights(type) + layout.embedTokens, targets: t.baseAddress!,
                                     losses: losses.pointer, logSumExp: logSumExp.pointer, rows: m, vocab: vocab, dim: e,
                                     scratch: scratch.buffer, predictions: out.baseAddress, engine: engine)
            }
        }
        let values = losses.array
        return ForwardResult(lossSum: values.reduce(0.0) { $0 + Double($1) }, targetCount: m, targetLosses: values,
                             targetPredictions: predictions)
    }

    /// Runs `tokens` at the cache's next positions and appends their keys and values; returns the
    /// scratch and its pointer to the last layer's outputs [tokens.count, hidden].
    func runCached<Element: GEMMElement>(_ cache: KVCache, _ tokens: [Int32],
                                         _ type: Element.Type) throws -> (DecodeScratch, UnsafeMutablePointer<Float>) {
        let n = tokens.count, start = cache.count
        guard n >= 1 else { throw OPTModelError(message: "KV cache: no tokens to run") }
        guard cache.config == config else { throw OPTModelError(message: "KV cache made for another model configuration") }
        guard cache.precision == engine.precision else {
            throw OPTModelError(message: "KV cache made for \(cache.precision.rawValue), the model runs \(engine.precision.rawValue)")
        }
        guard start + n <= cache.capacity else {
            throw OPTModelError(message: "KV cache full: \(start) cached + \(n) new tokens > capacity \(cache.capacity)")
        }
        for (i, id) in tokens.enumerated() where id < 0 || Int(id) >= config.vocabSize {
            throw MicroBatchError(message: "tokens[\(i)] = \(id) is outside the vocabulary 0..<\(config.vocabSize)")
        }
        let s = try decodeScratch(rows: n, length: cache.capacity)
        let h = config.hiddenSize
        let shape = Attention.Shape(heads: config.numAttentionHeads, headDim: config.headDim)
        embed(tokens, positions: (start..<(start + n)).map(Int32.init), into: s.activations.streams.pointer,
              tokenEmbeddings: s.activations.tokenEmbeddings?.elements(type))
        for l in 0..<config.numHiddenLayers {
            layerForward(l, s.layer(l, rows: n, config: config, type), attend: { qkv, output in
                let keys = cache.keys(l, type), values = cache.values(l, type)
                Parallel.forEach(n, minimumChunk: 64) { range in
                    for i in range {
                        (keys + (start + i) * h).update(from: qkv + i * 3 * h + h, count: h)
                        (values + (start + i) * h).update(from: qkv + i * 3 * h + 2 * h, count: h)
                    }
                }
                Attention.forwardCached(queries: qkv, queryStride: 3 * h, keys: keys, values: values, cacheStride: h,
                                        start: start, count: n, output: output, shape: shape,
                                        scratch: s.activations.attentionScratch, engine: engine)
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
    func decodeScratch(rows: Int, length: Int) throws -> DecodeScratch {
        if let s = decoding, s.precision == engine.precision, s.rows >= rows, s.length >= length { return s }
        let planned = (rows: max(rows, decoding?.rows ?? 0), length: max(length, decoding?.length ?? 0))
        decoding = nil  // free the old one first
        let s = try DecodeScratch(config: config, precision: engine.precision, rows: planned.rows, length: planned.length)
        decoding = s
        return s
    }
}
