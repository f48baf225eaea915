import Kernels

/// Dropout sites: one after out_proj and one after fc2 in every layer (transformers' OPTDecoderLayer;
/// `attention_dropout` on the probabilities is 0 in OPT's configs and rejected otherwise).
enum DropoutSite {
    static func attention(_ layer: Int) -> Int { 2 * layer }
    static func mlp(_ layer: Int) -> Int { 2 * layer + 1 }
}

/// Attention over the scaled q|k|v [N, 3C] into its output [N, C]: over the pass's mask in training, over
/// the KV cache in decoding.
typealias Attend<Element: GEMMElement> = (UnsafeMutablePointer<Element>, UnsafeMutablePointer<Element>) -> Void
/// (x, residual, out, site): out = residual + x, with x through the dropout mask of `site` when training.
typealias AddResidual<Element: GEMMElement> = (UnsafePointer<Element>, UnsafePointer<Float>, UnsafeMutablePointer<Float>, Int) -> Void

// One decoder layer, as transformers' OPTDecoderLayer: an attention block, then an MLP block, each
//
//   pre-LN  (do_layer_norm_before, opt-125m, opt-1.3b):  out = x + dropout(sublayer(LN(x)))
//   post-LN (opt-350m):                                  out = LN(x + dropout(sublayer(x)))
//
// with self_attn_layer_norm in the attention block and final_layer_norm in the MLP block. Every buffer is
// [N, C] unless noted (Workspace.swift); `b` is the layer's buffers, `w` the workspace's gradient scratch.
// `Element` is the model's precision: every linear and attention product reads its inputs as Element and,
// in bfloat16, returns bfloat16 as torch.autocast's do; LayerNorm and the residual sums run in float32.
extension OPTModel {
    // MARK: Dropout and the residual

    /// `out = residual + dropout(x)` at `site`, or a plain sum without dropout.
    func residualAdd<Element: GEMMElement>(_ x: UnsafePointer<Element>, residual: UnsafePointer<Float>,
                                           into out: UnsafeMutablePointer<Float>, _ w: Workspace, _ pass: Pass, site: Int) {
        if let dropout = pass.dropout {
            dropout.residualAdd(x, residual: residual, into: out, rows: w.rows, length: w.length, dim: w.hidden,
                                sequences: pass.batch.sequenceIDs, site: site, mask: w.dropoutMask(site: site))
        } else {
            Residual.add(x, residual: residual, into: out, count: w.tokens * w.hidden)
        }
    }

    /// The gradient of a dropout-residual sum with respect to its branch, as the branch's linear reads it:
    /// dOut itself without dropout (rounded for bfloat16). (With respect to the residual it is dOut, which
    /// the caller keeps.)
    private func branchGradient<Element: GEMMElement>(_ dOut: UnsafeMutablePointer<Float>, _ w: Workspace, _ pass: Pass,
                                                      site: Int) -> UnsafeMutablePointer<Element> {
        let dBranch = w.dBranch.elements(Element.self)
        guard let dropout = pass.dropout else { return Element.inputs(dOut, count: w.tokens * w.hidden, scratch: dBranch) }
        dropout.backward(dOut, into: dBranch, rows: w.rows, length: w.length, dim: w.hidden, mask: w.dropoutMask(site: site))
        return dBranch
    }

    // MARK: The attention block

