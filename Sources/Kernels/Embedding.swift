/// Table lookups: token embeddings and learned positions.
public enum Embedding {
    /// out[n, d] = table[ids[n] + offset, :], written as float32 or rounded to bfloat16 (a mixed-precision
    /// GEMM's input). The caller has checked that every row index is inside the table.
    @_specialize(exported: true, where Element == Float)
    @_specialize(exported: true, where Element == BFloat16)
    public static func forward<Element: GEMMElement>(table: UnsafePointer<Float>, ids: UnsafePointer<Int32>, offset: Int = 0,
                                                     into out: UnsafeMutablePointer<Element>, rows n: Int, dim d: Int) {
        Parallel.forEach(n, minimumChunk: 64) { range in
            for r in range {
                let source = table + (Int(ids[r]) + offset) * d, target = out + r * d
                var i = 0
                while i + 16 <= d { Element.store(Float.load(source + i), target + i); i += 16 }
                while i < d { target[i] = Element(source[i]); i += 1 }
            }
        }
    }

    /// out[n, d] += table[ids[n] + offset, :] (the position embeddings added to the token embeddings).
    public static func add(table: UnsafePointer<Float>, ids: UnsafePointer<Int32>, offset: Int = 0,
                           into out: UnsafeMutablePointer<Float>, rows n: Int, dim d: Int) {
        Parallel.forEach(n, minimumChunk: 64) { range in
            for r in range { VectorMath.add(table + (Int(ids[r]) + offset) * d, into: out + r * d, d) }
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
