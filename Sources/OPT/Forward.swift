import Kernels

/// What one forward pass over a micro-batch gives.
public struct ForwardResult: Sendable, Equatable {
    /// Σ of the natural-log cross-entropy over the targets (divide by the global target count for HF's loss).
    public var lossSum: Double
    public var targetCount: Int
    /// Each target's cross-entropy, in row-major position order.
    public var targetLosses: [Float]
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
    /// `backward` needs. `dropout` (nil: none, as in eval mode) gives the masks of this training step.
    public func forward(_ batch: MicroBatch, dropout: Dropout? = nil) throws -> ForwardResult {
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
        targets.withUnsafeBufferPointer { t in
            CrossEntropy.forward(hidden: z, table: parameters.pointer + layout.embedTokens, targets: t.baseAddress!,
                                 losses: w.losses.pointer, logSumExp: w.lossLogSumExp.pointer, rows: n,
                                 vocab: config.vocabSize, dim: config.wordEmbedProjDim,
                                 scratch: w.crossEntropyScratch.buffer)
        }
        let losses = Array(UnsafeBufferPointer(start: w.losses.pointer, count: n))
        return ForwardResult(lossSum: losses.reduce(0.0) { $0 + Double($1) }, targetCount: n, targetLosses: losses)
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

    /// The workspace for the batch's shape (kept from the last pass when the shape is the same).
    func prepare(_ batch: MicroBatch) -> Workspace {
        if let w = workspace, w.rows == batch.rows, w.length == batch.length { return w }
        workspace = nil  // free the old shape's memory before planning the new one
        let w = Workspace(config: config, rows: batch.rows, length: batch.length)
        workspace = w
        return w
    }

    var queryScale: Float { Float(1 / Double(config.headDim).squareRoot()) }

    /// Embeddings and every decoder layer: fills the streams and everything backward keeps.
    func runDecoder(_ w: Workspace, _ pass: Pass) {
        let batch = pass.batch
        let p = parameters.pointer, n = w.tokens, h = w.hidden, e = w.embed
        let x0 = w.stream(0)
        batch.tokens.withUnsafeBufferPointer { ids in
            if let projectIn = layout.projectIn, let embedded = w.tokenEmbeddings {
                Embedding.forward(table: p + layout.embedTokens, ids: ids.baseAddress!, into: embedded.pointer,
                                  rows: n, dim: e, accumulate: false)
                Linear.forward(embedded.pointer, weight: p + projectIn, bias: nil, into: x0, rows: n,
                               inFeatures: e, outFeatures: h)
            } else {
                Embedding.forward(table: p + layout.embedTokens, ids: ids.baseAddress!, into: x0, rows: n, dim: h,
                                  accumulate: false)
            }
        }
        batch.positions.withUnsafeBufferPointer { positions in
            Embedding.forward(table: p + layout.embedPositions, ids: positions.baseAddress!,
                              offset: OPTConfig.positionOffset, into: x0, rows: n, dim: h, accumulate: true)
        }
        for l in 0..<config.numHiddenLayers { layerForward(l, w, pass) }
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
        let L = layout.layers[l], p = parameters.pointer
        let n = w.tokens, h = w.hidden, f = w.ffn
        let x = w.stream(l), out = w.stream(l + 1)
        let shape = Attention.Shape(heads: config.numAttentionHeads, headDim: config.headDim)
        let preLN = config.doLayerNormBefore
        // Attention block.
        let attentionInput: UnsafeMutablePointer<Float>
        if preLN {
            LayerNorm.forward(x, gamma: p + L.attentionNormWeight, beta: p + L.attentionNormBias, into: w.normOutput.pointer,
                              mean: w.normStatistics(l, 0), rstd: w.normStatistics(l, 1), rows: n, dim: h)
            attentionInput = w.normOutput.pointer
        } else {
            attentionInput = x
        }
        Linear.forward(attentionInput, weight: p + L.qkvWeight, bias: p + L.qkvBias, into: w.qkv(l), rows: n,
                       inFeatures: h, outFeatures: 3 * h)
        scaleQueries(w.qkv(l), rows: n, hidden: h)
        Attention.forward(qkv: w.qkv(l), output: w.attention(l), logSumExp: w.logSumExp(l), mask: pass.mask,
                          shape: shape, scratch: w.attentionScratch)
        Linear.forward(w.attention(l), weight: p + L.outWeight, bias: p + L.outBias, into: w.branch.pointer, rows: n,
                       inFeatures: h, outFeatures: h)
        residualAdd(w.branch.pointer, residual: x, into: w.residual1(l), w, pass, site: DropoutSite.attention(l))
        // MLP block.
        let mlpInput = w.normOutput.pointer
        if preLN {
            LayerNorm.forward(w.residual1(l), gamma: p + L.mlpNormWeight, beta: p + L.mlpNormBias, into: mlpInput,
                              mean: w.normStatistics(l, 2), rstd: w.normStatistics(l, 3), rows: n, dim: h)
        } else {
            LayerNorm.forward(w.residual1(l), gamma: p + L.attentionNormWeight, beta: p + L.attentionNormBias,
                              into: mlpInput, mean: w.normStatistics(l, 0), rstd: w.normStatistics(l, 1), rows: n, dim: h)
        }
        Linear.forward(mlpInput, weight: p + L.fc1Weight, bias: p + L.fc1Bias, into: w.fcHidden(l), rows: n,
                       inFeatures: h, outFeatures: f)
        ReLU.forward(w.fcHidden(l), count: n * f)
        Linear.forward(w.fcHidden(l), weight: p + L.fc2Weight, bias: p + L.fc2Bias, into: w.branch.pointer, rows: n,
                       inFeatures: f, outFeatures: h)
        if preLN {
            residualAdd(w.branch.pointer, residual: w.residual1(l), into: out, w, pass, site: DropoutSite.mlp(l))
        } else {
            residualAdd(w.branch.pointer, residual: mlpInput, into: w.residual2(l), w, pass, site: DropoutSite.mlp(l))
            LayerNorm.forward(w.residual2(l), gamma: p + L.mlpNormWeight, beta: p + L.mlpNormBias, into: out,
                              mean: w.normStatistics(l, 2), rstd: w.normStatistics(l, 3), rows: n, dim: h)
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
        let p = parameters.pointer, h = w.hidden, n = rows.count
        let source = w.stream(config.numHiddenLayers), gathered = w.headInput.pointer
        Parallel.forEach(n, minimumChunk: 64) { range in
            for i in range { (gathered + i * h).update(from: source + rows[i] * h, count: h) }
        }
        var current = gathered
        if let norm = layout.finalNorm {
            LayerNorm.forward(current, gamma: p + norm.weight, beta: p + norm.bias, into: w.headNormOutput.pointer,
                              mean: w.headNormStatistics.pointer, rstd: w.headNormStatistics.pointer + w.tokens,
                              rows: n, dim: h)
            current = w.headNormOutput.pointer
        }
        if let projectOut = layout.projectOut {
            Linear.forward(current, weight: p + projectOut, bias: nil, into: w.headOutput.pointer, rows: n,
                           inFeatures: h, outFeatures: w.embed)
            current = w.headOutput.pointer
        }
        return current
    }
}