    /// x (b.input) -> the MLP block's input: b.residual1 = x + dropout(out_proj(attention(q, k, v))), with
    /// q|k|v = qkv_proj(LN(x)) (pre-LN) or qkv_proj(x) (post-LN, which then returns LN(residual1) in
    /// b.normOutput). `attend` runs attention, `addResidual` the dropout-residual sum.
    func attentionBlockForward<Element: GEMMElement>(_ l: Int, _ b: LayerBuffers<Element>, attend: Attend<Element>,
                                                     addResidual: AddResidual<Element>) -> UnsafeMutablePointer<Float> {
        let L = layout.layers[l], p = parameters.pointer, wt = weights(Element.self)
        let n = b.rows, h = config.hiddenSize, x = b.input, norm = b.attentionNorm
        let preLN = config.doLayerNormBefore
        let input: UnsafeMutablePointer<Element>
        if preLN {
            LayerNorm.forward(x, gamma: p + L.attentionNormWeight, beta: p + L.attentionNormBias, into: b.linearInput,
                              mean: norm.mean, rstd: norm.rstd, rows: n, dim: h)
            input = b.linearInput
        } else {
            input = Element.inputs(x, count: n * h, scratch: b.linearInput)
        }
        Linear.forward(input, weight: wt + L.qkvWeight, bias: wt + L.qkvBias, into: b.qkv, rows: n, inFeatures: h,
                       outFeatures: 3 * h, engine: engine)
        scaleQueries(b.qkv, rows: n, hidden: h)
        attend(b.qkv, b.attention)
        Linear.forward(b.attention, weight: wt + L.outWeight, bias: wt + L.outBias, into: b.branch, rows: n,
                       inFeatures: h, outFeatures: h, engine: engine)
        addResidual(b.branch, x, b.residual1, DropoutSite.attention(l))
        if preLN { return b.residual1 }
        LayerNorm.forward(b.residual1, gamma: p + L.attentionNormWeight, beta: p + L.attentionNormBias,
                          into: b.normOutput, mean: norm.mean, rstd: norm.rstd, rows: n, dim: h)
        return b.normOutput
    }

    /// Given d(block output) (pre-LN: dStream = d(residual1); post-LN: `dOutput` = d(LN(residual1))), adds
    /// the block's parameter gradients and leaves d(x) in dStream.
    private func attentionBlockBackward<Element: GEMMElement>(_ l: Int, _ b: LayerBuffers<Element>,
                                                              dOutput: UnsafeMutablePointer<Float>, _ w: Workspace,
                                                              _ pass: Pass) {
        let L = layout.layers[l], p = parameters.pointer, wt = weights(Element.self), g = gradients.pointer
        let n = b.rows, h = config.hiddenSize, x = b.input, norm = b.attentionNorm, dStream = w.dStream.pointer
        let shape = Attention.Shape(heads: config.numAttentionHeads, headDim: config.headDim)
        let preLN = config.doLayerNormBefore
        if !preLN {
            LayerNorm.backward(dOutput, input: b.residual1, mean: norm.mean, rstd: norm.rstd, gamma: p + L.attentionNormWeight,
                               dInput: dStream, accumulate: false, dGamma: g + L.attentionNormWeight,
                               dBeta: g + L.attentionNormBias, rows: n, dim: h)
        }
        // dStream = d(residual1): d(x) through the residual, and the branch's gradient below.
        let dOut: UnsafeMutablePointer<Element> = branchGradient(dStream, w, pass, site: DropoutSite.attention(l))
        let dAttention = w.dAttention.elements(Element.self)
        Linear.backward(dOut, input: b.attention, weight: wt + L.outWeight, dInput: dAttention,
                        dWeight: g + L.outWeight, dBias: g + L.outBias, rows: n, inFeatures: h, outFeatures: h, engine: engine)
        Attention.backward(qkv: b.qkv, dOutput: dAttention, logSumExp: w.logSumExp(l), dQKV: w.dQKV.pointer,
                           mask: pass.mask, shape: shape, scratch: w.activations.attentionScratch, engine: engine)
        scaleQueries(w.dQKV.pointer, rows: n, hidden: h)
        let dQKV = Element.inputs(w.dQKV.pointer, count: n * 3 * h, scratch: w.dQKVInput.elements())
        if preLN {
            LayerNorm.apply(x, gamma: p + L.attentionNormWeight, beta: p + L.attentionNormBias, mean: norm.mean,
                            rstd: norm.rstd, into: b.linearInput, rows: n, dim: h)
            Linear.backward(dQKV, input: b.linearInput, weight: wt + L.qkvWeight, dInput: w.dNorm.pointer,
                            dWeight: g + L.qkvWeight, dBias: g + L.qkvBias, rows: n, inFeatures: h, outFeatures: 3 * h,
                            engine: engine)
            LayerNorm.backward(w.dNorm.pointer, input: x, mean: norm.mean, rstd: norm.rstd, gamma: p + L.attentionNormWeight,
                               dInput: dStream, accumulate: true, dGamma: g + L.attentionNormWeight,
                               dBeta: g + L.attentionNormBias, rows: n, dim: h)
        } else {
            let input = Element.inputs(x, count: n * h, scratch: b.linearInput)
            Linear.backward(dQKV, input: input, weight: wt + L.qkvWeight, dInput: dStream, accumulateInput: true,
                            dWeight: g + L.qkvWeight, dBias: g + L.qkvBias, rows: n, inFeatures: h, outFeatures: 3 * h,
                            engine: engine)
        }
    }

