import Kernels

// Shapes below, as llm.c's ActivationTensors writes them: B rows of T tokens, N = B * T tokens of the pass,
// C hidden_size, F ffn_dim, E word_embed_proj_dim, L layers, NH heads, M target tokens (M <= N).
//
// Buffers marked "GEMM input" hold values of the model's precision (`GEMMElement`): float32, or bfloat16 in
// mixed precision, where they are what torch.autocast keeps as bfloat16 (linear and attention outputs,
// the relu output, LayerNorm outputs as the next linear reads them). The residual stream, LayerNorm inputs
// and statistics, and every gradient buffer that is summed into are float32.

/// A LayerNorm's per-row statistics, kept from forward for backward: mean and 1 / sqrt(variance + eps).
struct NormStatistics {
    /// [rows]
    let mean: UnsafeMutablePointer<Float>
    /// [rows]
    let rstd: UnsafeMutablePointer<Float>
}

/// The bytes of a plan of activation buffers, counted before each is allocated: a plan larger than the
/// machine's memory (a batch of more tokens than it can hold) is an error naming the pass, not a trap.
struct ActivationMemory {
    let pass: String
    private(set) var bytes = 0

    /// A buffer of `count` values of `element`, once the plan with it still fits in memory.
    mutating func buffer(_ count: Int, of element: any GEMMElement.Type = Float.self) throws -> FloatBuffer {
        try reserve(count, bytesEach: Self.stride(element))
        return FloatBuffer(count: count, of: element)
    }

    mutating func reserve(_ count: Int, bytesEach: Int) throws {
        let (size, overflow) = count.multipliedReportingOverflow(by: bytesEach)
        let (total, overflowTotal) = bytes.addingReportingOverflow(size)
        guard count >= 0, !overflow, !overflowTotal, total <= FloatBuffer.memoryLimit else {
            throw OPTModelError(message: "\(pass) needs more activation memory than this machine's "
                                + String(format: "%.1f GB", Double(FloatBuffer.memoryLimit) / 1e9))
        }
        bytes = total
    }

    private static func stride<Element: GEMMElement>(_: Element.Type) -> Int { MemoryLayout<Element>.stride }
}

/// What decoder layers' forward writes, planned for up to N tokens: `streams` layer inputs/outputs, `kept`
/// layers' worth of the buffers backward reads (training keeps every layer's, decoding one, overwritten by
/// each layer), and the scratch one layer uses at a time. The training `Workspace` and the decoding
/// `DecodeScratch` both plan through here.
struct LayerActivations {
    let precision: Precision
    /// (streams, N, C) layer inputs and outputs: training's stream l is layer l's input (stream L the decoder
    /// output, before the final LayerNorm); decoding alternates two.
    let streams: FloatBuffer
    /// (kept, N, 3C) GEMM input: q * head_dim^-0.5 | k | v, after the biases.
    let qkv: FloatBuffer
    /// (kept, N, C) GEMM input: the attention output, before out_proj.
    let attention: FloatBuffer
    /// (kept, N, C) layer input + attention branch: the input of the MLP block (pre-LN) or of
    /// self_attn_layer_norm (post-LN).
    let residual1: FloatBuffer
    /// (kept, N, C) post-LN only: self_attn_layer_norm(residual1) + MLP branch, the input of final_layer_norm.
    let residual2: FloatBuffer?
    /// (kept, N, F) GEMM input: relu(fc1).
    let fcHidden: FloatBuffer
    /// (kept, 4, N) per layer: self_attn_layer_norm's mean and rstd, then final_layer_norm's (`LayerBuffers`).
    let normStatistics: FloatBuffer
    /// (N, E) GEMM input: token embeddings before project_in (models with projections).
    let tokenEmbeddings: FloatBuffer?
    /// (N, C) scratch: a post-LN LayerNorm's output, which the residual sum reads in float32.
    let normOutput: FloatBuffer
    /// (N, C) scratch, GEMM input: a linear's input (a LayerNorm's output, or the stream, as the engine reads it).
    let linearInput: FloatBuffer
    /// (N, C) scratch, GEMM input: a sublayer's output before dropout and the residual sum.
    let branch: FloatBuffer
    /// Attention's per-worker tiles for rows of up to T keys.
    let attentionScratch: Attention.Scratch

