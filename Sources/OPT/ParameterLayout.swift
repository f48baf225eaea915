import Kernels

/// Where every parameter of an OPT model lives in one flat float buffer, by its Hugging Face name.
///
/// Order: the embeddings (`embed_tokens`, `embed_positions`, `project_in`), then each decoder layer as
/// one contiguous block, then the head (`final_layer_norm`, `project_out`). Backward finishes gradients
/// in exactly the reverse order (head, last layer ... first layer, embeddings), so `gradientReadyOrder`
/// is a sequence of adjacent ranges that gradient buckets can be cut from. Inside a layer q, k and v
/// weights (and biases) are adjacent, so they act as one [3 * hidden, hidden] matrix.
public struct ParameterLayout: Sendable {
    public struct Entry: Sendable, Equatable {
        /// Hugging Face's name, e.g. "model.decoder.layers.3.fc1.weight".
        public let name: String
        public let offset: Int
        /// Hugging Face's shape (Linear weights are [out, in]).
        public let shape: [Int]
        /// Hugging Face Trainer's rule: biases and LayerNorm parameters get no weight decay.
        public let weightDecay: Bool

        public var count: Int { shape.reduce(1, *) }
        public var range: Range<Int> { offset..<(offset + count) }
    }

    /// Offsets of one decoder layer's tensors.
    public struct Layer: Sendable {
        public let range: Range<Int>
        /// q_proj, k_proj, v_proj weights back to back: [3 * hidden, hidden]; their biases: [3 * hidden].
        public let qkvWeight: Int, qkvBias: Int
        public let outWeight: Int, outBias: Int
        /// `self_attn_layer_norm`.
        public let attentionNormWeight: Int, attentionNormBias: Int
        public let fc1Weight: Int, fc1Bias: Int
        public let fc2Weight: Int, fc2Bias: Int
        /// The layer's `final_layer_norm` (before or after the MLP, with the model's LN placement).
        public let mlpNormWeight: Int, mlpNormBias: Int
    }

    /// All tensors in buffer order.
    public let entries: [Entry]
    /// Total parameters (Hugging Face's count: the tied lm_head is `embed_tokens`).
    public let count: Int
    public let layers: [Layer]
    public let embedTokens: Int
    public let embedPositions: Int
    /// [hidden, word_embed_proj_dim] when the model has projections.
    public let projectIn: Int?
    /// [word_embed_proj_dim, hidden] when the model has projections.
    public let projectOut: Int?
    /// The decoder's final LayerNorm (weight, bias) when the model has one.
    public let finalNorm: (weight: Int, bias: Int)?
    /// embed_tokens, embed_positions and project_in.
    public let embeddingRange: Range<Int>
    /// final_layer_norm and project_out (empty for a model with neither).
    public let headRange: Range<Int>
    private let index: [String: Int]

    public static let prefix = "model.decoder."

    public init(config: OPTConfig) {
        let h = config.hiddenSize, e = config.wordEmbedProjDim, f = config.ffnDim
        var entries: [Entry] = []
        var offset = 0
        @discardableResult
        func add(_ name: String, _ shape: [Int], decay: Bool) -> Int {
            let start = offset
            entries.append(Entry(name: ParameterLayout.prefix + name, offset: start, shape: shape, weightDecay: decay))
            offset += shape.reduce(1, *)
            return start
        }
        embedTokens = add("embed_tokens.weight", [config.vocabSize, e], decay: true)
        embedPositions = add("embed_positions.weight", [config.maxPositionEmbeddings + OPTConfig.positionOffset, h],
                             decay: true)
        projectIn = config.hasProjections ? add("project_in.weight", [h, e], decay: true) : nil
        embeddingRange = 0..<offset
        var layers: [Layer] = []
        for l in 0..<config.numHiddenLayers {
            let p = "layers.\(l)."
            let start = offset
            let qkvWeight = add(p + "self_attn.q_proj.weight", [h, h], decay: true)
            add(p + "self_attn.k_proj.weight", [h, h], decay: true)
            add(p + "self_attn.v_proj.weight", [h, h], decay: true)
            let qkvBias = add(p + "self_attn.q_proj.bias", [h], decay: false)
            add(p + "self_attn.k_proj.bias", [h], decay: false)
            add(p + "self_attn.v_proj.bias", [h], decay: false)
            let outWeight = add(p + "self_attn.out_proj.weight", [h, h], decay: true)
            let outBias = add(p + "self_attn.out_proj.bias", [h], decay: false)
            let attentionNormWeight = add(p + "self_attn_layer_norm.weight", [h], decay: false)
            let attentionNormBias = add(p + "self_attn_layer_norm.bias", [h], decay: false)
            let fc1Weight = add(p + "fc1.weight", [f, h], decay: true)
            let fc1Bias = add(p + "fc1.bias", [f], decay: false)
            let fc2Weight = add(p + "fc2.weight", [h, f], decay: true)
            let fc2Bias = add(p + "fc2.bias", [h], decay: false)
            let mlpNormWeight = add(p + "final_layer_norm.weight", [h], decay: false)
            let mlpNormBias = add(p + "final_layer_norm.bias", [h], decay: false)
            layers.append(Layer(range: start..<offset, qkvWeight: qkvWeight, qkvBias: qkvBias,
                                outWeight: outWeight, outBias: outBias,
                                attentionNormWeight: attentionNormWeight, attentionNormBias: attentionNormBias,
                                fc1Weight: fc1Weight, fc1Bias: fc1Bias, fc2Weight: fc2Weight, fc2Bias: fc2Bias,
                                mlpNormWeight: mlpNormWeight, mlpNormBias: mlpNormBias))
        }
        let headStart = offset
        if config.hasFinalLayerNorm {
            finalNorm = (add("final_layer_norm.weight", [h], decay: false), add("final_layer_norm.bias", [h], decay: false))
        } else {
            finalNorm = nil
        }
        projectOut = config.hasProjections ? add("project_out.weight", [e, h], decay: true) : nil
        headRange = headStart..<offset
        self.layers = layers
        self.entries = entries
        count = offset
        index = Dictionary(uniqueKeysWithValues: entries.enumerated().map { ($1.name, $0) })
    }

    public subscript(name: String) -> Entry? { index[name].map { entries[$0] } }

    /// Parameter ranges in the order `OPTModel.backward` finishes them: the head (if any), the layers
    /// from last to first, then the embeddings. Together they cover the buffer exactly once.
    public var gradientReadyOrder: [Range<Int>] {
        (headRange.isEmpty ? [] : [headRange]) + layers.reversed().map(\.range) + [embeddingRange]
    }

    /// torch param groups as Hugging Face's Trainer makes them: `weightDecay` on weights and embeddings,
    /// none on biases and LayerNorm parameters. Adjacent tensors of a group are merged into one range.
    public func optimizerGroups(weightDecay: Double) -> [AdamW.Group] {
        var decayed: [Range<Int>] = [], plain: [Range<Int>] = []
        for entry in entries {
            if entry.weightDecay { ParameterLayout.append(entry.range, to: &decayed) } else { ParameterLayout.append(entry.range, to: &plain) }
        }
        return [AdamW.Group(ranges: decayed, weightDecay: weightDecay), AdamW.Group(ranges: plain, weightDecay: 0)]
    }

    private static func append(_ range: Range<Int>, to ranges: inout [Range<Int>]) {
        if let last = ranges.last, last.upperBound == range.lowerBound {
            ranges[ranges.count - 1] = last.lowerBound..<range.upperBound
        } else {
            ranges.append(range)
        }
    }
}
