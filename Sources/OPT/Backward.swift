import Kernels

extension OPTModel {
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
        let g = gradients.pointer, p = parameters.pointer
        let h = w.hidden, n = pass.targetRows.count

        // The tied lm_head and the head: dStream is the gradient of the decoder output (zero off targets).
        let z = headOutputPointer(w)
        pass.targets.withUnsafeBufferPointer { t in
            CrossEntropy.backward(hidden: z, table: p + layout.embedTokens, targets: t.baseAddress!,
                                  logSumExp: w.lossLogSumExp.pointer, scale: scale, dHidden: w.dHeadOutput.pointer,
                                  dTable: g + layout.embedTokens, rows: n, vocab: config.vocabSize,
                                  dim: config.wordEmbedProjDim, scratch: w.crossEntropyScratch.buffer)
        }
        var d = w.dHeadOutput.pointer
        if let projectOut = layout.projectOut {
            let input = layout.finalNorm == nil ? w.headInput.pointer : w.headNormOutput.pointer
            Linear.backward(d, input: input, weight: p + projectOut, dInput: w.dHeadNorm.pointer,
                            dWeight: g + projectOut, dBias: nil, rows: n, inFeatures: h, outFeatures: w.embed)
            d = w.dHeadNorm.pointer
        }
        if let norm = layout.finalNorm {
            LayerNorm.backward(d, input: w.headInput.pointer, mean: w.headNormStatistics.pointer,
                               rstd: w.headNormStatistics.pointer + w.tokens, gamma: p + norm.weight,
                               dInput: w.dHeadInput.pointer, accumulate: false, dGamma: g + norm.weight,
                               dBeta: g + norm.bias, rows: n, dim: h)
            d = w.dHeadInput.pointer
        }
        w.dStream.zero()
        let dStream = w.dStream.pointer, rows = pass.targetRows, headGradient = d
        Parallel.forEach(n, minimumChunk: 64) { range in
            for i in range { (dStream + rows[i] * h).update(from: headGradient + i * h, count: h) }
        }
        if !layout.headRange.isEmpty { onGradientsReady?(layout.headRange) }

        for l in stride(from: config.numHiddenLayers - 1, through: 0, by: -1) {
            layerBackward(l, w, pass)
            onGradientsReady?(layout.layers[l].range)
        }

