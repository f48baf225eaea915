import Kernels

/// What one forward pass over a micro-batch gives.
public struct ForwardResult: Sendable, Equatable {
    /// Σ of the natural-log cross-entropy over the targets (divide by the global target count for HF's loss).
    public var lossSum: Double
    public var targetCount: Int
    /// Each target's cross-entropy, in row-major position order.
    public var targetLosses: [Float]
    /// The most likely token at each target position (argmax of the logits), when asked for; else empty.
    public var targetPredictions: [Int32] = []
}

/// The state backward needs from the forward before it.
struct Pass {
    let batch: MicroBatch
    let dropout: Dropout?
    let mask: AttentionMask
    /// Token indices (row * length + position) that have a target, in order, and those targets.
    let targetRows: [Int]
    let targets: [Int32]
    var backwardDone = false
}

/// Dropout sites: one after out_proj and one after fc2 in every layer (transformers' OPTDecoderLayer;
/// `attention_dropout` on the probabilities is 0 in OPT's configs and rejected otherwise).
enum DropoutSite {
    static func attention(_ layer: Int) -> Int { 2 * layer }
    static func mlp(_ layer: Int) -> Int { 2 * layer + 1 }
}

extension OPTModel {
    /// Runs the model on `batch` and returns the summed cross-entropy at its targets, keeping what
    /// `backward` needs. `dropout` (nil: none, as in eval mode) gives the masks of this training step;
    /// `predictions` also returns the argmax token at every target (token accuracy).
    public func forward(_ batch: MicroBatch, dropout: Dropout? = nil, predictions: Bool = false) throws -> ForwardResult {
        try batch.validate(for: config)
        let w = prepare(batch)
        var targetRows: [Int] = [], targets: [Int32] = []
        for i in 0..<batch.targets.count where batch.targets[i] >= 0 {
            targetRows.append(i)
            targets.append(batch.targets[i])
        }
        let mask = AttentionMask(rows: batch.rows, length: batch.length, segments: batch.segments, valid: batch.attentionMask)
        pass = Pass(batch: batch, dropout: dropout.flatMap { $0.probability > 0 ? $0 : nil }, mask: mask,
                    targetRows: targetRows, targets: targets)
        runDecoder(w, pass!)
        let z = runHead(w, rows: targetRows)
        let n = targetRows.count
        var predicted = [Int32](repeating: 0, count: predictions ? n : 0)
        targets.withUnsafeBufferPointer { t in
            predicted.withUnsafeMutableBufferPointer { out in
                CrossEntropy.forward(hidden: z, table: parameters.pointer + layout.embedTokens, targets: t.baseAddress!,
                                     losses: w.losses.pointer, logSumExp: w.lossLogSumExp.pointer, rows: n,
                                     vocab: config.vocabSize, dim: config.wordEmbedProjDim,
                                     scratch: w.crossEntropyScratch.buffer, predictions: predictions ? out.baseAddress : nil)
            }
        }
        let losses = Array(UnsafeBufferPointer(start: w.losses.pointer, count: n))
        return ForwardResult(lossSum: losses.reduce(0.0) { $0 + Double($1) }, targetCount: n, targetLosses: losses,
                             targetPredictions: predicted)
    }

    /// The logits at every position, [rows * length, vocab] row-major (eval mode: no dropout). For
    /// inspection and small batches: the full logits are vocab floats per token.
    public func logits(_ batch: MicroBatch) throws -> [Float] {
        try batch.validate(for: config)
        let w = prepare(batch)
        let mask = AttentionMask(rows: batch.rows, length: batch.length, segments: batch.segments, valid: batch.attentionMask)
        pass = nil
        runDecoder(w, Pass(batch: batch, dropout: nil, mask: mask, targetRows: [], targets: []))
        let z = runHead(w, rows: Array(0..<w.tokens))
        var logits = [Float](repeating: 0, count: w.tokens * config.vocabSize)
        logits.withUnsafeMutableBufferPointer { out in
            matmul(z, parameters.pointer + layout.embedTokens, into: out.baseAddress!, m: w.tokens, n: config.vocabSize,
                   k: config.wordEmbedProjDim, transposeB: true)
        }
        return logits
    }

    /// The workspace for the batch's shape: the last one when the batch fits in it (a run's micro-batches
    /// vary in rows), else a new plan for the most tokens and the longest rows seen.
    func prepare(_ batch: MicroBatch) -> Workspace {
        if let w = workspace, w.fits(rows: batch.rows, length: batch.length) {
            w.use(rows: batch.rows, length: batch.length)
            return w
        }
        let tokens = max(batch.rows * batch.length, workspace?.capacityTokens ?? 0)
        let length = max(batch.length, workspace?.capacityLength ?? 0)
        workspace = nil  // free the old plan's memory before making the new one
        let w = Workspace(config: config, tokens: tokens, length: length)
        w.use(rows: batch.rows, length: batch.length)
        workspace = w
        return w
    }

