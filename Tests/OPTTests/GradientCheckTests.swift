import Kernels
import OPT
import Testing

/// Backward against finite differences of forward: an independent check of every backward path,
/// including ones the transformers fixtures do not reach (dropout, targets on left padding).
@Suite struct GradientCheckTests {
    /// Tensors of every kind: embeddings, projections, q|k|v, out_proj, MLP, LayerNorms, biases.
    static let names = [
        "embed_tokens.weight", "embed_positions.weight", "project_in.weight", "project_out.weight", "final_layer_norm.weight",
        "final_layer_norm.bias", "layers.0.self_attn.q_proj.weight", "layers.0.self_attn.k_proj.weight",
        "layers.1.self_attn.v_proj.weight", "layers.1.self_attn.q_proj.bias", "layers.0.self_attn.v_proj.bias",
        "layers.0.self_attn.out_proj.weight", "layers.1.self_attn.out_proj.bias", "layers.0.self_attn_layer_norm.weight",
        "layers.1.self_attn_layer_norm.bias", "layers.0.fc1.weight", "layers.1.fc1.bias", "layers.1.fc2.weight",
        "layers.0.fc2.bias", "layers.1.final_layer_norm.weight", "layers.0.final_layer_norm.bias",
    ].map { "model.decoder." + $0 }

    /// The left-padded case under dropout. (Targets on left pads are not checked this way: there
    /// transformers' autograd, which we match, differentiates the softmax at its uniform probabilities,
    /// while the float32 function itself no longer depends on q and k.)
    @Test(arguments: Fixture.names)
    func directionalDerivativesMatchFiniteDifferences(fixtureName: String) throws {
        let fixture = try Fixture(fixtureName)
        let model = try fixture.model()
        let batch = try fixture.microBatch("leftpad")
        let dropout = Dropout(probability: 0.1, seed: 99, step: 1)
        func meanLoss() throws -> Double {
            let r = try model.forward(batch, dropout: dropout)
            return r.lossSum / Double(r.targetCount)
        }
        model.zeroGradients()
        let count = try model.forward(batch, dropout: dropout).targetCount
        model.backward(scale: 1 / Float(count))
        var rng = SplitMix64(seed: 3)
        var checked = 0
        for name in Self.names {
            guard let parameter = model.parameter(name), let gradient = model.gradient(name).map(Array.init) else { continue }
            checked += 1
            let gradientNorm = gradient.reduce(0.0) { $0 + Double($1) * Double($1) }.squareRoot()
            let random = (0..<gradient.count).map { _ in Float(rng.nextUniform() * 2 - 1) }
            // Along the gradient (the derivative is |g|) and along a random direction (about |g| / sqrt(n)).
            for direction in [gradient, random] {
                let norm = direction.reduce(0.0) { $0 + Double($1) * Double($1) }.squareRoot()
                let unit = direction.map { Float(Double($0) / norm) }
                let analytic = zip(gradient, unit).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
                let original = Array(parameter)
                func loss(at step: Float) throws -> Double {
                    for i in 0..<parameter.count { parameter[i] = original[i] + step * unit[i] }
                    defer { for i in 0..<parameter.count { parameter[i] = original[i] } }
                    return try meanLoss()
                }
                let h: Float = 3e-3
                let (minus, center, plus) = (try loss(at: -h), try loss(at: 0), try loss(at: h))
                // A ReLU kink closer than h spoils the central difference by a constant; the one-sided
                // difference on the kink-free side still converges, so any of the three may match.
                let estimates = [(plus - minus) / (2 * Double(h)), (plus - center) / Double(h), (center - minus) / Double(h)]
                let error = estimates.map { abs($0 - analytic) }.min()!
                // 1e-4: float32 rounding of the loss (~1e-7) over a step of 3e-3.
                let tolerance = 1e-2 * max(abs(analytic), gradientNorm / Double(gradient.count).squareRoot()) + 1e-4
                #expect(error <= tolerance, "\(fixtureName) \(name): finite differences \(estimates), backward \(analytic)")
            }
        }
        #expect(checked >= 17)
    }
}
