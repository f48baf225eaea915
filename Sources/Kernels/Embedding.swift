/// Table lookups: token embeddings and learned positions.
public enum Embedding {
    /// out[n, d] = table[ids[n] + offset, :], or += with `accumulate`. The caller has checked that every
    /// row index is inside the table.
    public static func forward(table: UnsafePointer<Float>, ids: UnsafePointer<Int32>, offset: Int = 0,
                               into out: UnsafeMutablePointer<Float>, rows n: Int, dim d: Int, accumulate: Bool) {
        Parallel.forEach(n, minimumChunk: 64) { range in
            for r in range {
                let source = table + (Int(ids[r]) + offset) * d
                if accumulate {
                    VectorMath.add(source, into: out + r * d, d)
                } else {
                    (out + r * d).update(from: source, count: d)
                }
            }
        }
    }

    /// dTable[ids[n] + offset, :] += dOut[n, :] for every n, except rows whose table row is `skipRow`
    /// (torch's `padding_idx`: that row gets no gradient from the lookup). Parallel over features and
    /// in token order within each, so repeated ids add up the same way on any thread count.
    public static func backward(_ dOut: UnsafePointer<Float>, ids: UnsafePointer<Int32>, offset: Int = 0,
                                dTable: UnsafeMutablePointer<Float>, rows n: Int, dim d: Int, skipRow: Int? = nil) {
        Parallel.forEach(d, minimumChunk: 128) { cols in
            for r in 0..<n {
                let row = Int(ids[r]) + offset
                if row == skipRow { continue }
                VectorMath.add(dOut + r * d + cols.lowerBound, into: dTable + row * d + cols.lowerBound, cols.count)
            }
        }
    }
}
