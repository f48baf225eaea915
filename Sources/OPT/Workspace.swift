import Kernels

/// The activation memory of up to `capacityTokens` tokens in rows of up to `capacityLength`, planned once
/// and reused by every pass that fits (a smaller pass uses the front of each buffer).
///
/// Kept from forward for backward, per layer: the layer input (`stream`), q|k|v, the attention output,
/// one log-sum-exp per (row, head, query) instead of the attention probabilities, the residual sums that
/// feed LayerNorms, relu(fc1), and the LayerNorm statistics. LayerNorm outputs, dropout masks and attention
/// scores are recomputed in backward. Everything else is scratch shared by all layers.
final class Workspace {
    /// The current pass's shape.
    private(set) var rows: Int, length: Int, tokens: Int
    let capacityTokens: Int, capacityLength: Int
    let hidden: Int, ffn: Int, embed: Int, layers: Int, heads: Int

    /// Layer l's input is stream l; stream `layers` is the decoder output (before the final LayerNorm).
    let streams: FloatBuffer
    let qkv: FloatBuffer
    let attention: FloatBuffer
    let logSumExp: FloatBuffer
    /// Layer input + attention branch: the input of self_attn_layer_norm (post-LN) or final_layer_norm (pre-LN).
    let residual1: FloatBuffer
    /// Post-LN only: normalized residual1 + MLP branch, the input of the layer's final_layer_norm.
    let residual2: FloatBuffer?
    let fcHidden: FloatBuffer
    /// Per layer: mean and rstd of the attention LayerNorm, then of the MLP LayerNorm, [tokens] each.
    let normStatistics: FloatBuffer
    /// Token embeddings before project_in (models with projections).
    let tokenEmbeddings: FloatBuffer?

    // Scratch.
    let normOutput: FloatBuffer
    let branch: FloatBuffer
    let dStream: FloatBuffer
    let dResidual: FloatBuffer
    /// dLayerNorm-input and d(attention output): never needed at the same time.
    let dNorm: FloatBuffer
    let dBranch: FloatBuffer
    let dQKV: FloatBuffer
    let dHidden: FloatBuffer
    let dTokenEmbeddings: FloatBuffer?

    // The head, at up to `tokens` selected rows (the targets).
    let headInput: FloatBuffer
    let headNormStatistics: FloatBuffer
    let headNormOutput: FloatBuffer
    let headOutput: FloatBuffer
    let losses: FloatBuffer
    let lossLogSumExp: FloatBuffer
    let dHeadOutput: FloatBuffer
    let dHeadNorm: FloatBuffer
    let dHeadInput: FloatBuffer
    let crossEntropyScratch: FloatBuffer
    let attentionScratch: Attention.Scratch

    /// Room for `tokens` tokens in rows of up to `length`; set up for one row of `length` until `use`.
    init(config: OPTConfig, tokens n: Int, length: Int) {
        rows = 1
        self.length = length
        tokens = length
        capacityTokens = n
        capacityLength = length
        hidden = config.hiddenSize
        ffn = config.ffnDim
        embed = config.wordEmbedProjDim
        layers = config.numHiddenLayers
        heads = config.numAttentionHeads
        let h = hidden, l = layers
        streams = FloatBuffer(count: (l + 1) * n * h)
        qkv = FloatBuffer(count: l * n * 3 * h)
        attention = FloatBuffer(count: l * n * h)
        logSumExp = FloatBuffer(count: l * n * heads)
        residual1 = FloatBuffer(count: l * n * h)
        residual2 = config.doLayerNormBefore ? nil : FloatBuffer(count: l * n * h)
        fcHidden = FloatBuffer(count: l * n * ffn)
        normStatistics = FloatBuffer(count: l * 4 * n)
        tokenEmbeddings = config.hasProjections ? FloatBuffer(count: n * embed) : nil
        normOutput = FloatBuffer(count: n * h)
        branch = FloatBuffer(count: n * h)
        dStream = FloatBuffer(count: n * h)
        dResidual = FloatBuffer(count: config.doLayerNormBefore ? 0 : n * h)
        dNorm = FloatBuffer(count: n * h)
        dBranch = FloatBuffer(count: n * h)
        dQKV = FloatBuffer(count: n * 3 * h)
        dHidden = FloatBuffer(count: n * ffn)
        dTokenEmbeddings = config.hasProjections ? FloatBuffer(count: n * embed) : nil
        headInput = FloatBuffer(count: n * h)
        headNormStatistics = FloatBuffer(count: 2 * n)
        headNormOutput = FloatBuffer(count: config.hasFinalLayerNorm ? n * h : 0)
        headOutput = FloatBuffer(count: config.hasProjections ? n * embed : 0)
        losses = FloatBuffer(count: n)
        lossLogSumExp = FloatBuffer(count: n)
        dHeadOutput = FloatBuffer(count: n * embed)
        dHeadNorm = FloatBuffer(count: n * h)
        dHeadInput = FloatBuffer(count: n * h)
        crossEntropyScratch = FloatBuffer(count: CrossEntropy.scratchCount(rows: n, vocab: config.vocabSize))
        attentionScratch = Attention.Scratch(length: length, workers: Parallel.threadCount)
    }

