import JSON
import OPT

extension OPTConfig {
    /// A configuration from the JSON text of a Hugging Face `config.json` (or a model file's
    /// `model_config`), read with transformers' `OPTConfig` keys and defaults: absent keys take the
    /// defaults (`word_embed_proj_dim` follows `hidden_size`), unknown keys are ignored. Every known key
    /// is checked where it stands, so a message names the key and what it holds (`vocab_size: expected a
    /// whole number, found the number 4097.5`; `hidden_size: 18446744073709551616 does not fit in 64
    /// bits`), then the limits and support checks of `problems`. Throws every problem at once, or the
    /// syntax error at its line and column.
    public static func fromJSON(_ bytes: [UInt8]) throws(OPTConfigJSONError) -> OPTConfig {
        let root: JSONValue
        do {
            // transformers writes config.json with Python's json (which writes NaN and Infinity).
            root = try JSONParser.parse(bytes, options: .python())
        } catch {
            throw OPTConfigJSONError(problems: ["\(error.position.line):\(error.position.column): \(error.message)"])
        }
        guard case .object(let object) = root else {
            throw OPTConfigJSONError(problems: ["expected an object of config.json keys, found \(root.kindDescription)"])
        }
        var config = OPTConfig()
        var problems: [String] = []
        if let type = object["model_type"], type != .string("opt") {
            let found = if case .string(let name) = type { JSONValue.quoted(name) } else { type.kindDescription }
            problems.append("model_type is \(found), not \"opt\": only OPT models are supported")
        }
        func value<T>(_ key: CodingKeys, _ read: (JSONValue) -> T?, _ expected: String) -> T? {
            guard let v = object[key.rawValue] else { return nil }
            if let read = read(v) { return read }
            if case .integer(let text) = v, Int(text) == nil, expected == "a whole number" {
                problems.append("\(key.rawValue): \(text) does not fit in 64 bits")
            } else {
                problems.append("\(key.rawValue): expected \(expected), found \(v.kindDescription)")
            }
            return nil
        }
        func int(_ key: CodingKeys) -> Int? { value(key, { $0.intValue }, "a whole number") }
        func bool(_ key: CodingKeys) -> Bool? {
            value(key, { if case .bool(let b) = $0 { b } else { nil } }, "true or false")
        }
        func double(_ key: CodingKeys) -> Double? {
            value(key, {
                switch $0 {
                case .float(let d): d
                case .integer(let text): Double(text)
                default: nil
                }
            }, "a number")
        }
        config.vocabSize = int(.vocabSize) ?? config.vocabSize
        config.hiddenSize = int(.hiddenSize) ?? config.hiddenSize
        config.numHiddenLayers = int(.numHiddenLayers) ?? config.numHiddenLayers
        config.ffnDim = int(.ffnDim) ?? config.ffnDim
        config.numAttentionHeads = int(.numAttentionHeads) ?? config.numAttentionHeads
        config.maxPositionEmbeddings = int(.maxPositionEmbeddings) ?? config.maxPositionEmbeddings
        config.doLayerNormBefore = bool(.doLayerNormBefore) ?? config.doLayerNormBefore
        config.removeFinalLayerNorm = bool(.removeFinalLayerNorm) ?? config.removeFinalLayerNorm
        config.wordEmbedProjDim = int(.wordEmbedProjDim) ?? config.hiddenSize
        config.dropout = double(.dropout) ?? config.dropout
        config.attentionDropout = double(.attentionDropout) ?? config.attentionDropout
        config.activationFunction = value(.activationFunction, { if case .string(let s) = $0 { s } else { nil } }, "a string")
            ?? config.activationFunction
        config.layerdrop = double(.layerdrop) ?? config.layerdrop
        config.initStd = double(.initStd) ?? config.initStd
        config.enableBias = bool(.enableBias) ?? config.enableBias
        config.layerNormElementwiseAffine = bool(.layerNormElementwiseAffine) ?? config.layerNormElementwiseAffine
        config.padTokenId = int(.padTokenId) ?? config.padTokenId
        config.bosTokenId = int(.bosTokenId) ?? config.bosTokenId
        config.eosTokenId = int(.eosTokenId) ?? config.eosTokenId
        config.tieWordEmbeddings = bool(.tieWordEmbeddings) ?? config.tieWordEmbeddings
        // Sizes that failed to read were left at their defaults: the checks of the rest still apply.
        problems += config.problems
        guard problems.isEmpty else { throw OPTConfigJSONError(problems: problems) }
        return config
    }
}

/// Why a JSON text is not a usable OPT configuration: every problem, each naming its key.
public struct OPTConfigJSONError: Error, CustomStringConvertible {
    public let problems: [String]
    public var description: String { problems.joined(separator: "; ") }
}