    var queryScale: Float { Float(1 / Double(config.headDim).squareRoot()) }

    /// Embeddings and every decoder layer: fills the streams and everything backward keeps.
    func runDecoder(_ w: Workspace, _ pass: Pass) {
        embed(pass.batch.tokens, positions: pass.batch.positions, into: w.stream(0), tokenEmbeddings: w.tokenEmbeddings?.pointer)
        for l in 0..<config.numHiddenLayers { layerForward(l, w, pass) }
    }

    /// x0[n, hidden] = the token embeddings (through project_in when the model has it, with
    /// `tokenEmbeddings` [n, word_embed_proj_dim] as its input) + the position embeddings (`positions` are
    /// Hugging Face's, before the table offset). The caller has checked every id and position.
    func embed(_ tokens: [Int32], positions: [Int32], into x0: UnsafeMutablePointer<Float>,
               tokenEmbeddings: UnsafeMutablePointer<Float>?) {
        let p = parameters.pointer, n = tokens.count, h = config.hiddenSize, e = config.wordEmbedProjDim
        tokens.withUnsafeBufferPointer { ids in
            if let projectIn = layout.projectIn, let embedded = tokenEmbeddings {
                Embedding.forward(table: p + layout.embedTokens, ids: ids.baseAddress!, into: embedded, rows: n, dim: e,
                                  accumulate: false)
                Linear.forward(embedded, weight: p + projectIn, bias: nil, into: x0, rows: n, inFeatures: e, outFeatures: h)
            } else {
                Embedding.forward(table: p + layout.embedTokens, ids: ids.baseAddress!, into: x0, rows: n, dim: h,
                                  accumulate: false)
            }
        }
        positions.withUnsafeBufferPointer { positions in
            Embedding.forward(table: p + layout.embedPositions, ids: positions.baseAddress!,
                              offset: OPTConfig.positionOffset, into: x0, rows: n, dim: h, accumulate: true)
        }
    }

    /// `out = residual + dropout(x)` at `site`, or a plain sum without dropout.
    func residualAdd(_ x: UnsafePointer<Float>, residual: UnsafePointer<Float>, into out: UnsafeMutablePointer<Float>,
                     _ w: Workspace, _ pass: Pass, site: Int) {
        if let dropout = pass.dropout {
            dropout.residualAdd(x, residual: residual, into: out, rows: w.rows, length: w.length, dim: w.hidden,
                                sequences: pass.batch.sequenceIDs, site: site)
        } else {
            Residual.add(x, residual: residual, into: out, count: w.tokens * w.hidden)
        }
    }

    private func layerForward(_ l: Int, _ w: Workspace, _ pass: Pass) {
        let shape = Attention.Shape(heads: config.numAttentionHeads, headDim: config.headDim)
        layerForward(l, w.layerBuffers(l), attend: { qkv, output in
            Attention.forward(qkv: qkv, output: output, logSumExp: w.logSumExp(l), mask: pass.mask, shape: shape,
                              scratch: w.attentionScratch)
        }, addResidual: { x, residual, out, site in
            residualAdd(x, residual: residual, into: out, w, pass, site: site)
        })
    }

