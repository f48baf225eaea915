/// The dropout masks of one training step, from a counter-based hash instead of a random stream.
///
/// Element `feature` of token `position` of sequence `sequence`, at dropout site `site` (e.g. one per
/// layer and place), is kept or dropped by a hash of (seed, step, site, sequence, position, feature)
/// alone. So a mask does not depend on the thread count, on how sequences are grouped into
/// micro-batches, or on which rank processes a sequence: N ranks reproduce one rank exactly, and the
/// backward pass regenerates the mask instead of storing it. Kept values are scaled by 1 / (1 - p),
/// as torch.nn.functional.dropout does.
public struct Dropout: Sendable, Equatable {
    public let probability: Float
    public let seed: UInt64
    public let step: UInt64

    public init(probability: Float, seed: UInt64, step: UInt64) {
        precondition((0..<1).contains(probability), "Dropout probability \(probability) is not in [0, 1)")
        self.probability = probability
        self.seed = seed
        self.step = step
    }

    /// A value at or above this (the hash's top 32 bits) is kept.
    var threshold: UInt64 { UInt64((Double(probability) * 4_294_967_296).rounded()) }
    var keepScale: Float { 1 / (1 - probability) }

    @inline(__always)
    static func mix(_ value: UInt64) -> UInt64 {
        var z = value
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// The key every element hash of one (site, sequence) starts from.
    @inline(__always)
    func sequenceKey(site: Int, sequence: UInt64) -> UInt64 {
        Dropout.mix(Dropout.mix(Dropout.mix(Dropout.mix(seed ^ 0x6F70_742D_6472_6F70) ^ step) ^ UInt64(site)) ^ sequence)
    }

    @inline(__always)
    static func keeps(key: UInt64, element: Int, threshold: UInt64) -> Bool {
        mix(key &+ UInt64(element) &* 0x9E37_79B9_7F4A_7C15) >> 32 >= threshold
    }

    /// Whether element (`position`, `feature`) of a [*, dim] activation of `sequence` is kept at `site`.
    public func keeps(site: Int, sequence: UInt64, position: Int, feature: Int, dim: Int) -> Bool {
        Dropout.keeps(key: sequenceKey(site: site, sequence: sequence), element: position * dim + feature,
                      threshold: threshold)
    }

    /// out[n, d] = residual[n, d] + mask * x[n, d] / (1 - p) for the n = rows * length tokens; token n is
    /// position n % length of sequence `sequences[n / length]`. `out` may be `residual`. A bfloat16 x is
    /// dropped out in bfloat16, as torch does a bfloat16 tensor: x / (1 - p) is rounded before the float32 sum.
    @_specialize(exported: true, where Element == Float)
    @_specialize(exported: true, where Element == BFloat16)
    public func residualAdd<Element: GEMMElement>(
        _ x: UnsafePointer<Element>, residual: UnsafePointer<Float>, into out: UnsafeMutablePointer<Float>,
        rows: Int, length: Int, dim d: Int, sequences: [UInt64], site: Int
    ) {
        let scale = keepScale
        forEachToken(rows: rows, length: length, dim: d, sequences: sequences, site: site) { n, keeps in
            let xr = x + n * d, rr = residual + n * d, o = out + n * d
            for f in 0..<d { o[f] = keeps(f) ? rr[f] + Element(xr[f].floatValue * scale).floatValue : rr[f] }
        }
    }

    /// dx[n, d] = mask * dOut[n, d] / (1 - p): the gradient of `residualAdd` with respect to x (the
    /// residual's gradient is dOut itself). For a bfloat16 x, as autograd: the incoming float32 gradient
    /// is rounded to bfloat16, and so is the dropped-out one.
    @_specialize(exported: true, where Element == Float)
    @_specialize(exported: true, where Element == BFloat16)
    public func backward<Element: GEMMElement>(
        _ dOut: UnsafePointer<Float>, into dx: UnsafeMutablePointer<Element>,
        rows: Int, length: Int, dim d: Int, sequences: [UInt64], site: Int
    ) {
        let scale = keepScale
        forEachToken(rows: rows, length: length, dim: d, sequences: sequences, site: site) { n, keeps in
            let g = dOut + n * d, o = dx + n * d
            for f in 0..<d { o[f] = keeps(f) ? Element(Element(g[f]).floatValue * scale) : Element(0) }
        }
    }

    /// Calls `body(token, keeps)` for every token in parallel; `keeps(feature)` is that element's mask.
    private func forEachToken(rows: Int, length: Int, dim d: Int, sequences: [UInt64], site: Int,
                              _ body: (_ token: Int, _ keeps: (Int) -> Bool) -> Void) {
        precondition(sequences.count == rows, "Dropout: \(sequences.count) sequence ids for \(rows) rows")
        let threshold = threshold
        Parallel.forEach(rows * length, minimumChunk: 16) { tokens in
            for n in tokens {
                let key = sequenceKey(site: site, sequence: sequences[n / length])
                let first = (n % length) * d
                body(n) { Dropout.keeps(key: key, element: first + $0, threshold: threshold) }
            }
        }
    }
}
