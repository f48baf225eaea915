import Kernels

/// Dropout sites: one after out_proj and one after fc2 in every layer (transformers' OPTDecoderLayer;
/// `attention_dropout` on the probabilities is 0 in OPT's configs and rejected otherwise).
enum DropoutSite {
    static func attention(_ layer: Int) -> Int { 2 * layer }
    static func mlp(_ layer: Int) -> Int { 2 * layer + 1 }
}

/// Attention over the scaled q|k|v [N, 3C] into its output [N, C]: over the pass's mask in training, over
/// the KV cache in decoding.
typealias Attend = (UnsafeMutablePointer<Float>, UnsafeMutablePointer<Float>) -> Void
/// (x, residual, out, site): out = residual + x, with x through the dropout mask of `site` when training.
typealias AddResidual = (UnsafePointer<Float>, UnsafePointer<Float>, UnsafeMutablePointer<Float>, Int) -> Void

// One decoder layer, as transformers' OPTDecoderLayer: an attention block, then an MLP block, each
//
//   pre-LN  (do_layer_norm_before, opt-125m, opt-1.3b):  out = x + dropout(sublayer(LN(x)))
//   post-LN (opt-350m):                                  out = LN(x + dropout(sublayer(x)))
//
// with self_attn_layer_norm in the attention block and final_layer_norm in the MLP block. Every buffer is
// [N, C] unless noted (Workspace.swift); `b` is the layer's buffers, `w` the workspace's gradient scratch.
extension OPTModel {
    // MARK: Dropout and the residual

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

    /// The gradient of a dropout-residual sum with respect to its branch: dOut itself without dropout.
    /// (With respect to the residual it is dOut, which the caller keeps.)
    private func branchGradient(_ dOut: UnsafeMutablePointer<Float>, _ w: Workspace, _ pass: Pass,
                                site: Int) -> UnsafeMutablePointer<Float> {
        guard let dropout = pass.dropout else { return dOut }
        dropout.backward(dOut, into: w.dBranch.pointer, rows: w.rows, length: w.length, dim: w.hidden,
                         sequences: pass.batch.sequenceIDs, site: site)
        return w.dBranch.pointer
    }

    // MARK: The attention block

    /// x (b.input) -> the MLP block's input: b.residual1 = x + dropout(out_proj(attention(q, k, v))), with
    /// q|k|v = qkv_proj(LN(x)) (pre-LN) or qkv_proj(x) (post-LN, which then returns LN(residual1) in
    /// b.normOutput). `attend` runs attention, `addResidual` the dropout-residual sum.
    func attentionBlockForward(_ l: Int, _ b: LayerBuffers, attend: Attend, addResidual: AddResidual) -> UnsafeMutablePointer<Float> {
        let L = layout.layers[l], p = parameters.pointer
        let n = b.rows, h = config.hiddenSize, x = b.input, norm = b.attentionNorm
        let preLN = config.doLayerNormBefore
        if preLN {
            LayerNorm.forward(x, gamma: p + L.attentionNormWeight, beta: p + L.attentionNormBias, into: b.normOutput,
                              mean: norm.mean, rstd: norm.rstd, rows: n, dim: h)
        }
        Linear.forward(preLN ? b.normOutput : x, weight: p + L.qkvWeight, bias: p + L.qkvBias, into: b.qkv, rows: n,
                       inFeatures: h, outFeatures: 3 * h)
        scaleQueries(b.qkv, rows: n, hidden: h)
        attend(b.qkv, b.attention)
        Linear.forward(b.attention, weight: p + L.outWeight, bias: p + L.outBias, into: b.branch, rows: n,
                       inFeatures: h, outFeatures: h)
        addResidual(b.branch, x, b.residual1, DropoutSite.attention(l))
        if preLN { return b.residual1 }
        LayerNorm.forward(b.residual1, gamma: p + L.attentionNormWeight, beta: p + L.attentionNormBias,
                          into: b.normOutput, mean: norm.mean, rstd: norm.rstd, rows: n, dim: h)
        return b.normOutput
    }