    /// Whether a pass of `rows` rows of `length` tokens fits.
    func fits(rows: Int, length: Int) -> Bool { rows * length <= capacityTokens && length <= capacityLength }

    /// Sets up a pass of `rows` rows of `length` tokens (it must fit): every offset below follows the pass.
    func use(rows: Int, length: Int) {
        precondition(fits(rows: rows, length: length), "a workspace for \(capacityTokens) tokens in rows of up to \(capacityLength) cannot hold \(rows) x \(length)")
        self.rows = rows
        self.length = length
        tokens = rows * length
    }

    func stream(_ l: Int) -> UnsafeMutablePointer<Float> { streams.pointer + l * tokens * hidden }
    func qkv(_ l: Int) -> UnsafeMutablePointer<Float> { qkv.pointer + l * tokens * 3 * hidden }
    func attention(_ l: Int) -> UnsafeMutablePointer<Float> { attention.pointer + l * tokens * hidden }
    func logSumExp(_ l: Int) -> UnsafeMutablePointer<Float> { logSumExp.pointer + l * rows * heads * length }
    func residual1(_ l: Int) -> UnsafeMutablePointer<Float> { residual1.pointer + l * tokens * hidden }
    func residual2(_ l: Int) -> UnsafeMutablePointer<Float> { residual2!.pointer + l * tokens * hidden }
    func fcHidden(_ l: Int) -> UnsafeMutablePointer<Float> { fcHidden.pointer + l * tokens * ffn }
    /// which: 0 attention-LN mean, 1 its rstd, 2 MLP-LN mean, 3 its rstd.
    func normStatistics(_ l: Int, _ which: Int) -> UnsafeMutablePointer<Float> {
        normStatistics.pointer + (l * 4 + which) * tokens
    }
}

extension Workspace {
    /// Layer l's buffers inside this workspace (kept for backward).
    func layerBuffers(_ l: Int) -> LayerBuffers {
        LayerBuffers(rows: tokens, input: stream(l), output: stream(l + 1), normOutput: normOutput.pointer,
                     statistics: normStatistics.pointer + l * 4 * tokens, qkv: qkv(l), attention: attention(l),
                     branch: branch.pointer, residual1: residual1(l), residual2: residual2 == nil ? nil : residual2(l),
                     fcHidden: fcHidden(l))
    }
}

/// Where one decoder layer's forward over `rows` tokens reads and writes; [rows, hidden] unless noted.
struct LayerBuffers {
    let rows: Int
    let input: UnsafeMutablePointer<Float>
    let output: UnsafeMutablePointer<Float>
    /// LayerNorm output (scratch).
    let normOutput: UnsafeMutablePointer<Float>
    /// 4 x [rows]: mean and rstd of the attention LayerNorm, then of the MLP LayerNorm.
    let statistics: UnsafeMutablePointer<Float>
    /// [rows, 3 * hidden].
    let qkv: UnsafeMutablePointer<Float>
    let attention: UnsafeMutablePointer<Float>
    /// A sublayer's output before the residual sum (scratch).
    let branch: UnsafeMutablePointer<Float>
    let residual1: UnsafeMutablePointer<Float>
    /// Post-LN models only.
    let residual2: UnsafeMutablePointer<Float>?
    /// [rows, ffn].
    let fcHidden: UnsafeMutablePointer<Float>

    /// which: 0 attention-LN mean, 1 its rstd, 2 MLP-LN mean, 3 its rstd.
    func normStatistics(_ which: Int) -> UnsafeMutablePointer<Float> { statistics + which * rows }
}
