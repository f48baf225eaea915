import Kernels

// The head, at the M target rows only: z = project_out(final_layer_norm(x_L)) (either may be absent), then
// the tied lm_head (logits = z · embed_tokensᵀ) and the cross-entropy against the targets.
extension OPTModel {
    /// Gathers the decoder-output rows `rows` into headInput and runs the head; returns z [M, E].
    func runHead<Element: GEMMElement>(_ w: Workspace, rows: [Int], _: Element.Type) -> UnsafeMutablePointer<Element> {
        let h = w.hidden, n = rows.count
        let source = w.stream(config.numHiddenLayers), gathered = w.headInput.pointer
        Parallel.forEach(n, minimumChunk: 64) { range in
            for i in range { (gathered + i * h).update(from: source + rows[i] * h, count: h) }
        }
        let norm = w.headNorm
        return headForward(gathered, rows: n, normOutput: w.headNormOutput.elements(), mean: norm.mean, rstd: norm.rstd,
                           projected: w.headOutput.elements())
    }

    /// The final LayerNorm (if any) and project_out (if any) of `rows` decoder outputs [rows, hidden];
    /// returns the [rows, word_embed_proj_dim] hidden states the tied lm_head multiplies, as it reads them:
    /// `normOutput` [rows, hidden] (the LayerNorm's output, or a copy of `input`) or `projected`.
    /// mean and rstd are [rows].
    func headForward<Element: GEMMElement>(_ input: UnsafeMutablePointer<Float>, rows n: Int,
                                           normOutput: UnsafeMutablePointer<Element>, mean: UnsafeMutablePointer<Float>,
                                           rstd: UnsafeMutablePointer<Float>,
                                           projected: UnsafeMutablePointer<Element>) -> UnsafeMutablePointer<Element> {
        let p = parameters.pointer, h = config.hiddenSize
        var current: UnsafeMutablePointer<Element>
        if let norm = layout.finalNorm {
            LayerNorm.forward(input, gamma: p + norm.weight, beta: p + norm.bias, into: normOutput, mean: mean, rstd: rstd,
                              rows: n, dim: h)
            current = normOutput
        } else {
            // The lm_head or project_out reads the decoder output itself, as the engine reads it.
            if Element.precision == .fp32 {
                UnsafeMutableRawPointer(normOutput).assumingMemoryBound(to: Float.self).update(from: input, count: n * h)
            } else {
                BFloat16.round(input, into: UnsafeMutableRawPointer(normOutput).assumingMemoryBound(to: BFloat16.self), count: n * h)
            }
            current = normOutput
        }
        if let projectOut = layout.projectOut {
            Linear.forward(current, weight: weights(Element.self) + projectOut, bias: nil, into: projected, rows: n,
                           inFeatures: h, outFeatures: config.wordEmbedProjDim, engine: engine)
            current = projected
        }
        return current
    }

    /// Given dHeadOutput = d(z) [M, E]: project_out's and the final LayerNorm's gradients, then d(x_L) into
    /// dStream [N, hidden], zero off the target rows.
    func headBackward<Element: GEMMElement>(_ w: Workspace, _ pass: Pass, _: Element.Type) {
        let g = gradients.pointer, p = parameters.pointer
        let h = w.hidden, n = pass.targetRows.count
        var d = w.dHeadOutput.pointer
        if let projectOut = layout.projectOut {
            let dz = Element.inputs(d, count: n * w.embed, scratch: w.dBranch.elements())
            Linear.backward(dz, input: w.headNormOutput.elements(Element.self), weight: weights(Element.self) + projectOut,
                            dInput: w.dHeadNorm.pointer, dWeight: g + projectOut, dBias: nil, rows: n, inFeatures: h,
                            outFeatures: w.embed, engine: engine)
            d = w.dHeadNorm.pointer
        }
        if let norm = layout.finalNorm {
            let statistics = w.headNorm
            LayerNorm.backward(d, input: w.headInput.pointer, mean: statistics.mean, rstd: statistics.rstd,
                               gamma: p + norm.weight, dInput: w.dHeadInput.pointer, accumulate: false,
                               dGamma: g + norm.weight, dBeta: g + norm.bias, rows: n, dim: h)
            d = w.dHeadInput.pointer
        }
        w.dStream.zero()
        let dStream = w.dStream.pointer, rows = pass.targetRows, headGradient = d
        Parallel.forEach(n, minimumChunk: 64) { range in
            for i in range { (dStream + rows[i] * h).update(from: headGradient + i * h, count: h) }
        }
    }

    /// The cross-entropy of z [M, E] through the tied lm_head against `targets` [M]: losses and their
    /// log-sum-exps into the workspace; the argmax token of each row when `predictions`, else [].
    func lossForward<Element: GEMMElement>(_ z: UnsafeMutablePointer<Element>, _ w: Workspace, targets: [Int32],
                                           predictions: Bool) -> [Int32] {
        let n = targets.count
        var predicted = [Int32](repeating: 0, count: predictions ? n : 0)
        targets.withUnsafeBufferPointer { t in
            predicted.withUnsafeMutableBufferPointer { out in
                CrossEntropy.forward(hidden: z, table: weights(Element.self) + layout.embedTokens, targets: t.baseAddress!,
                                     losses: w.losses.pointer, logSumExp: w.lossLogSumExp.pointer, rows: n,
                                     vocab: config.vocabSize, dim: config.wordEmbedProjDim,
                                     scratch: w.crossEntropyScratch.buffer, predictions: predictions ? out.baseAddress : nil,
                                     engine: engine)
            }
        }
        return predicted
    }

    /// d(scale * Σ losses): embed_tokens' gradient through the tied lm_head, and d(z) into dHeadOutput [M, E].
    func lossBackward<Element: GEMMElement>(_ w: Workspace, _ pass: Pass, scale: Float, _: Element.Type) {
        pass.targets.withUnsafeBufferPointer { t in
            CrossEntropy.backward(hidden: headOutput(w, Element.self), table: weights(Element.self) + layout.embedTokens,
                                  targets: t.baseAddress!, logSumExp: w.lossLogSumExp.pointer, scale: scale,
                                  dHidden: w.dHeadOutput.pointer, dTable: gradients.pointer + layout.embedTokens,
                                  rows: pass.targetRows.count, vocab: config.vocabSize, dim: config.wordEmbedProjDim,
                                  scratch: w.crossEntropyScratch.buffer,
                                  rounded: Element.precision == .bf16 ? w.crossEntropyRounded.elements(BFloat16.self) : nil,
                                  engine: engine)
        }
    }

    /// z of the last forward: the hidden states the lm_head multiplied.
    private func headOutput<Element: GEMMElement>(_ w: Workspace, _: Element.Type) -> UnsafeMutablePointer<Element> {
        layout.projectOut != nil ? w.headOutput.elements() : w.headNormOutput.elements()
    }
}