    /// Given d(block output) (pre-LN: dStream = d(residual1); post-LN: `dOutput` = d(LN(residual1))), adds
    /// the block's parameter gradients and leaves d(x) in dStream.
    private func attentionBlockBackward(_ l: Int, _ b: LayerBuffers, dOutput: UnsafeMutablePointer<Float>,
                                        _ w: Workspace, _ pass: Pass) {
        let L = layout.layers[l], p = parameters.pointer, g = gradients.pointer
        let n = b.rows, h = config.hiddenSize, x = b.input, norm = b.attentionNorm, dStream = w.dStream.pointer
        let shape = Attention.Shape(heads: config.numAttentionHeads, headDim: config.headDim)
        let preLN = config.doLayerNormBefore
        if !preLN {
            LayerNorm.backward(dOutput, input: b.residual1, mean: norm.mean, rstd: norm.rstd, gamma: p + L.attentionNormWeight,
                               dInput: dStream, accumulate: false, dGamma: g + L.attentionNormWeight,
                               dBeta: g + L.attentionNormBias, rows: n, dim: h)
        }
        // dStream = d(residual1): d(x) through the residual, and the branch's gradient below.
        let dOut = branchGradient(dStream, w, pass, site: DropoutSite.attention(l))
        let dAttention = w.dNorm.pointer
        Linear.backward(dOut, input: b.attention, weight: p + L.outWeight, dInput: dAttention,
                        dWeight: g + L.outWeight, dBias: g + L.outBias, rows: n, inFeatures: h, outFeatures: h)
        Attention.backward(qkv: b.qkv, output: b.attention, dOutput: dAttention, logSumExp: w.logSumExp(l),
                           dQKV: w.dQKV.pointer, mask: pass.mask, shape: shape, scratch: w.activations.attentionScratch)
        scaleQueries(w.dQKV.pointer, rows: n, hidden: h)
        if preLN {
            LayerNorm.apply(x, gamma: p + L.attentionNormWeight, beta: p + L.attentionNormBias, mean: norm.mean,
                            rstd: norm.rstd, into: b.normOutput, rows: n, dim: h)
            Linear.backward(w.dQKV.pointer, input: b.normOutput, weight: p + L.qkvWeight, dInput: w.dNorm.pointer,
                            dWeight: g + L.qkvWeight, dBias: g + L.qkvBias, rows: n, inFeatures: h, outFeatures: 3 * h)
            LayerNorm.backward(w.dNorm.pointer, input: x, mean: norm.mean, rstd: norm.rstd, gamma: p + L.attentionNormWeight,
                               dInput: dStream, accumulate: true, dGamma: g + L.attentionNormWeight,
                               dBeta: g + L.attentionNormBias, rows: n, dim: h)
        } else {
            Linear.backward(w.dQKV.pointer, input: x, weight: p + L.qkvWeight, dInput: dStream, accumulateInput: true,
                            dWeight: g + L.qkvWeight, dBias: g + L.qkvBias, rows: n, inFeatures: h, outFeatures: 3 * h)
        }
    }

    // MARK: The MLP block

    /// `input` (the attention block's output: b.residual1, or LN(residual1) in b.normOutput) -> b.output:
    /// input + dropout(fc2(relu(fc1(LN(input))))) (pre-LN), or LN(b.residual2 = input +
    /// dropout(fc2(relu(fc1(input))))) (post-LN). b.fcHidden [N, F] keeps relu(fc1).
    func mlpBlockForward(_ l: Int, _ b: LayerBuffers, input: UnsafeMutablePointer<Float>, addResidual: AddResidual) {
        let L = layout.layers[l], p = parameters.pointer
        let n = b.rows, h = config.hiddenSize, f = config.ffnDim, norm = b.mlpNorm
        let preLN = config.doLayerNormBefore
        if preLN {
            LayerNorm.forward(input, gamma: p + L.mlpNormWeight, beta: p + L.mlpNormBias, into: b.normOutput,
                              mean: norm.mean, rstd: norm.rstd, rows: n, dim: h)
        }
        Linear.forward(b.normOutput, weight: p + L.fc1Weight, bias: p + L.fc1Bias, into: b.fcHidden, rows: n,
                       inFeatures: h, outFeatures: f)
        ReLU.forward(b.fcHidden, count: n * f)
        Linear.forward(b.fcHidden, weight: p + L.fc2Weight, bias: p + L.fc2Bias, into: b.branch, rows: n,
                       inFeatures: f, outFeatures: h)
        if preLN {
            addResidual(b.branch, input, b.output, DropoutSite.mlp(l))
        } else {
            addResidual(b.branch, input, b.residual2!, DropoutSite.mlp(l))
            LayerNorm.forward(b.residual2!, gamma: p + L.mlpNormWeight, beta: p + L.mlpNormBias, into: b.output,
                              mean: norm.mean, rstd: norm.rstd, rows: n, dim: h)
        }
    }

