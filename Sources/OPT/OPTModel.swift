import Foundation
import Kernels

/// An OPT model (Hugging Face `OPTForCausalLM`): its configuration, all parameters in one flat buffer
/// (`layout` says where each Hugging Face tensor is), the gradients in a buffer of the same layout, and
/// the activation memory of the last shape it ran.
///
/// Training: `zeroGradients()`, then per micro-batch `forward(_:dropout:)` and `backward(scale:)` (which
/// adds to the gradients), then an optimizer step over `parameters` and `gradients` (that also refreshes
/// `roundedParameters`). The model is one replica for one thread of control: do not call it from several
/// threads at once.
///
/// Every matrix product runs on `engine`, whose precision is the model's: fp32, or bf16 mixed precision with
/// torch.autocast's semantics (products read bfloat16 inputs, accumulate in float32 and return bfloat16;
/// LayerNorm, softmax, cross-entropy, the residual stream, gradients and the float32 master weights stay
/// float32). A bf16 model multiplies bfloat16 copies of its weights, `roundedParameters`.
public final class OPTModel {
    public let config: OPTConfig
    public let layout: ParameterLayout
    public let parameters: FloatBuffer
    /// Allocated on first use, so a model that only runs forward does not pay for it.
    public private(set) lazy var gradients = FloatBuffer(count: layout.count)
    /// The engine of every product (float32 on the default backend until `use(_:)`).
    public private(set) var engine = GEMMEngine.float32
    /// bf16 engines: every parameter rounded to bfloat16 (same layout as `parameters`), what the products
    /// read. Never saved: checkpoints keep the float32 weights.
    public private(set) var roundedParameters: FloatBuffer?

    var workspace: Workspace?
    var pass: Pass?
    /// Scratch of cached decoding (`extend(_:with:)`), separate from the training workspace.
    var decoding: DecodeScratch?

    /// A model with every parameter zero; fill it with `initializeRandomly(seed:)` or from a checkpoint.
    public init(config: OPTConfig) throws {
        let problems = config.problems
        guard problems.isEmpty else { throw OPTModelError(message: "unusable OPT config: " + problems.joined(separator: "; ")) }
        self.config = config
        layout = ParameterLayout(config: config)
        do {
            parameters = try FloatBuffer(allocating: layout.count)
        } catch {
            throw OPTModelError(message: "the model's \(layout.count.formatted()) parameters do not fit in memory: \(error)")
        }
    }

    /// A model initialized as Hugging Face initializes a new one, from `seed`.
    public convenience init(config: OPTConfig, seed: UInt64) throws {
        try self.init(config: config)
        initializeRandomly(seed: seed)
    }

    /// The parameters of Hugging Face tensor `name`, or nil if the model has no such tensor.
    public func parameter(_ name: String) -> UnsafeMutableBufferPointer<Float>? {
        layout[name].map { UnsafeMutableBufferPointer(start: parameters.pointer + $0.offset, count: $0.count) }
    }

    /// The gradient of Hugging Face tensor `name`, or nil if the model has no such tensor.
    public func gradient(_ name: String) -> UnsafeMutableBufferPointer<Float>? {
        layout[name].map { UnsafeMutableBufferPointer(start: gradients.pointer + $0.offset, count: $0.count) }
    }

    public func zeroGradients() { gradients.zero() }

    /// Runs every product on `engine` from now on. A bf16 engine gets bfloat16 copies of the weights,
    /// rounded now; after the weights change, the optimizer's update refreshes them
    /// (`AdamW.update(rounded:)`), anything else calls `parametersChanged()`.
    public func use(_ engine: GEMMEngine) {
        if engine.precision != self.engine.precision {
            workspace = nil  // activations are planned for one precision
            decoding = nil
            pass = nil
        }
        self.engine = engine
        if engine.precision == .bf16 {
            roundedParameters = roundedParameters ?? FloatBuffer(count: layout.count, of: BFloat16.self)
            parametersChanged()
        } else {
            roundedParameters = nil
        }
    }

    /// Rounds the bfloat16 weight copies again after `parameters` changed outside an optimizer step (a bf16
    /// model only; a float32 one reads `parameters` directly).
    public func parametersChanged() {
        if let rounded = roundedParameters { BFloat16.round(parameters.pointer, into: rounded.elements(), count: layout.count) }
    }

    /// The parameters as the products read them: `parameters`, or their bfloat16 copies.
    func weights<Element: GEMMElement>(_: Element.Type) -> UnsafeMutablePointer<Element> {
        precondition(Element.precision == engine.precision, "\(Element.precision.rawValue) weights of a \(engine) model")
        return Element.precision == .fp32 ? parameters.elements() : roundedParameters!.elements()
    }

    /// Hugging Face's `_init_weights` for OPT: every Linear and Embedding weight normal(0, init_std), the
    /// pad row of `embed_tokens` zero, biases zero, LayerNorm weights one and biases zero. Each tensor is
    /// filled in blocks whose generators are seeded from (seed, tensor, block), so the result does not
    /// depend on the thread count.
    public func initializeRandomly(seed: UInt64) {
        let std = Float(config.initStd)
        let block = 1 << 16
        for (index, entry) in layout.entries.enumerated() {
            let p = parameters.pointer + entry.offset
            if entry.name.hasSuffix(".bias") {
                p.update(repeating: 0, count: entry.count)
            } else if entry.name.contains("layer_norm") {
                p.update(repeating: 1, count: entry.count)
            } else {
                let blocks = (entry.count + block - 1) / block
                Parallel.forEach(blocks) { range in
                    for b in range {
                        var rng = SplitMix64(seed: seed ^ (UInt64(index) << 40) ^ (UInt64(b) &* 0x9E37_79B9_7F4A_7C15))
                        var i = b * block
                        let end = min(entry.count, (b + 1) * block)
                        while i < end {
                            let (z0, z1) = rng.nextNormalPair()
                            p[i] = std * Float(z0)
                            if i + 1 < end { p[i + 1] = std * Float(z1) }
                            i += 2
                        }
                    }
                }
            }
        }
        let e = config.wordEmbedProjDim
        (parameters.pointer + layout.embedTokens + config.padTokenId * e).update(repeating: 0, count: e)
    }
}

/// A model that cannot be built or run, with the reason.
public struct OPTModelError: Error, CustomStringConvertible {
    public let message: String
    public var description: String { message }
    public init(message: String) { self.message = message }
}

extension SplitMix64 {
    /// Two independent standard normal samples (Box-Muller on two uniforms).
    mutating func nextNormalPair() -> (Double, Double) {
        let radius = (-2 * Foundation.log(1 - nextUniform())).squareRoot(), angle = 2 * Double.pi * nextUniform()
        return (radius * Foundation.cos(angle), radius * Foundation.sin(angle))
    }
}
