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

    /// UInt64 words of one token's mask over `dim` features (`Mask` storage is [tokens, words]).
    public static func words(dim: Int) -> Int { (dim + 63) / 64 }

    /// out[n, d] = residual[n, d] + mask * x[n, d] / (1 - p) for the n = rows * length tokens; token n is
    /// position n % length of sequence `sequences[n / length]`. `out` may be `residual`. A bfloat16 x is
    /// dropped out in bfloat16, as torch does a bfloat16 tensor: x / (1 - p) is rounded before the float32
    /// sum. The mask is written to `mask` [rows * length, words(dim)] (bit f % 64 of word f / 64 keeps
    /// feature f) so that backward reads it instead of hashing again.
    @_specialize(exported: true, where Element == Float)
    @_specialize(exported: true, where Element == BFloat16)
    public func residualAdd<Element: GEMMElement>(
        _ x: UnsafePointer<Element>, residual: UnsafePointer<Float>, into out: UnsafeMutablePointer<Float>,
        rows: Int, length: Int, dim d: Int, sequences: [UInt64], site: Int, mask: UnsafeMutablePointer<UInt64>
    ) {
        let scale = keepScale, words = Dropout.words(dim: d), threshold = threshold
        forEachToken(rows: rows, length: length, sequences: sequences, site: site) { n, key, position in
            let bits = mask + n * words, first = position * d
            for w in 0..<words {
                var word: UInt64 = 0
                for f in (w * 64)..<min(d, w * 64 + 64) where Dropout.keeps(key: key, element: first + f, threshold: threshold) {
                    word |= 1 << UInt64(f - w * 64)
                }
                bits[w] = word
            }
            Dropout.apply(bits, dim: d) { f, kept in
                let scaled = Element.stored(Element.load(x + n * d + f) * scale)
                VectorMath.store(VectorMath.load(residual + n * d + f) + scaled.replacing(with: 0, where: .!kept), out + n * d + f)
            } scalar: { f, kept in
                let scaled = Element(x[n * d + f].floatValue * scale).floatValue
                out[n * d + f] = residual[n * d + f] + (kept ? scaled : 0)
            }
        }
    }

    /// dx[n, d] = mask * dOut[n, d] / (1 - p): the gradient of `residualAdd` with respect to x (the
    /// residual's gradient is dOut itself), with the mask `residualAdd` wrote. For a bfloat16 x, as
    /// autograd: the incoming float32 gradient is rounded to bfloat16, and so is the dropped-out one.
    @_specialize(exported: true, where Element == Float)
    @_specialize(exported: true, where Element == BFloat16)
    public func backward<Element: GEMMElement>(
        _ dOut: UnsafePointer<Float>, into dx: UnsafeMutablePointer<Element>,
        rows: Int, length: Int, dim d: Int, mask: UnsafePointer<UInt64>
    ) {
        let scale = keepScale, words = Dropout.words(dim: d)
        Parallel.forEach(rows * length, minimumChunk: 16) { tokens in
            for n in tokens {
                Dropout.apply(mask + n * words, dim: d) { f, kept in
                    let g = Element.stored(Float.load(dOut + n * d + f)) * scale
                    Element.store(g.replacing(with: 0, where: .!kept), dx + n * d + f)
                } scalar: { f, kept in
                    dx[n * d + f] = kept ? Element(Element(dOut[n * d + f]).floatValue * scale) : Element(0)
                }
            }
        }
    }

    /// Calls `vector(f, kept)` for features f, f + 16, ... with each lane's bit of `bits`, then `scalar` for
    /// the features past the last whole 16.
    @inline(__always)
    static func apply(_ bits: UnsafePointer<UInt64>, dim d: Int, vector: (Int, SIMDMask<SIMD16<Int32>>) -> Void,
                      scalar: (Int, Bool) -> Void) {
        let lanes = SIMD16<Int32>(1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384, 32768)
        var f = 0
        while f + 16 <= d {
            let sixteen = Int32(truncatingIfNeeded: (bits[f / 64] >> UInt64(f % 64)) & 0xFFFF)
            vector(f, (SIMD16<Int32>(repeating: sixteen) & lanes) .!= 0)
            f += 16
        }
        while f < d {
            scalar(f, bits[f / 64] >> UInt64(f % 64) & 1 == 1)
            f += 1
        }
    }

    /// Calls `body(token, key, position)` for every token in parallel, with the hash key of its (site,
    /// sequence).
    private func forEachToken(rows: Int, length: Int, sequences: [UInt64], site: Int,
                              _ body: (_ token: Int, _ key: UInt64, _ position: Int) -> Void) {
        precondition(sequences.count == rows, "Dropout: \(sequences.count) sequence ids for \(rows) rows")
        Parallel.forEach(rows * length, minimumChunk: 16) { tokens in
            for n in tokens {
                body(n, sequenceKey(site: site, sequence: sequences[n / length]), n % length)
            }
        }
    }
}
