import Kernels
import Testing

/// The tiled attention kernel against a direct double-precision evaluation of its definition, on shapes
/// the model fixtures do not reach: several query tiles, packed segments, padding inside a segment,
/// left padding (queries that see no key) and a padding-only segment.
@Suite struct AttentionTests {
    struct Case {
        let rows: Int, length: Int, heads: Int, headDim: Int
        let segments: [Int32], valid: [Bool]
    }

    static func makeCase() -> Case {
        let length = 200
        var segments: [Int32] = [], valid: [Bool] = []
        // Row 0: left padding, then one segment with two pad holes, spanning two tiles.
        for t in 0..<length {
            segments.append(0)
            valid.append(t >= 7 && t != 150 && t != 151)
        }
        // Row 1: segments of 30, 140 and 20 tokens, then 10 tokens of padding-only segment.
        for t in 0..<length {
            segments.append(t < 30 ? 1 : t < 170 ? 2 : t < 190 ? 3 : 4)
            valid.append(t < 190)
        }
        return Case(rows: 2, length: length, heads: 3, headDim: 8, segments: segments, valid: valid)
    }

    /// Keys query t of row b may see, by the documented rule.
    static func visibleKeys(_ c: Case, b: Int, t: Int) -> [Int] {
        var start = t
        while start > 0 && c.segments[b * c.length + start - 1] == c.segments[b * c.length + t] { start -= 1 }
        return (start...t).filter { c.valid[b * c.length + $0] }
    }

    /// The definition in double precision: output, dq|dk|dv, and for each of their elements the sum of the
    /// magnitudes of the terms that make it (what rounding errors scale with), plus each row's largest
    /// |score| (how much a score's rounding moves the probabilities).
    struct Reference {
        var out: [Double], outSize: [Double], d: [Double], dSize: [Double], largestScore: Double
    }

    static func reference(_ c: Case, qkv: [Float], dOut: [Float]) -> Reference {
        let channels = c.heads * c.headDim, n = c.rows * c.length, ld = 3 * channels
        var r = Reference(out: [Double](repeating: 0, count: n * channels), outSize: [Double](repeating: 0, count: n * channels),
                          d: [Double](repeating: 0, count: n * ld), dSize: [Double](repeating: 0, count: n * ld), largestScore: 0)
        func q(_ row: Int, _ h: Int, _ d: Int) -> Double { Double(qkv[row * ld + h * c.headDim + d]) }
        func k(_ row: Int, _ h: Int, _ d: Int) -> Double { Double(qkv[row * ld + channels + h * c.headDim + d]) }
        func v(_ row: Int, _ h: Int, _ d: Int) -> Double { Double(qkv[row * ld + 2 * channels + h * c.headDim + d]) }
        for b in 0..<c.rows {
            for h in 0..<c.heads {
                for t in 0..<c.length {
                    let i = b * c.length + t
                    let visible = Self.visibleKeys(c, b: b, t: t)
                    // No visible key: uniform over every key of the row, as transformers' float-min mask.
                    let keys = visible.isEmpty ? Array(0..<c.length) : visible
                    let scores = keys.map { j in (0..<c.headDim).reduce(0.0) { $0 + q(i, h, $1) * k(b * c.length + j, h, $1) } }
                    if !visible.isEmpty { r.largestScore = max(r.largestScore, scores.map(abs).max()!) }
                    let top = scores.max()!
                    let weights = visible.isEmpty ? [Double](repeating: 1, count: keys.count) : scores.map { Foundation.exp($0 - top) }
                    let total = weights.reduce(0, +)
                    let p = weights.map { $0 / total }
                    for (jj, j) in keys.enumerated() {
                        for d in 0..<c.headDim {
                            r.out[i * channels + h * c.headDim + d] += p[jj] * v(b * c.length + j, h, d)
                            r.outSize[i * channels + h * c.headDim + d] += p[jj] * abs(v(b * c.length + j, h, d))
                        }
                    }
                    // Backward of softmax(q k^T) v at these probabilities.
                    let g = (0..<c.headDim).map { Double(dOut[i * channels + h * c.headDim + $0]) }
                    let dP = keys.map { j in (0..<c.headDim).reduce(0.0) { $0 + g[$1] * v(b * c.length + j, h, $1) } }
                    let dPSize = keys.map { j in (0..<c.headDim).reduce(0.0) { $0 + abs(g[$1] * v(b * c.length + j, h, $1)) } }
                    let dot = zip(p, dP).reduce(0.0) { $0 + $1.0 * $1.1 }
                    let dotSize = zip(p, dPSize).reduce(0.0) { $0 + $1.0 * $1.1 }
                    for (jj, j) in keys.enumerated() {
                        let key = b * c.length + j
                        let dS = p[jj] * (dP[jj] - dot), dSSize = p[jj] * (dPSize[jj] + dotSize)
                        for d in 0..<c.headDim {
                            r.d[i * ld + h * c.headDim + d] += dS * k(key, h, d)
                            r.dSize[i * ld + h * c.headDim + d] += dSSize * abs(k(key, h, d))
                            r.d[key * ld + channels + h * c.headDim + d] += dS * q(i, h, d)
                            r.dSize[key * ld + channels + h * c.headDim + d] += dSSize * abs(q(i, h, d))
                            r.d[key * ld + 2 * channels + h * c.headDim + d] += p[jj] * g[d]
                            r.dSize[key * ld + 2 * channels + h * c.headDim + d] += p[jj] * abs(g[d])
                        }
                    }
                }
            }
        }
        return r
    }