    /// Decoder layer `l` over `b.rows` tokens: `b.output` from `b.input`. `attend(qkv, output)` turns the
    /// scaled q|k|v [rows, 3 * hidden] into the attention output [rows, hidden]; `addResidual(x, residual,
    /// out, site)` writes out = residual + (dropout of) x at a dropout site. Training and cached decoding
    /// differ only in those two and in where the buffers are.
    func layerForward(_ l: Int, _ b: LayerBuffers,
                      attend: (UnsafeMutablePointer<Float>, UnsafeMutablePointer<Float>) -> Void,
                      addResidual: (UnsafePointer<Float>, UnsafePointer<Float>, UnsafeMutablePointer<Float>, Int) -> Void) {
        let L = layout.layers[l], p = parameters.pointer
        let n = b.rows, h = config.hiddenSize, f = config.ffnDim
        let x = b.input, out = b.output
        let preLN = config.doLayerNormBefore
        // Attention block.
        let attentionInput: UnsafeMutablePointer<Float>
        if preLN {
            LayerNorm.forward(x, gamma: p + L.attentionNormWeight, beta: p + L.attentionNormBias, into: b.normOutput,
                              mean: b.normStatistics(0), rstd: b.normStatistics(1), rows: n, dim: h)
            attentionInput = b.normOutput
        } else {
            attentionInput = x
        }
        Linear.forward(attentionInput, weight: p + L.qkvWeight, bias: p + L.qkvBias, into: b.qkv, rows: n,
                       inFeatures: h, outFeatures: 3 * h)
        scaleQueries(b.qkv, rows: n, hidden: h)
        attend(b.qkv, b.attention)
        Linear.forward(b.attention, weight: p + L.outWeight, bias: p + L.outBias, into: b.branch, rows: n,
                       inFeatures: h, outFeatures: h)
        addResidual(b.branch, x, b.residual1, DropoutSite.attention(l))
        // MLP block.
        let mlpInput = b.normOutput
        if preLN {
            LayerNorm.forward(b.residual1, gamma: p + L.mlpNormWeight, beta: p + L.mlpNormBias, into: mlpInput,
                              mean: b.normStatistics(2), rstd: b.normStatistics(3), rows: n, dim: h)
        } else {
            LayerNorm.forward(b.residual1, gamma: p + L.attentionNormWeight, beta: p + L.attentionNormBias,
                              into: mlpInput, mean: b.normStatistics(0), rstd: b.normStatistics(1), rows: n, dim: h)
        }
        Linear.forward(mlpInput, weight: p + L.fc1Weight, bias: p + L.fc1Bias, into: b.fcHidden, rows: n,
                       inFeatures: h, outFeatures: f)
        ReLU.forward(b.fcHidden, count: n * f)
        Linear.forward(b.fcHidden, weight: p + L.fc2Weight, bias: p + L.fc2Bias, into: b.branch, rows: n,
                       inFeatures: f, outFeatures: h)
        if preLN {
            addResidual(b.branch, b.residual1, out, DropoutSite.mlp(l))
        } else {
            addResidual(b.branch, mlpInput, b.residual2!, DropoutSite.mlp(l))
            LayerNorm.forward(b.residual2!, gamma: p + L.mlpNormWeight, beta: p + L.mlpNormBias, into: out,
                              mean: b.normStatistics(2), rstd: b.normStatistics(3), rows: n, dim: h)
        }
    }

    /// q = q * head_dim^-0.5 in place, after q_proj's bias (transformers' order).
    func scaleQueries(_ qkv: UnsafeMutablePointer<Float>, rows n: Int, hidden h: Int) {
        let s = queryScale
        Parallel.forEach(n, minimumChunk: 64) { range in
            for r in range { VectorMath.scale(qkv + r * 3 * h, h, by: s) }
        }
    }

    /// The final LayerNorm and project_out at the decoder-output rows `rows`; returns the [rows.count,
    /// word_embed_proj_dim] hidden states the tied lm_head multiplies.
    func runHead(_ w: Workspace, rows: [Int]) -> UnsafeMutablePointer<Float> {
        let h = w.hidden, n = rows.count
        let source = w.stream(config.numHiddenLayers), gathered = w.headInput.pointer
        Parallel.forEach(n, minimumChunk: 64) { range in
            for i in range { (gathered + i * h).update(from: source + rows[i] * h, count: h) }
        }
        return headForward(gathered, rows: n, normOutput: w.headNormOutput.pointer, mean: w.headNormStatistics.pointer,
                           rstd: w.headNormStatistics.pointer + w.tokens, projected: w.headOutput.pointer)
    }

    /// The final LayerNorm (if any) and project_out (if any) of `rows` decoder outputs [rows, hidden];
    /// returns the [rows, word_embed_proj_dim] hidden states the tied lm_head multiplies: `input` itself,
    /// `normOutput` [rows, hidden] or `projected`. mean and rstd are [rows].
    func headForward(_ input: UnsafeMutablePointer<Float>, rows n: Int, normOutput: UnsafeMutablePointer<Float>,
                     mean: UnsafeMutablePointer<Float>, rstd: UnsafeMutablePointer<Float>,
                     projected: UnsafeMutablePointer<Float>) -> UnsafeMutablePointer<Float> {
        let p = parameters.pointer, h = config.hiddenSize
        var current = input
        if let norm = layout.finalNorm {
            LayerNorm.forward(current, gamma: p + norm.weight, beta: p + norm.bias, into: normOutput, mean: mean, rstd: rstd,
                              rows: n, dim: h)
            current = normOutput
        }
        if let projectOut = layout.projectOut {
            Linear.forward(current, weight: p + projectOut, bias: nil, into: projected, rows: n, inFeatures: h,
                           outFeatures: config.wordEmbedProjDim)
            current = projected
        }
        return current
    }
}
