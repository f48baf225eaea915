import Kernels

// Shapes below, as llm.c's ActivationTensors writes them: B rows of T tokens, N = B * T tokens of the pass,
// C hidden_size, F ffn_dim, E word_embed_proj_dim, L layers, NH heads, M target tokens (M <= N).

/// A LayerNorm's per-row statistics, kept from forward for backward: mean and 1 / sqrt(variance + eps).
struct NormStatistics {
    /// [rows]
    let mean: UnsafeMutablePointer<Float>
    /// [rows]
    let rstd: UnsafeMutablePointer<Float>
}

/// What decoder layers' forward writes, planned for up to N tokens: `streams` layer inputs/outputs, `kept`
/// layers' worth of the buffers backward reads (training keeps every layer's, decoding one, overwritten by
/// each layer), and the scratch one layer uses at a time. The training `Workspace` and the decoding
/// `DecodeScratch` both plan through here.
struct LayerActivations {
    /// (streams, N, C) layer inputs and outputs: training's stream l is layer l's input (stream L the decoder
    /// output, before the final LayerNorm); decoding alternates two.
    let streams: FloatBuffer
    /// (kept, N, 3C) q * head_dim^-0.5 | k | v, after the biases.
    let qkv: FloatBuffer
    /// (kept, N, C) the attention output, before out_proj.
    let attention: FloatBuffer
    /// (kept, N, C) layer input + attention branch: the input of the MLP block (pre-LN) or of
    /// self_attn_layer_norm (post-LN).
    let residual1: FloatBuffer
    /// (kept, N, C) post-LN only: self_attn_layer_norm(residual1) + MLP branch, the input of final_layer_norm.
    let residual2: FloatBuffer?
    /// (kept, N, F) relu(fc1).
    let fcHidden: FloatBuffer
    /// (kept, 4, N) per layer: self_attn_layer_norm's mean and rstd, then final_layer_norm's (`LayerBuffers`).
    let normStatistics: FloatBuffer
    /// (N, E) token embeddings before project_in (models with projections).
    let tokenEmbeddings: FloatBuffer?
    /// (N, C) scratch: a LayerNorm's output (recomputed in backward, not kept).
    let normOutput: FloatBuffer
    /// (N, C) scratch: a sublayer's output before dropout and the residual sum.
    let branch: FloatBuffer
    /// Attention's per-worker tiles for rows of up to T keys.
    let attentionScratch: Attention.Scratch

    init(config: OPTConfig, tokens n: Int, length: Int, kept: Int, streams count: Int) {
        let h = config.hiddenSize
        streams = FloatBuffer(count: count * n * h)
        qkv = FloatBuffer(count: kept * n * 3 * h)
        attention = FloatBuffer(count: kept * n * h)
        residual1 = FloatBuffer(count: kept * n * h)
        residual2 = config.doLayerNormBefore ? nil : FloatBuffer(count: kept * n * h)
        fcHidden = FloatBuffer(count: kept * n * config.ffnDim)
        normStatistics = FloatBuffer(count: kept * 4 * n)
        tokenEmbeddings = config.hasProjections ? FloatBuffer(count: n * config.wordEmbedProjDim) : nil
        normOutput = FloatBuffer(count: n * h)
        branch = FloatBuffer(count: n * h)
        attentionScratch = Attention.Scratch(length: length, workers: Parallel.threadCount)
    }

    /// One layer's buffers for `rows` tokens: it reads stream `input` and writes stream `output`, keeps its
    /// activations in slot `kept`; `stride` tokens apart are the streams and slots.
    func layer(rows: Int, input: Int, output: Int, kept k: Int, stride: Int, hidden h: Int, ffn f: Int) -> LayerBuffers {
        LayerBuffers(rows: rows, input: streams.pointer + input * stride * h, output: streams.pointer + output * stride * h,
                     normOutput: normOutput.pointer, statistics: normStatistics.pointer + k * 4 * stride,
                     qkv: qkv.pointer + k * stride * 3 * h, attention: attention.pointer + k * stride * h,
                     branch: branch.pointer, residual1: residual1.pointer + k * stride * h,
                     residual2: residual2.map { $0.pointer + k * stride * h }, fcHidden: fcHidden.pointer + k * stride * f)
    }
}

/// The activation memory of training passes of up to `capacityTokens` tokens in rows of up to
/// `capacityLength`, planned once and reused by every pass that fits (a smaller pass uses the front of each
/// buffer, at offsets that follow the pass's N).
///
/// Kept from forward for backward: every layer's `LayerActivations`, the attention log-sum-exps and the
/// head's values below. LayerNorm outputs, dropout masks and attention scores are recomputed in backward.
final class Workspace {
    /// The current pass's shape: B, T and N.
    private(set) var rows: Int, length: Int, tokens: Int
    let capacityTokens: Int, capacityLength: Int
    let hidden: Int, ffn: Int, embed: Int, layers: Int, heads: Int

