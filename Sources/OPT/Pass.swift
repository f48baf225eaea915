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

// A training pass, stage by stage; each stage's forward and backward are side by side in its file:
//
//   forward                                   backward
//   embed            (Embeddings.swift)       embeddingBackward
//   layerForward x L (DecoderLayer.swift)     layerBackward x L, last layer first
//   runHead          (Head.swift)             headBackward
//   lossForward      (Head.swift)             lossBackward
extension OPTModel {
    /// Runs the model on `batch` and returns the summed cross-entropy at its targets, keeping what
    /// `backward` needs. `dropout` (nil: none, as in eval mode) gives the masks of this training step;
    /// `predictions` also returns the argmax token at every target (token accuracy).
    public func forward(_ batch: MicroBatch, dropout: Dropout? = nil, predictions: Bool = false) throws -> ForwardResult {
        try batch.validate(for: config)
        let w = try prepare(batch)
        var targetRows: [Int] = [], targets: [Int32] = []
        for i in 0..<batch.targets.count where batch.targets[i] >= 0 {
            targetRows.append(i)
            targets.append(batch.targets[i])
        }
        let mask = AttentionMask(rows: batch.rows, length: batch.length, segments: batch.segments, valid: batch.attentionMask)
        pass = Pass(batch: batch, dropout: dropout.flatMap { $0.probability > 0 ? $0 : nil }, mask: mask,
                    targetRows: targetRows, targets: targets)
        let predicted = switch engine.precision {
        case .fp32: forward(w, pass!, predictions: predictions, Float.self)
        case .bf16: forward(w, pass!, predictions: predictions, BFloat16.self)
        }
        let n = targetRows.count
        let losses = Array(UnsafeBufferPointer(start: w.losses.pointer, count: n))
        return ForwardResult(lossSum: losses.reduce(0.0) { $0 + Double($1) }, targetCount: n, targetLosses: losses,
                             targetPredictions: predicted)
    }

    /// Adds the gradients of `scale * Σ target cross-entropies` of the last `forward` to `gradients`.
    /// With scale = 1 / (targets in the whole global batch) and gradients zeroed once per optimizer step,
    /// accumulating micro-batches (and summing over ranks) gives exactly the gradient of Hugging Face's
    /// mean loss over the global batch.
    ///
    /// `onGradientsReady` is called with each parameter range of `layout.gradientReadyOrder` as soon as
    /// this pass has finished adding to it: the head, then layer by layer from the last, then the
    /// embeddings (last, because the tied lm_head and the token lookup both feed `embed_tokens`).
    public func backward(scale: Float, onGradientsReady: ((Range<Int>) -> Void)? = nil) {
        guard var pass, !pass.backwardDone, let w = workspace else {
            preconditionFailure("OPTModel.backward needs a forward(_:dropout:) before it, once per forward")
        }
        pass.backwardDone = true
        self.pass = pass
        switch engine.precision {
        case .fp32: backward(w, pass, scale: scale, onGradientsReady: onGradientsReady, Float.self)
        case .bf16: backward(w, pass, scale: scale, onGradientsReady: onGradientsReady, BFloat16.self)
        }
    }

    /// The forward pass with GEMM inputs of type `Element`; returns the predictions (see `forward`).
    private func forward<Element: GEMMElement>(_ w: Workspace, _ pass: Pass, predictions: Bool, _ type: Element.Type) -> [Int32] {
        runDecoder(w, pass, type)
        let z = runHead(w, rows: pass.targetRows, type)
        return lossForward(z, w, targets: pass.targets, predictions: predictions)
    }

    private func backward<Element: GEMMElement>(_ w: Workspace, _ pass: Pass, scale: Float,
                                                onGradientsReady: ((Range<Int>) -> Void)?, _ type: Element.Type) {
        lossBackward(w, pass, scale: scale, type)
        headBackward(w, pass, type)
        if !layout.headRange.isEmpty { onGradientsReady?(layout.headRange) }

        for l in stride(from: config.numHiddenLayers - 1, through: 0, by: -1) {
            layerBackward(l, w, pass, type)
            onGradientsReady?(layout.layers[l].range)
        }

        embeddingBackward(w, pass, type)
        onGradientsReady?(layout.embeddingRange)
    }

    /// The logits at every position, [rows * length, vocab] row-major (eval mode: no dropout). For
    /// inspection and small batches: the full logits are vocab floats per token.
    public func logits(_ batch: MicroBatch) throws -> [Float] {
        try batch.validate(for: config)
        let w = try prepare(batch)
        let mask = AttentionMask(rows: batch.rows, length: batch.length, segments: batch.segments, valid: batch.attentionMask)
        pass = nil
        let all = Pass(batch: batch, dropout: nil, mask: mask, targetRows: Array(0..<w.tokens), targets: [])
        return switch engine.precision {
        case .fp32: logits(w, all, Float.self)
        case .bf16: logits(w, all, BFloat16.self)
        }
    }

    private func logits<Element: GEMMElement>(_ w: Workspace, _ pass: Pass, _ type: Element.Type) -> [Float] {
        runDecoder(w, pass, type)
        let z = runHead(w, rows: pass.targetRows, type)
        var logits = [Float](repeating: 0, count: w.tokens * config.vocabSize)
        logits.withUnsafeMutableBufferPointer { out in
            engine.multiply(z, weights(type) + layout.embedTokens, into: out.baseAddress!, m: w.tokens, n: config.vocabSize,
                            k: config.wordEmbedProjDim, transposeB: true)
        }
        return logits
    }

    /// The workspace for the batch's shape: the last one when the batch fits in it (a run's micro-batches
    /// vary in rows), else a new plan for the most tokens and the longest rows seen.
    func prepare(_ batch: MicroBatch) throws -> Workspace {
        if let w = workspace, w.precision == engine.precision, w.fits(rows: batch.rows, length: batch.length) {
            w.use(rows: batch.rows, length: batch.length)
            return w
        }
        let tokens = max(batch.rows * batch.length, workspace?.capacityTokens ?? 0)
        let length = max(batch.length, workspace?.capacityLength ?? 0)
        workspace = nil  // free the old plan's memory before making the new one
        let w = try Workspace(config: config, precision: engine.precision, tokens: tokens, length: length)
        w.use(rows: batch.rows, length: batch.length)
        workspace = w
        return w
    }

    /// Embeddings and every decoder layer: fills the streams and everything backward keeps.
    func runDecoder<Element: GEMMElement>(_ w: Workspace, _ pass: Pass, _ type: Element.Type) {
        embed(pass.batch.tokens, positions: pass.batch.positions, into: w.stream(0),
              tokenEmbeddings: w.activations.tokenEmbeddings?.elements(type))
        for l in 0..<config.numHiddenLayers { layerForward(l, w, pass, type) }
    }
}
