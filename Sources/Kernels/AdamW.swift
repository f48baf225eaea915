import Foundation

/// torch.optim.AdamW on flat float buffers, step for step as PyTorch's default CPU implementation (the
/// single-tensor loop) computes it in float32:
///
///     p = p * (1 - lr * weight_decay)                      decoupled decay, before the update
///     m = m + (1 - beta1) * (g - m)                        torch's lerp_ (weight < 0.5)
///     v = v * beta2 + (1 - beta2) * g * g
///     p = p - lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)
///
/// Parameter groups (each with its own weight decay) are ranges of the flat buffer, as torch's param groups.
public final class AdamW {
    public struct Hyperparameters: Sendable, Equatable {
        public var learningRate: Double
        public var beta1: Double
        public var beta2: Double
        public var epsilon: Double

        public init(learningRate: Double, beta1: Double = 0.9, beta2: Double = 0.999, epsilon: Double = 1e-8) {
            self.learningRate = learningRate
            self.beta1 = beta1
            self.beta2 = beta2
            self.epsilon = epsilon
        }
    }

    /// Parameters that share a weight decay, as ranges of the flat buffer.
    public struct Group: Sendable, Equatable {
        public var ranges: [Range<Int>]
        public var weightDecay: Double

        public init(ranges: [Range<Int>], weightDecay: Double) {
            self.ranges = ranges
            self.weightDecay = weightDecay
        }
    }

    public var hyperparameters: Hyperparameters
    /// Steps taken so far (torch's `state["step"]`); set it when restoring a checkpoint.
    public var step: Int
    /// torch's `exp_avg` and `exp_avg_sq`, one value per parameter.
    public let expAvg: FloatBuffer
    public let expAvgSq: FloatBuffer

    public init(parameterCount: Int, hyperparameters: Hyperparameters) {
        self.hyperparameters = hyperparameters
        step = 0
        expAvg = FloatBuffer(count: parameterCount)
        expAvgSq = FloatBuffer(count: parameterCount)
    }

    /// One optimizer step over every range of `groups`, with `learningRate` (default: the hyperparameter;
    /// a schedule passes its current value). Each gradient is first multiplied by `gradientScale` (global-norm
    /// clipping's coefficient; the same float32 product as clipping the gradients in place). `rounded`, when
    /// given, is a bfloat16 copy of the parameters (the weights mixed-precision GEMMs read): each updated
    /// value is rounded into it in the same pass.
    public func update(parameters: UnsafeMutablePointer<Float>, gradients: UnsafePointer<Float>, groups: [Group],
                       learningRate: Double? = nil, gradientScale: Float = 1, rounded: UnsafeMutablePointer<BFloat16>? = nil) {
        step += 1
        let h = hyperparameters
        let lr = learningRate ?? h.learningRate
        let t = Double(step)
        let stepSize = Float(lr / (1 - Foundation.pow(h.beta1, t)))
        let correction2 = Float((1 - Foundation.pow(h.beta2, t)).squareRoot())
        let weight1 = Float(1 - h.beta1), beta2 = Float(h.beta2), weight2 = Float(1 - h.beta2), eps = Float(h.epsilon)
        let m = expAvg.pointer, v = expAvgSq.pointer
        for group in groups {
            let decay = Float(1 - lr * group.weightDecay)
            for range in group.ranges {
                precondition(range.lowerBound >= 0 && range.upperBound <= expAvg.count,
                             "AdamW: range \(range) outside 0..<\(expAvg.count)")
                Parallel.forEach(range.count, minimumChunk: 1 << 15) { part in
                    let start = range.lowerBound + part.lowerBound, end = range.lowerBound + part.upperBound
                    typealias V = VectorMath.Vector
                    // The same float operations, 16 lanes at a time; the scalar tail repeats them.
                    let applyDecay = group.weightDecay != 0
                    var i = start
                    while i + 16 <= end {
                        let g = VectorMath.load(gradients + i) * gradientScale
                        var p = VectorMath.load(parameters + i)
                        if applyDecay { p *= decay }
                        let mi = VectorMath.load(m + i) + weight1 * (g - VectorMath.load(m + i))
                        let vi = VectorMath.load(v + i) * beta2 + weight2 * g * g
                        VectorMath.store(mi, m + i)
                        VectorMath.store(vi, v + i)
                        let denominator = vi.squareRoot() / V(repeating: correction2) + eps
                        let updated = p + -stepSize * (mi / denominator)
                        VectorMath.store(updated, parameters + i)
                        if let rounded { BFloat16.store(updated, rounded + i) }
                        i += 16
                    }
                    while i < end {
                        let g = gradients[i] * gradientScale
                        var p = parameters[i]
                        if applyDecay { p *= decay }
                        m[i] = m[i] + weight1 * (g - m[i])
                        v[i] = v[i] * beta2 + weight2 * g * g
                        let denominator = v[i].squareRoot() / correction2 + eps
                        parameters[i] = p + -stepSize * (m[i] / denominator)
                        rounded?[i] = BFloat16(parameters[i])
                        i += 1
                    }
                }
            }
        }
    }
}