    /// Given dStream = d(layer output), adds the block's parameter gradients and returns d(block input):
    /// dStream itself (pre-LN, the LayerNorm path added to it) or dResidual (post-LN). The block's input,
    /// not kept, is recomputed from b.residual1 into b.normOutput.
    private func mlpBlockBackward(_ l: Int, _ b: LayerBuffers, _ w: Workspace, _ pass: Pass) -> UnsafeMutablePointer<Float> {
        let L = layout.layers[l], p = parameters.pointer, g = gradients.pointer
        let n = b.rows, h = config.hiddenSize, f = config.ffnDim, dStream = w.dStream.pointer
        let preLN = config.doLayerNormBefore
        // d(residual sum): the layer output's gradient (pre-LN), or through final_layer_norm (post-LN).
        let dSum: UnsafeMutablePointer<Float>
        if preLN {
            dSum = dStream
        } else {
            let norm = b.mlpNorm
            LayerNorm.backward(dStream, input: b.residual2!, mean: norm.mean, rstd: norm.rstd, gamma: p + L.mlpNormWeight,
                               dInput: w.dResidual.pointer, accumulate: false, dGamma: g + L.mlpNormWeight,
                               dBeta: g + L.mlpNormBias, rows: n, dim: h)
            dSum = w.dResidual.pointer
        }
        let dFC2 = branchGradient(dSum, w, pass, site: DropoutSite.mlp(l))
        Linear.backward(dFC2, input: b.fcHidden, weight: p + L.fc2Weight, dInput: w.dHidden.pointer,
                        dWeight: g + L.fc2Weight, dBias: g + L.fc2Bias, rows: n, inFeatures: f, outFeatures: h)
        ReLU.backward(w.dHidden.pointer, output: b.fcHidden, count: n * f)
        // fc1's input: pre-LN final_layer_norm(residual1); post-LN the block input, self_attn_layer_norm(residual1).
        let (norm, gamma, beta) = preLN ? (b.mlpNorm, L.mlpNormWeight, L.mlpNormBias)
                                        : (b.attentionNorm, L.attentionNormWeight, L.attentionNormBias)
        LayerNorm.apply(b.residual1, gamma: p + gamma, beta: p + beta, mean: norm.mean, rstd: norm.rstd,
                        into: b.normOutput, rows: n, dim: h)
        if preLN {
            Linear.backward(w.dHidden.pointer, input: b.normOutput, weight: p + L.fc1Weight, dInput: w.dNorm.pointer,
                            dWeight: g + L.fc1Weight, dBias: g + L.fc1Bias, rows: n, inFeatures: h, outFeatures: f)
            LayerNorm.backward(w.dNorm.pointer, input: b.residual1, mean: norm.mean, rstd: norm.rstd, gamma: p + gamma,
                               dInput: dStream, accumulate: true, dGamma: g + gamma, dBeta: g + beta, rows: n, dim: h)
            return dStream
        }
        // The block input feeds both fc1 and the residual: its gradient is the sum.
        Linear.backward(w.dHidden.pointer, input: b.normOutput, weight: p + L.fc1Weight, dInput: dSum,
                        accumulateInput: true, dWeight: g + L.fc1Weight, dBias: g + L.fc1Bias, rows: n,
                        inFeatures: h, outFeatures: f)
        return dSum
    }

    // MARK: The layer

    /// Decoder layer `l` over `b.rows` tokens: `b.output` from `b.input`. `attend` and `addResidual` are
    /// where training and cached decoding differ (attention over the pass or the KV cache; dropout or not),
    /// besides where the buffers are.
    func layerForward(_ l: Int, _ b: LayerBuffers, attend: Attend, addResidual: AddResidual) {
        let mid = attentionBlockForward(l, b, attend: attend, addResidual: addResidual)
        mlpBlockForward(l, b, input: mid, addResidual: addResidual)
    }

    /// Training's layer l: attention over the pass's mask, dropout at both sites, activations kept.
    func layerForward(_ l: Int, _ w: Workspace, _ pass: Pass) {
        let shape = Attention.Shape(heads: config.numAttentionHeads, headDim: config.headDim)
        layerForward(l, w.layer(l), attend: { qkv, output in
            Attention.forward(qkv: qkv, output: output, logSumExp: w.logSumExp(l), mask: pass.mask, shape: shape,
                              scratch: w.activations.attentionScratch)
        }, addResidual: { x, residual, out, site in
            residualAdd(x, residual: residual, into: out, w, pass, site: site)
        })
    }

    /// Given dStream = d(layer output), adds the layer's parameter gradients and leaves d(layer input) in dStream.
    func layerBackward(_ l: Int, _ w: Workspace, _ pass: Pass) {
        let b = w.layer(l)
        let dMid = mlpBlockBackward(l, b, w, pass)
        attentionBlockBackward(l, b, dOutput: dMid, w, pass)
    }

    var queryScale: Float { Float(1 / Double(config.headDim).squareRoot()) }

    /// q = q * head_dim^-0.5 in place, after q_proj's bias (transformers' order); the same on d(q) in backward.
    func scaleQueries(_ qkv: UnsafeMutablePointer<Float>, rows n: Int, hidden h: Int) {
        let s = queryScale
        Parallel.forEach(n, minimumChunk: 64) { range in
            for r in range { VectorMath.scale(qkv + r * 3 * h, h, by: s) }
        }
    }
}
