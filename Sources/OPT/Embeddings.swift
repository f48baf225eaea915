import Kernels

// The embeddings: x0 = project_in(embed_tokens[ids]) + embed_positions[positions + 2].
extension OPTModel {
    /// x0[n, hidden] = the token embeddings (through project_in when the model has it, with
    /// `tokenEmbeddings` [n, word_embed_proj_dim] as its input, kept as the engine reads it) + the position
    /// embeddings (`positions` are Hugging Face's, before the table offset). The caller has checked every id
    /// and position.
    func embed<Element: GEMMElement>(_ tokens: [Int32], positions: [Int32], into x0: UnsafeMutablePointer<Float>,
                                     tokenEmbeddings: UnsafeMutablePointer<Element>?) {
        let p = parameters.pointer, n = tokens.count, h = config.hiddenSize, e = config.wordEmbedProjDim
        tokens.withUnsafeBufferPointer { ids in
            if let projectIn = layout.projectIn, let embedded = tokenEmbeddings {
                Embedding.forward(table: p + layout.embedTokens, ids: ids.baseAddress!, into: embedded, rows: n, dim: e)
                Linear.forward(embedded, weight: weights(Element.self) + projectIn, bias: nil, into: x0, rows: n,
                               inFeatures: e, outFeatures: h, engine: engine)
            } else {
                Embedding.forward(table: p + layout.embedTokens, ids: ids.baseAddress!, into: x0, rows: n, dim: h)
            }
        }
        positions.withUnsafeBufferPointer { positions in
            Embedding.add(table: p + layout.embedPositions, ids: positions.baseAddress!, offset: OPTConfig.positionOffset,
                          into: x0, rows: n, dim: h)
        }
    }

    /// Given dStream = d(x0) [N, hidden]: the learned positions, project_in and the token lookup (whose pad
    /// row gets no gradient, as torch's padding_idx).
    func embeddingBackward<Element: GEMMElement>(_ w: Workspace, _ pass: Pass, _: Element.Type) {
        let g = gradients.pointer, n = w.tokens, h = w.hidden
        let batch = pass.batch
        batch.positions.withUnsafeBufferPointer { positions in
            Embedding.backward(w.dStream.pointer, ids: positions.baseAddress!, offset: OPTConfig.positionOffset,
                               dTable: g + layout.embedPositions, rows: n, dim: h)
        }
        var dEmbedded = w.dStream.pointer
        if let projectIn = layout.projectIn, let embedded = w.activations.tokenEmbeddings, let dEmbeddings = w.dTokenEmbeddings {
            let dy = Element.inputs(w.dStream.pointer, count: n * h, scratch: w.dBranch.elements())
            Linear.backward(dy, input: embedded.elements(Element.self), weight: weights(Element.self) + projectIn,
                            dInput: dEmbeddings.pointer, dWeight: g + projectIn, dBias: nil, rows: n, inFeatures: w.embed,
                            outFeatures: h, engine: engine)
            dEmbedded = dEmbeddings.pointer
        }
        batch.tokens.withUnsafeBufferPointer { ids in
            Embedding.backward(dEmbedded, ids: ids.baseAddress!, dTable: g + layout.embedTokens, rows: n,
                               dim: config.wordEmbedProjDim, skipRow: config.padTokenId)
        }
    }
}