    init(config: OPTConfig, precision: Precision, tokens n: Int, length: Int, kept: Int, streams count: Int,
         memory: inout ActivationMemory) throws {
        let h = config.hiddenSize
        let element: any GEMMElement.Type = precision == .bf16 ? BFloat16.self : Float.self
        self.precision = precision
        streams = try memory.buffer(count * n * h)
        qkv = try memory.buffer(kept * n * 3 * h, of: element)
        attention = try memory.buffer(kept * n * h, of: element)
        residual1 = try memory.buffer(kept * n * h)
        residual2 = config.doLayerNormBefore ? nil : try memory.buffer(kept * n * h)
        fcHidden = try memory.buffer(kept * n * config.ffnDim, of: element)
        normStatistics = try memory.buffer(kept * 4 * n)
        tokenEmbeddings = config.hasProjections ? try memory.buffer(n * config.wordEmbedProjDim, of: element) : nil
        normOutput = try memory.buffer(config.doLayerNormBefore ? 0 : n * h)
        linearInput = try memory.buffer(n * h, of: element)
        branch = try memory.buffer(n * h, of: element)
        attentionScratch = Attention.Scratch(length: length, workers: Parallel.threadCount, precision: precision)
    }

    /// One layer's buffers for `rows` tokens: it reads stream `input` and writes stream `output`, keeps its
    /// activations in slot `kept`; `stride` tokens apart are the streams and slots.
    func layer<Element: GEMMElement>(_: Element.Type, rows: Int, input: Int, output: Int, kept k: Int, stride: Int,
                                     hidden h: Int, ffn f: Int) -> LayerBuffers<Element> {
        precondition(Element.precision == precision, "activations planned for \(precision.rawValue)")
        return LayerBuffers(rows: rows, input: streams.pointer + input * stride * h, output: streams.pointer + output * stride * h,
                            normOutput: normOutput.pointer, linearInput: linearInput.elements(),
                            statistics: normStatistics.pointer + k * 4 * stride,
                            qkv: qkv.elements() + k * stride * 3 * h, attention: attention.elements() + k * stride * h,
                            branch: branch.elements(), residual1: residual1.pointer + k * stride * h,
                            residual2: residual2.map { $0.pointer + k * stride * h },
                            fcHidden: fcHidden.elements() + k * stride * f)
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
    /// (2L, N, ceil(C / 64)) the dropout masks of both sites of every layer, one bit per element: written
    /// by forward, read by backward.
    let dropoutMasks: UnsafeMutableBufferPointer<UInt64>
    /// (L, B, NH, T) the log-sum-exp of each query's attention scores (instead of the probabilities).
    let logSumExp: FloatBuffer

    // The head, at the M target rows.
    /// (M, C) the decoder output at the targets.
    let headInput: FloatBuffer
    /// (2, N): the final LayerNorm's mean [M], and its rstd [M] from offset N (`headNorm`).
    let headNormStatistics: FloatBuffer
    /// (M, C) GEMM input: what project_out (or the lm_head) reads: the final LayerNorm's output, or
    /// headInput as the engine reads it.
    let headNormOutput: FloatBuffer
    /// (M, E) GEMM input: after project_out (models with one).
    let headOutput: FloatBuffer
    /// (M) each target's cross-entropy, and the log-sum-exp of its logits.
    let losses: FloatBuffer
    let lossLogSumExp: FloatBuffer
    let crossEntropyScratch: FloatBuffer
    /// (M, chunk) GEMM input: the cross-entropy's gradient chunk rounded to bfloat16 (bf16 only).
    let crossEntropyRounded: FloatBuffer

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
    /// (N, C) d(a LayerNorm's output).
    let dNorm: FloatBuffer
    /// (N, C) GEMM input: d(attention output).
    let dAttention: FloatBuffer
    /// (N, C) GEMM input: d(branch) through a dropout mask (or as the engine reads it).
    let dBranch: FloatBuffer
    /// (N, 3C) d(qkv), and as the engine reads it (GEMM input).
    let dQKV: FloatBuffer
    let dQKVInput: FloatBuffer
    /// (N, F) GEMM input: d(fc1 output).
    let dHidden: FloatBuffer
    /// (N, E) d(token embeddings), before project_in.
    let dTokenEmbeddings: FloatBuffer?

    /// Room for `tokens` tokens in rows of up to `length`; set up for one row of `length` until `use`.
    init(config: OPTConfig, precision: Precision, tokens n: Int, length: Int) throws {
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
        let element: any GEMMElement.Type = precision == .bf16 ? BFloat16.self : Float.self
        var memory = ActivationMemory(pass: "a training pass of \(n) tokens (rows of up to \(length))")
        activations = try LayerActivations(config: config, precision: precision, tokens: n, length: length, kept: layers,
                                           streams: layers + 1, memory: &memory)
        logSumExp = try memory.buffer(layers * n * heads)
        headInput = try memory.buffer(n * h)
        headNormStatistics = try memory.buffer(2 * n)
        headNormOutput = try memory.buffer(n * h, of: element)
        headOutput = try memory.buffer(config.hasProjections ? n * embed : 0, of: element)
        losses = try memory.buffer(n)
        lossLogSumExp = try memory.buffer(n)
        let chunks = CrossEntropy.scratchCount(rows: n, vocab: config.vocabSize)
        crossEntropyScratch = try memory.buffer(chunks)
        crossEntropyRounded = try memory.buffer(precision == .bf16 ? chunks : 0, of: BFloat16.self)
        dHeadOutput = try memory.buffer(n * embed)
        dHeadNorm = try memory.buffer(n * h)
        dHeadInput = try memory.buffer(n * h)
        dStream = try memory.buffer(n * h)
        dResidual = try memory.buffer(config.doLayerNormBefore ? 0 : n * h)
        dNorm = try memory.buffer(n * h)
        dAttention = try memory.buffer(n * h, of: element)
        dBranch = try memory.buffer(n * h, of: element)
        dQKV = try memory.buffer(n * 3 * h)
        dQKVInput = try memory.buffer(n * 3 * h, of: element)
        dHidden = try memory.buffer(n * ffn, of: element)
        dTokenEmbeddings = config.hasProjections ? try memory.buffer(n * embed) : nil
        // Last: nothing after it throws, so it is always freed by deinit.
        let maskWords = 2 * layers * n * Dropout.words(dim: h)
        try memory.reserve(maskWords, bytesEach: MemoryLayout<UInt64>.stride)
        dropoutMasks = .allocate(capacity: maskWords)
    }

    deinit { dropoutMasks.deallocate() }

    var precision: Precision { activations.precision }

    /// The dropout mask of `site` for this pass's tokens, [N, ceil(C / 64)].
    func dropoutMask(site: Int) -> UnsafeMutablePointer<UInt64> {
        dropoutMasks.baseAddress! + site * tokens * Dropout.words(dim: hidden)
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
    func layer<Element: GEMMElement>(_ l: Int, _ type: Element.Type) -> LayerBuffers<Element> {
        activations.layer(type, rows: tokens, input: l, output: l + 1, kept: l, stride: tokens, hidden: hidden, ffn: ffn)
    }

    /// Stream l: layer l's input (l = L: the decoder output), [N, C].
    func stream(_ l: Int) -> UnsafeMutablePointer<Float> { activations.streams.pointer + l * tokens * hidden }
    /// Layer l's log-sum-exps, [B, NH, T].
    func logSumExp(_ l: Int) -> UnsafeMutablePointer<Float> { logSumExp.pointer + l * rows * heads * length }
    /// The final LayerNorm's statistics at the M target rows.
    var headNorm: NormStatistics { NormStatistics(mean: headNormStatistics.pointer, rstd: headNormStatistics.pointer + tokens) }
}

/// Where one decoder layer's forward over `rows` tokens reads and writes; [rows, hidden] unless noted.
/// `Element` is the model's precision: the type of the GEMM inputs.
struct LayerBuffers<Element: GEMMElement> {
    let rows: Int
    let input: UnsafeMutablePointer<Float>
    let output: UnsafeMutablePointer<Float>
    /// Post-LN LayerNorm output (scratch).
    let normOutput: UnsafeMutablePointer<Float>
    /// A linear's input (scratch).
    let linearInput: UnsafeMutablePointer<Element>
    /// 4 x [rows]: `attentionNorm`'s mean and rstd, then `mlpNorm`'s.
    let statistics: UnsafeMutablePointer<Float>
    /// [rows, 3 * hidden].
    let qkv: UnsafeMutablePointer<Element>
    let attention: UnsafeMutablePointer<Element>
    /// A sublayer's output before the residual sum (scratch).
    let branch: UnsafeMutablePointer<Element>
    let residual1: UnsafeMutablePointer<Float>
    /// Post-LN models only.
    let residual2: UnsafeMutablePointer<Float>?
    /// [rows, ffn].
    let fcHidden: UnsafeMutablePointer<Element>

    /// self_attn_layer_norm's statistics (before attention in pre-LN models, after its residual in post-LN).
    var attentionNorm: NormStatistics { NormStatistics(mean: statistics, rstd: statistics + rows) }
    /// final_layer_norm's statistics (before fc1 in pre-LN models, after the MLP residual in post-LN).
    var mlpNorm: NormStatistics { NormStatistics(mean: statistics + 2 * rows, rstd: statistics + 3 * rows) }
}

extension GEMMElement {
    /// `count` float32 values as GEMM inputs of this type: `values` itself for float32, else rounded into
    /// `scratch`.
    static func inputs(_ values: UnsafeMutablePointer<Float>, count: Int, scratch: UnsafeMutablePointer<Self>) -> UnsafeMutablePointer<Self> {
        if precision == .fp32 { return UnsafeMutableRawPointer(values).assumingMemoryBound(to: Self.self) }
        BFloat16.round(values, into: UnsafeMutableRawPointer(scratch).assumingMemoryBound(to: BFloat16.self), count: count)
        return scratch
    }
}