    // MARK: The MLP block

    /// `input` (the attention block's output: b.residual1, or LN(residual1) in b.normOutput) -> b.output:
    /// input + dropout(fc2(relu(fc1(LN(input))))) (pre-LN), or LN(b.residual2 = input +
    /// dropout(fc2(relu(fc1(input))))) (post-LN). b.fcHidden [N, F] keeps relu(fc1).
    func mlpBlockForward<Element: GEMMElement>(_ l: Int, _ b: LayerBuffers<Element>, input: UnsafeMutablePointer<Float>,
                                               addResidual: AddResidual<Element>) {
        let L = layout.layers[l], p = parameters.pointer, wt = weights(Element.self)
        let n = b.rows, h = config.hiddenSize, f = config.ffnDim, norm = b.mlpNorm
        let preLN = config.doLayerNormBefore
        let fc1Input: UnsafeMutablePointer<Element>
        if preLN {
            LayerNorm.forward(input, gamma: p + L.mlpNormWeight, beta: p + L.mlpNormBias, into: b.linearInput,
                              mean: norm.mean, rstd: norm.rstd, rows: n, dim: h)
            fc1Input = b.linearInput
        } else {
            fc1Input = Element.inputs(input, count: n * h, scratch: b.linearInput)
        }
        Linear.forward(fc1Input, weight: wt + L.fc1Weight, bias: wt + L.fc1Bias, into: b.fcHidden, rows: n,
                       inFeatures: h, outFeatures: f, engine: engine)
        ReLU.forward(b.fcHidden, count: n * f)
        Linear.forward(b.fcHidden, weight: wt + L.fc2Weight, bias: wt + L.fc2Bias, into: b.branch, rows: n,
                       inFeatures: f, outFeatures: h, engine: engine)
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
    /// not kept, is recomputed from b.residual1 into b.linearInput.
    private func mlpBlockBackward<Element: GEMMElement>(_ l: Int, _ b: LayerBuffers<Element>, _ w: Workspace,
                                                        _ pass: Pass) -> UnsafeMutablePointer<Float> {
        let L = layout.layers[l], p = parameters.pointer, wt = weights(Element.self), g = gradients.pointer
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
        let dFC2: UnsafeMutablePointer<Element> = branchGradient(dSum, w, pass, site: DropoutSite.mlp(l))
        let dHidden = w.dHidden.elements(Element.self)
        Linear.backward(dFC2, input: b.fcHidden, weight: wt + L.fc2Weight, dInput: dHidden,
                        dWeight: g + L.fc2Weight, dBias: g + L.fc2Bias, rows: n, inFeatures: f, outFeatures: h, engine: engine)
        ReLU.backward(dHidden, output: b.fcHidden, count: n * f)
        // fc1's input: pre-LN final_layer_norm(residual1); post-LN the block input, self_attn_layer_norm(residual1).
        let (norm, gamma, beta) = preLN ? (b.mlpNorm, L.mlpNormWeight, L.mlpNormBias)
                                        : (b.attentionNorm, L.attentionNormWeight, L.attentionNormBias)
        LayerNorm.apply(b.residual1, gamma: p + gamma, beta: p + beta, mean: norm.mean, rstd: norm.rstd,
                        into: b.linearInput, rows: n, dim: h)
        if preLN {
            Linear.backward(dHidden, input: b.linearInput, weight: wt + L.fc1Weight, dInput: w.dNorm.pointer,
                            dWeight: g + L.fc1Weight, dBias: g + L.fc1Bias, rows: n, inFeatures: h, outFeatures: f,
                            engine: engine)
            LayerNorm.backward(w.dNorm.pointer, input: b.residual1, mean: norm.mean, rstd: norm.rstd, gamma: p + gamma,
                               dInput: dStream, accumulate: true, dGamma: g + gamma, dBeta: g + beta, rows: n, dim: h)
            return dStream
        }
        // The block input feeds both fc1 and the residual: its gradient is the sum.
        Linear.backward(dHidden, input: b.linearInput, weight: wt + L.fc1Weight, dInput: dSum,
                        accumulateInput: true, dWeight: g + L.fc1Weight, dBias: g + L.fc1Bias, rows: n,
                        inFeatures: h, outFeatures: f, engine: engine)
        return dSum
    }

    // MARK: The layer

    /// Decoder layer `l` over `b.rows` tokens: `b.output` from `b.input`. `attend` and `addResidual` are
    /// where training and cached decoding differ (attention over the pass or the KV cache; dropout or not),
    /// besides where the buffers are.
    func layerForward<Element: GEMMElement>(_ l: Int, _ b: LayerBuffers<Element>, attend: Attend<Element>,
                                            addResidual: AddResidual<Element>) {
        let mid = attentionBlockForward(l, b, attend: attend, addResidual: addResidual)
        mlpBlockForward(l, b, input: mid, addResidual: addResidual)
    }

    /// Training's layer l: attention over the pass's mask, dropout at both sites, activations kept.
    func layerForward<Element: GEMMElement>(_ l: Int, _ w: Workspace, _ pass: Pass, _ type: Element.Type) {
        let shape = Attention.Shape(heads: config.numAttentionHeads, headDim: config.headDim)
        layerForward(l, w.layer(l, type), attend: { qkv, output in
            Attention.forward(qkv: qkv, output: output, logSumExp: w.logSumExp(l), mask: pass.mask, shape: shape,
                              scratch: w.activations.attentionScratch, engine: engine)
        }, addResidual: { x, residual, out, site in
            residualAdd(x, residual: residual, into: out, w, pass, site: site)
        })
    }

    /// Given dStream = d(layer output), adds the layer's parameter gradients and leaves d(layer input) in dStream.
    func layerBackward<Element: GEMMElement>(_ l: Int, _ w: Workspace, _ pass: Pass, _ type: Element.Type) {
        let b = w.layer(l, type)
        let dMid = mlpBlockBackward(l, b, w, pass)
        attentionBlockBackward(l, b, dOutput: dMid, w, pass)
    }

    var queryScale: Float { Float(1 / Double(config.headDim).squareRoot()) }

    /// q = q * head_dim^-0.5 in place, after q_proj's bias (transformers' order; a bfloat16 q is rounded
    /// again, as torch multiplies a bfloat16 tensor); the same on d(q) in backward.
    func scaleQueries<Element: GEMMElement>(_ qkv: UnsafeMutablePointer<Element>, rows n: Int, hidden h: Int) {
        let s = queryScale
        Parallel.forEach(n, minimumChunk: 64) { range in
            for r in range {
                let q = qkv + r * 3 * h
                var i = 0
                while i + 16 <= h { Element.store(Element.load(q + i) * s, q + i); i += 16 }
                while i < h { q[i] = Element(q[i].floatValue * s); i += 1 }
            }
        }
    }
}