    /// Runs the kernel on float32 data (rounded to bfloat16 for a bfloat16 engine): output and dq|dk|dv.
    static func run(_ c: Case, qkv: [Float], dOut: [Float], engine: GEMMEngine) -> (out: [Float], d: [Float]) {
        let channels = c.heads * c.headDim, n = c.rows * c.length
        var lse = [Float](repeating: 0, count: c.rows * c.heads * c.length)
        var dqkv = [Float](repeating: .nan, count: n * 3 * channels)
        let mask = AttentionMask(rows: c.rows, length: c.length, segments: c.segments, valid: c.valid)
        let shape = Attention.Shape(heads: c.heads, headDim: c.headDim)
        let scratch = Attention.Scratch(length: c.length, workers: 2, precision: engine.precision)
        switch engine.precision {
        case .fp32:
            var out = [Float](repeating: .nan, count: n * channels)
            Attention.forward(qkv: qkv, output: &out, logSumExp: &lse, mask: mask, shape: shape, scratch: scratch, engine: engine)
            Attention.backward(qkv: qkv, dOutput: dOut, logSumExp: lse, dQKV: &dqkv, mask: mask, shape: shape, scratch: scratch,
                               engine: engine)
            return (out, dqkv)
        case .bf16:
            let qkv16 = qkv.map(BFloat16.init), dOut16 = dOut.map(BFloat16.init)
            var out = [BFloat16](repeating: BFloat16(bitPattern: 0x7FC0), count: n * channels)
            Attention.forward(qkv: qkv16, output: &out, logSumExp: &lse, mask: mask, shape: shape, scratch: scratch, engine: engine)
            Attention.backward(qkv: qkv16, dOutput: dOut16, logSumExp: lse, dQKV: &dqkv, mask: mask, shape: shape,
                               scratch: scratch, engine: engine)
            return (out.map(\.float), dqkv)
        }
    }

    @Test func matchesTheDefinitionForwardAndBackward() {
        let c = Self.makeCase()
        let channels = c.heads * c.headDim, n = c.rows * c.length
        var rng = SplitMix64(seed: 17)
        let qkv = (0..<(n * 3 * channels)).map { _ in Float(rng.nextUniform() * 2 - 1) }
        let dOut = (0..<(n * channels)).map { _ in Float(rng.nextUniform() * 2 - 1) }
        let (out, dqkv) = Self.run(c, qkv: qkv, dOut: dOut, engine: .float32)
        let expected = Self.reference(c, qkv: qkv, dOut: dOut)
        let outError = zip(out, expected.out).map { abs(Double($0) - $1) }.max()!
        let dError = zip(dqkv, expected.d).map { abs(Double($0) - $1) }.max()!
        #expect(outError <= 1e-5, "output max |diff| \(outError)")
        #expect(dError <= 1e-4, "dqkv max |diff| \(dError)")
    }