        embeddingBackward(w, pass)
        onGradientsReady?(layout.embeddingRange)
    }

    /// The hidden states the lm_head multiplied in the last forward.
    private func headOutputPointer(_ w: Workspace) -> UnsafeMutablePointer<Float> {
        if layout.projectOut != nil { return w.headOutput.pointer }
        if layout.finalNorm != nil { return w.headNormOutput.pointer }
        return w.headInput.pointer
    }

    /// The gradient of a dropout-residual sum with respect to its branch: dOut itself without dropout.
    private func branchGradient(_ dOut: UnsafeMutablePointer<Float>, _ w: Workspace, _ pass: Pass,
                                site: Int) -> UnsafeMutablePointer<Float> {
        guard let dropout = pass.dropout else { return dOut }
        dropout.backward(dOut, into: w.dBranch.pointer, rows: w.rows, length: w.length, dim: w.hidden,
                         sequences: pass.batch.sequenceIDs, site: site)
        return w.dBranch.pointer
    }

    /// Given dStream = d(layer output), adds the layer's parameter gradients and leaves d(layer input) in dStream.
    private func layerBackward(_ l: Int, _ w: Workspace, _ pass: Pass) {
        let L = layout.layers[l], p = parameters.pointer, g = gradients.pointer
        let n = w.tokens, h = w.hidden, f = w.ffn
        let x = w.stream(l), dStream = w.dStream.pointer, normOutput = w.normOutput.pointer
        let shape = Attention.Shape(heads: config.numAttentionHeads, headDim: config.headDim)
        let preLN = config.doLayerNormBefore

        // MLP block. dMid: gradient of the MLP block's input (pre-LN: residual1; post-LN: LN(residual1)).
        let dMid: UnsafeMutablePointer<Float>
        if preLN {
            dMid = dStream
        } else {
            LayerNorm.backward(dStream, input: w.residual2(l), mean: w.normStatistics(l, 2), rstd: w.normStatistics(l, 3),
                               gamma: p + L.mlpNormWeight, dInput: w.dResidual.pointer, accumulate: false,
                               dGamma: g + L.mlpNormWeight, dBeta: g + L.mlpNormBias, rows: n, dim: h)
            dMid = w.dResidual.pointer
        }
        let dFC2 = branchGradient(dMid, w, pass, site: DropoutSite.mlp(l))
        Linear.backward(dFC2, input: w.fcHidden(l), weight: p + L.fc2Weight, dInput: w.dHidden.pointer,
                        dWeight: g + L.fc2Weight, dBias: g + L.fc2Bias, rows: n, inFeatures: f, outFeatures: h)
        ReLU.backward(w.dHidden.pointer, output: w.fcHidden(l), count: n * f)
        let (mlpMean, mlpRstd, mlpGamma, mlpBeta) = preLN
            ? (w.normStatistics(l, 2), w.normStatistics(l, 3), L.mlpNormWeight, L.mlpNormBias)
            : (w.normStatistics(l, 0), w.normStatistics(l, 1), L.attentionNormWeight, L.attentionNormBias)
        LayerNorm.apply(w.residual1(l), gamma: p + mlpGamma, beta: p + mlpBeta, mean: mlpMean, rstd: mlpRstd,
                        into: normOutput, rows: n, dim: h)
        if preLN {
            Linear.backward(w.dHidden.pointer, input: normOutput, weight: p + L.fc1Weight, dInput: w.dNorm.pointer,
                            dWeight: g + L.fc1Weight, dBias: g + L.fc1Bias, rows: n, inFeatures: h, outFeatures: f)
            LayerNorm.backward(w.dNorm.pointer, input: w.residual1(l), mean: mlpMean, rstd: mlpRstd, gamma: p + mlpGamma,
                               dInput: dStream, accumulate: true, dGamma: g + mlpGamma, dBeta: g + mlpBeta, rows: n, dim: h)
        } else {
            // The normalized residual1 feeds both fc1 and the residual: its gradient is the sum.
            Linear.backward(w.dHidden.pointer, input: normOutput, weight: p + L.fc1Weight, dInput: dMid,
                            accumulateInput: true, dWeight: g + L.fc1Weight, dBias: g + L.fc1Bias, rows: n,
                            inFeatures: h, outFeatures: f)
            LayerNorm.backward(dMid, input: w.residual1(l), mean: mlpMean, rstd: mlpRstd, gamma: p + mlpGamma,
                               dInput: dStream, accumulate: false, dGamma: g + mlpGamma, dBeta: g + mlpBeta, rows: n, dim: h)
        }
        // dStream = d(residual1) = d(layer input) through the residual + d(attention branch).

        // Attention block.
        let dOut = branchGradient(dStream, w, pass, site: DropoutSite.attention(l))
        let dAttention = w.dNorm.pointer
        Linear.backward(dOut, input: w.attention(l), weight: p + L.outWeight, dInput: dAttention,
                        dWeight: g + L.outWeight, dBias: g + L.outBias, rows: n, inFeatures: h, outFeatures: h)
        Attention.backward(qkv: w.qkv(l), output: w.attention(l), dOutput: dAttention, logSumExp: w.logSumExp(l),
                           dQKV: w.dQKV.pointer, mask: pass.mask, shape: shape, scratch: w.attentionScratch)
        scaleQueries(w.dQKV.pointer, rows: n, hidden: h)
        if preLN {
            LayerNorm.apply(x, gamma: p + L.attentionNormWeight, beta: p + L.attentionNormBias, mean: w.normStatistics(l, 0),
                            rstd: w.normStatistics(l, 1), into: normOutput, rows: n, dim: h)
            Linear.backward(w.dQKV.pointer, input: normOutput, weight: p + L.qkvWeight, dInput: w.dNorm.pointer,
                            dWeight: g + L.qkvWeight, dBias: g + L.qkvBias, rows: n, inFeatures: h, outFeatures: 3 * h)
            LayerNorm.backward(w.dNorm.pointer, input: x, mean: w.normStatistics(l, 0), rstd: w.normStatistics(l, 1),
                               gamma: p + L.attentionNormWeight, dInput: dStream, accumulate: true,
                               dGamma: g + L.attentionNormWeight, dBeta: g + L.attentionNormBias, rows: n, dim: h)
        } else {
            Linear.backward(w.dQKV.pointer, input: x, weight: p + L.qkvWeight, dInput: dStream, accumulateInput: true,
                            dWeight: g + L.qkvWeight, dBias: g + L.qkvBias, rows: n, inFeatures: h, outFeatures: 3 * h)
        }
    }

    /// Given dStream = d(stream 0): the learned positions, project_in and the token lookup (whose pad row
    /// gets no gradient, as torch's padding_idx).
    private func embeddingBackward(_ w: Workspace, _ pass: Pass) {
        let g = gradients.pointer, p = parameters.pointer, n = w.tokens, h = w.hidden
        let batch = pass.batch
        batch.positions.withUnsafeBufferPointer { positions in
            Embedding.backward(w.dStream.pointer, ids: positions.baseAddress!, offset: OPTConfig.positionOffset,
                               dTable: g + layout.embedPositions, rows: n, dim: h)
        }
        var dEmbedded = w.dStream.pointer
        if let projectIn = layout.projectIn, let embedded = w.tokenEmbeddings, let dEmbeddings = w.dTokenEmbeddings {
            Linear.backward(w.dStream.pointer, input: embedded.pointer, weight: p + projectIn, dInput: dEmbeddings.pointer,
                            dWeight: g + projectIn, dBias: nil, rows: n, inFeatures: w.embed, outFeatures: h)
            dEmbedded = dEmbeddings.pointer
        }
        batch.tokens.withUnsafeBufferPointer { ids in
            Embedding.backward(dEmbedded, ids: ids.baseAddress!, dTable: g + layout.embedTokens, rows: n,
                               dim: config.wordEmbedProjDim, skipRow: config.padTokenId)
        }
    }
}
