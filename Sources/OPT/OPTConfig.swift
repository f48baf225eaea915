/// The architecture of an OPT model, with Hugging Face `config.json` key names and defaults
/// (transformers' `OPTConfig`), so a hub config decodes as it is and ours loads in transformers.
public struct OPTConfig: Codable, Equatable, Sendable {
    public var vocabSize = 50272
    public var hiddenSize = 768
    public var numHiddenLayers = 12
    public var ffnDim = 3072
    public var numAttentionHeads = 12
    public var maxPositionEmbeddings = 2048
    /// Pre-LN (125m, 1.3b) when true; post-LN (350m) when false.
    public var doLayerNormBefore = true
    /// With pre-LN: true drops the final LayerNorm (some OPT variants).
    public var removeFinalLayerNorm = false
    /// Embedding width; when it differs from `hiddenSize`, project_in/project_out map between them.
    public var wordEmbedProjDim = 768
    public var dropout = 0.1
    public var attentionDropout = 0.0
    public var activationFunction = "relu"
    public var layerdrop = 0.0
    public var initStd = 0.02
    public var enableBias = true
    public var layerNormElementwiseAffine = true
    public var padTokenId = 1
    public var bosTokenId = 2
    public var eosTokenId = 2
    public var tieWordEmbeddings = true

    /// Learned positions are looked up at `position + offset` (rows 0 and 1 are never used by real text).
    public static let positionOffset = 2

    public enum CodingKeys: String, CodingKey, CaseIterable {
        case vocabSize = "vocab_size"
        case hiddenSize = "hidden_size"
        case numHiddenLayers = "num_hidden_layers"
        case ffnDim = "ffn_dim"
        case numAttentionHeads = "num_attention_heads"
        case maxPositionEmbeddings = "max_position_embeddings"
        case doLayerNormBefore = "do_layer_norm_before"
        case removeFinalLayerNorm = "_remove_final_layer_norm"
        case wordEmbedProjDim = "word_embed_proj_dim"
        case dropout
        case attentionDropout = "attention_dropout"
        case activationFunction = "activation_function"
        case layerdrop
        case initStd = "init_std"
        case enableBias = "enable_bias"
        case layerNormElementwiseAffine = "layer_norm_elementwise_affine"
        case padTokenId = "pad_token_id"
        case bosTokenId = "bos_token_id"
        case eosTokenId = "eos_token_id"
        case tieWordEmbeddings = "tie_word_embeddings"
    }

    public init() {}