    /// bfloat16 attention against the definition on the rounded inputs. To first order, rounding a score s
    /// by at most 2^-8|s| moves each probability by at most 2·2^-8·S of itself (S: the largest |score|),
    /// rounding the probabilities and each bfloat16 product result adds 2^-8 of their size, so every
    /// output is within 2^-8·(2S + 2) of the magnitudes it sums; the gradients go through up to four such
    /// roundings (dP, dS, the product, the final one) on top of the probabilities': 2^-8·(2S + 4).
    @Test(arguments: engines.filter { $0.precision == .bf16 })
    func bfloat16MatchesTheDefinitionWithinItsRounding(engine: GEMMEngine) {
        let c = Self.makeCase()
        let channels = c.heads * c.headDim, n = c.rows * c.length
        var rng = SplitMix64(seed: 17)
        let qkv = (0..<(n * 3 * channels)).map { _ in BFloat16(Float(rng.nextUniform() * 2 - 1)).float }
        let dOut = (0..<(n * channels)).map { _ in BFloat16(Float(rng.nextUniform() * 2 - 1)).float }
        let (out, dqkv) = Self.run(c, qkv: qkv, dOut: dOut, engine: engine)
        let r = Self.reference(c, qkv: qkv, dOut: dOut)
        let u = 0x1p-8, s = r.largestScore
        let outWorst = (0..<out.count).map { abs(Double(out[$0]) - r.out[$0]) / (u * (2 * s + 2) * r.outSize[$0]) }.max()!
        let dWorst = (0..<dqkv.count).map { abs(Double(dqkv[$0]) - r.d[$0]) / max(1e-30, u * (2 * s + 4) * r.dSize[$0]) }.max()!
        #expect(outWorst <= 1, "output error is \(outWorst) of its bound")
        #expect(dWorst <= 1, "dqkv error is \(dWorst) of its bound")
    }

    /// Cached attention for queries start..<start+count equals the plain causal forward's rows there,
    /// with several tiles of new queries after cached keys.
    @Test func cachedAttentionEqualsTheCausalForwardOnTheSameRows() {
        let length = 300, start = 110, heads = 2, headDim = 8, channels = heads * headDim
        var rng = SplitMix64(seed: 23)
        let qkv = (0..<(length * 3 * channels)).map { _ in Float(rng.nextUniform() * 2 - 1) }
        var out = [Float](repeating: .nan, count: length * channels)
        var lse = [Float](repeating: 0, count: heads * length)
        let shape = Attention.Shape(heads: heads, headDim: headDim)
        let scratch = Attention.Scratch(length: length, workers: 2)
        Attention.forward(qkv: qkv, output: &out, logSumExp: &lse, mask: AttentionMask(rows: 1, length: length), shape: shape,
                          scratch: scratch)
        // The cache: keys and values as separate [length, channels] matrices.
        var keys = [Float](repeating: 0, count: length * channels), values = keys
        for t in 0..<length {
            for c in 0..<channels {
                keys[t * channels + c] = qkv[t * 3 * channels + channels + c]
                values[t * channels + c] = qkv[t * 3 * channels + 2 * channels + c]
            }
        }
        let count = length - start
        var cached = [Float](repeating: .nan, count: count * channels)
        qkv.withUnsafeBufferPointer { q in
            Attention.forwardCached(queries: q.baseAddress! + start * 3 * channels, queryStride: 3 * channels, keys: keys,
                                    values: values, cacheStride: channels, start: start, count: count, output: &cached,
                                    shape: shape, scratch: scratch)
        }
        let difference = zip(cached, out[(start * channels)...]).map { abs($0 - $1) }.max()!
        #expect(difference <= 1e-6)
    }
}

import Foundation