    /// L kept layers, L + 1 streams.
    let activations: LayerActivations
    /// (L, B, NH, T) the log-sum-exp of each query's attention scores (instead of the probabilities).
    let logSumExp: FloatBuffer

    // The head, at the M target rows.
    /// (M, C) the decoder output at the targets.
    let headInput: FloatBuffer
    /// (2, N): the final LayerNorm's mean [M], and its rstd [M] from offset N (`headNorm`).
    let headNormStatistics: FloatBuffer
    /// (M, C) after the final LayerNorm (models with one).
    let headNormOutput: FloatBuffer
    /// (M, E) after project_out (models with one).
    let headOutput: FloatBuffer
    /// (M) each target's cross-entropy, and the log-sum-exp of its logits.
    let losses: FloatBuffer
    let lossLogSumExp: FloatBuffer
    let crossEntropyScratch: FloatBuffer

    // Gradients (scratch), in backward's order.
    /// (M, E) d(lm_head input).
    let dHeadOutput: FloatBuffer
    /// (M, C) d(project_out input).
    let dHeadNorm: FloatBuffer
    /// (M, C) d(final LayerNorm input).
    let dHeadInput: FloatBuffer
    /// (N, C) d(stream): d(layer output) going into a layer's backward, d(layer input) coming out.
    let dStream: FloatBuffer
    /// (N, C) post-LN: d(residual2), then d(MLP block input).
    let dResidual: FloatBuffer
    /// (N, C) d(a LayerNorm's output) or d(attention output): never needed at the same time.
    let dNorm: FloatBuffer
    /// (N, C) d(branch) through a dropout mask.
    let dBranch: FloatBuffer
    /// (N, 3C) d(qkv).
    let dQKV: FloatBuffer
    /// (N, F) d(fc1 output).
    let dHidden: FloatBuffer
    /// (N, E) d(token embeddings), before project_in.
    let dTokenEmbeddings: FloatBuffer?

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
        let h = hidden
        activations = LayerActivations(config: config, tokens: n, length: length, kept: layers, streams: layers + 1)
        logSumExp = FloatBuffer(count: layers * n * heads)
        headInput = FloatBuffer(count: n * h)
        headNormStatistics = FloatBuffer(count: 2 * n)
        headNormOutput = FloatBuffer(count: config.hasFinalLayerNorm ? n * h : 0)
        headOutput = FloatBuffer(count: config.hasProjections ? n * embed : 0)
        losses = FloatBuffer(count: n)
        lossLogSumExp = FloatBuffer(count: n)
        crossEntropyScratch = FloatBuffer(count: CrossEntropy.scratchCount(rows: n, vocab: config.vocabSize))
        dHeadOutput = FloatBuffer(count: n * embed)
        dHeadNorm = FloatBuffer(count: n * h)
        dHeadInput = FloatBuffer(count: n * h)
        dStream = FloatBuffer(count: n * h)
        dResidual = FloatBuffer(count: config.doLayerNormBefore ? 0 : n * h)
        dNorm = FloatBuffer(count: n * h)
        dBranch = FloatBuffer(count: n * h)
        dQKV = FloatBuffer(count: n * 3 * h)
        dHidden = FloatBuffer(count: n * ffn)
        dTokenEmbeddings = config.hasProjections ? FloatBuffer(count: n * embed) : nil
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

    /// Layer l's buffers (its activations kept for backward): it reads stream l and writes stream l + 1.
    func layer(_ l: Int) -> LayerBuffers {
        activations.layer(rows: tokens, input: l, output: l + 1, kept: l, stride: tokens, hidden: hidden, ffn: ffn)
    }

    /// Stream l: layer l's input (l = L: the decoder output), [N, C].
    func stream(_ l: Int) -> UnsafeMutablePointer<Float> { activations.streams.pointer + l * tokens * hidden }
    /// Layer l's log-sum-exps, [B, NH, T].
    func logSumExp(_ l: Int) -> UnsafeMutablePointer<Float> { logSumExp.pointer + l * rows * heads * length }
    /// The final LayerNorm's statistics at the M target rows.
    var headNorm: NormStatistics { NormStatistics(mean: headNormStatistics.pointer, rstd: headNormStatistics.pointer + tokens) }
}

/// Where one decoder layer's forward over `rows` tokens reads and writes; [rows, hidden] unless noted.
struct LayerBuffers {
    let rows: Int
    let input: UnsafeMutablePointer<Float>
    let output: UnsafeMutablePointer<Float>
    /// LayerNorm output (scratch).
    let normOutput: UnsafeMutablePointer<Float>
    /// 4 x [rows]: `attentionNorm`'s mean and rstd, then `mlpNorm`'s.
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

    /// self_attn_layer_norm's statistics (before attention in pre-LN models, after its residual in post-LN).
    var attentionNorm: NormStatistics { NormStatistics(mean: statistics, rstd: statistics + rows) }
    /// final_layer_norm's statistics (before fc1 in pre-LN models, after the MLP residual in post-LN).
    var mlpNorm: NormStatistics { NormStatistics(mean: statistics + 2 * rows, rstd: statistics + 3 * rows) }
}