    /// Decodes Hugging Face's keys; absent keys take transformers' defaults, and an absent
    /// `word_embed_proj_dim` follows `hidden_size` as in transformers. Unknown keys are ignored
    /// (hub configs carry many: architectures, torch_dtype, transformers_version, ...).
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        func value<T: Decodable>(_ key: CodingKeys, _ fallback: T) throws -> T {
            try c.decodeIfPresent(T.self, forKey: key) ?? fallback
        }
        vocabSize = try value(.vocabSize, vocabSize)
        hiddenSize = try value(.hiddenSize, hiddenSize)
        numHiddenLayers = try value(.numHiddenLayers, numHiddenLayers)
        ffnDim = try value(.ffnDim, ffnDim)
        numAttentionHeads = try value(.numAttentionHeads, numAttentionHeads)
        maxPositionEmbeddings = try value(.maxPositionEmbeddings, maxPositionEmbeddings)
        doLayerNormBefore = try value(.doLayerNormBefore, doLayerNormBefore)
        removeFinalLayerNorm = try value(.removeFinalLayerNorm, removeFinalLayerNorm)
        wordEmbedProjDim = try value(.wordEmbedProjDim, hiddenSize)
        dropout = try value(.dropout, dropout)
        attentionDropout = try value(.attentionDropout, attentionDropout)
        activationFunction = try value(.activationFunction, activationFunction)
        layerdrop = try value(.layerdrop, layerdrop)
        initStd = try value(.initStd, initStd)
        enableBias = try value(.enableBias, enableBias)
        layerNormElementwiseAffine = try value(.layerNormElementwiseAffine, layerNormElementwiseAffine)
        padTokenId = try value(.padTokenId, padTokenId)
        bosTokenId = try value(.bosTokenId, bosTokenId)
        eosTokenId = try value(.eosTokenId, eosTokenId)
        tieWordEmbeddings = try value(.tieWordEmbeddings, tieWordEmbeddings)
    }

    /// The largest size each field may have: far above any OPT (opt-175b: hidden 12,288, ffn 49,152, 96
    /// layers), low enough that no product of sizes overflows and no model is sized before these pass.
    public static let sizeLimits: [(key: CodingKeys, limit: Int)] = [
        (.vocabSize, 1 << 22), (.hiddenSize, 1 << 16), (.numHiddenLayers, 1 << 10), (.ffnDim, 1 << 18),
        (.numAttentionHeads, 1 << 16), (.maxPositionEmbeddings, 1 << 20), (.wordEmbedProjDim, 1 << 16),
    ]

    private func size(_ key: CodingKeys) -> Int {
        switch key {
        case .vocabSize: vocabSize
        case .hiddenSize: hiddenSize
        case .numHiddenLayers: numHiddenLayers
        case .ffnDim: ffnDim
        case .numAttentionHeads: numAttentionHeads
        case .maxPositionEmbeddings: maxPositionEmbeddings
        case .wordEmbedProjDim: wordEmbedProjDim
        default: preconditionFailure("\(key.rawValue) is not a size")
        }
    }

    /// Everything ToolTune's OPT does not implement, or sizes that cannot work; empty when usable.
    public var problems: [String] {
        var found: [String] = []
        for (key, limit) in OPTConfig.sizeLimits {
            let v = size(key)
            if v < 1 { found.append("\(key.rawValue) must be at least 1, found \(v)") }
            if v > limit { found.append("\(key.rawValue) \(v) is over the limit of \(limit)") }
        }
        if numAttentionHeads > 0, hiddenSize % numAttentionHeads != 0 {
            found.append("hidden_size \(hiddenSize) is not divisible by num_attention_heads \(numAttentionHeads)")
        }
        if activationFunction != "relu" { found.append("activation_function \"\(activationFunction)\" is not supported (relu)") }
        if !enableBias { found.append("enable_bias false is not supported") }
        if !layerNormElementwiseAffine { found.append("layer_norm_elementwise_affine false is not supported") }
        if !tieWordEmbeddings { found.append("tie_word_embeddings false is not supported (OPT ties lm_head)") }
        if !(dropout >= 0 && dropout < 1) { found.append("dropout must be in [0, 1), found \(dropout)") }
        if !(initStd >= 0 && initStd.isFinite) { found.append("init_std must be a finite number >= 0, found \(initStd)") }
        // Released OPT configs set both to 0; ToolTune's kernels implement neither.
        if attentionDropout != 0 { found.append("attention_dropout \(attentionDropout) is not supported (0)") }
        if layerdrop != 0 { found.append("layerdrop \(layerdrop) is not supported (0)") }
        for (name, id) in [("pad_token_id", padTokenId), ("bos_token_id", bosTokenId), ("eos_token_id", eosTokenId)]
        where id < 0 || id >= vocabSize {
            found.append("\(name) \(id) is outside the vocabulary of \(vocabSize)")
        }
        return found
    }

    public var headDim: Int { hiddenSize / numAttentionHeads }
    public var hasProjections: Bool { wordEmbedProjDim != hiddenSize }
    public var hasFinalLayerNorm: Bool { doLayerNormBefore && !removeFinalLayerNorm }

    /// Parameters as Hugging Face counts them (lm_head is tied, so counted once). Only for a configuration
    /// without `problems` (the size limits keep it from overflowing).
    public var parameterCount: Int {
        let h = hiddenSize, e = wordEmbedProjDim, f = ffnDim
        var total = vocabSize * e + (maxPositionEmbeddings + OPTConfig.positionOffset) * h
        if hasProjections { total += 2 * h * e }
        if hasFinalLayerNorm { total += 2 * h }
        let attention = 4 * (h * h + h)
        let feedForward = h * f + f + f * h + h
        let norms = 2 * 2 * h
        return total + numHiddenLayers * (attention + feedForward + norms)
    }

    // MARK: Presets

    /// Named architectures: the released OPT sizes and small ones for tests and the demo.
    public static let presets: [String: OPTConfig] = [
        "opt-125m": .make(hidden: 768, layers: 12, heads: 12, ffn: 3072),
        "opt-350m": .make(hidden: 1024, layers: 24, heads: 16, ffn: 4096, embedDim: 512, preLN: false),
        "opt-1.3b": .make(hidden: 2048, layers: 24, heads: 32, ffn: 8192),
        "tiny": .make(hidden: 64, layers: 2, heads: 4, ffn: 256, vocab: 4096, positions: 1024),
        "tiny-350m-style": .make(hidden: 64, layers: 2, heads: 4, ffn: 256, embedDim: 32, preLN: false,
                                 vocab: 4096, positions: 1024),
    ]

    public static func make(hidden: Int, layers: Int, heads: Int, ffn: Int, embedDim: Int? = nil,
                            preLN: Bool = true, vocab: Int = 50272, positions: Int = 2048) -> OPTConfig {
        var c = OPTConfig()
        c.hiddenSize = hidden
        c.numHiddenLayers = layers
        c.numAttentionHeads = heads
        c.ffnDim = ffn
        c.wordEmbedProjDim = embedDim ?? hidden
        c.doLayerNormBefore = preLN
        c.vocabSize = vocab
        c.maxPositionEmbeddings = positions
        return c
    }
}
