import Kernels

// The embeddings: x0 = project_in(embed_tokens[ids]) + embed_positions[positions + 2].
extension OPTModel {
    /// x0[n, hidden] = the token embeddings (through project_in when the model has it, with
    /// `tokenEmbeddings` [n, word_embed_proj_dim] as its input) + the position embeddings (`positions` are
    /// Hugging Face's, before the table offset). The caller has checked every id and position.
    func embed(_ tokens: [Int32], positions: [Int32], into x0: UnsafeMutablePointer<Float>,
               tokenEmbeddings: UnsafeMutablePointer<Float>?) {
        let p = parameters.pointer, n = tokens.count, h = config.hiddenSize, e = config.wordEmbedProjDim
        tokens.withUnsafeBufferPointer { ids in
            if let projectIn = layout.projectIn, let embedded = tokenEmbeddings {
                Embedding.forward(table: p + layout.embedTokens, ids: ids.baseAddress!, into: embedded, rows: n, dim: e,
                                  accumulate: false)
                Linear.forward(embedded, weight: p + projectIn, bias: nil, into: x0, rows: n, inFeatures: e, outFeatures: h)
            } else {
                Embedding.forward(table: p + layout.embedTokens, ids: ids.baseAddress!, into: x0, rows: n, dim: h,
                                  accumulate: false)
            }
        }
        positions.withUnsafeBufferPointer { positions in
            Embedding.forward(table: p + layout.embedPositions, ids: positions.baseAddress!,
                              offset: OPTConfig.positionOffset, into: x0, rows: n, dim: h, accumulate: true)
        }
    }

    /// Given dStream = d(x0) [N, hidden]: the learned positions, project_in and the token lookup (whose pad
    /// row gets no gradient, as torch's padding_idx).
    func embeddingBackward(_ w: Workspace, _ pass: Pass) {
        let g = gradients.pointer, p = parameters.pointer, n = w.tokens, h = w.hidden
        let batch = pass.batch
        batch.positions.withUnsafeBufferPointer { positions in
            Embedding.backward(w.dStream.pointer, ids: positions.baseAddress!, offset: OPTConfig.positionOffset,
                               dTable: g + layout.embedPositions, rows: n, dim: h)
        }
        var dEmbedded = w.dStream.pointer
        if let projectIn = layout.projectIn, let embedded = w.activations.tokenEmbeddings, let dEmbeddings = w.dTokenEmbeddings {
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
