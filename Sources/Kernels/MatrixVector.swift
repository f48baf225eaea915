import COpenBLAS

extension GEMMEngine {
    /// y[rows] = A x (+ bias) for a row-major A [rows, columns] (leading dimension `lda`), x and the bias in the
    /// engine's precision: one token through a layer, which a GEMM does several times slower (decoding is
    /// bound by the bytes of A, which bfloat16 halves). bfloat16 products are exact in float32 and summed
    /// there; as with `multiply`, a bfloat16 engine rounds each result to bfloat16, and y may be bfloat16.
    /// The rows are cut into fixed blocks of `matvecBlock`, each computed on one thread of the pool, so the
    /// bits do not depend on the thread count.
    @_specialize(exported: true, where Element == Float, Output == Float)
    @_specialize(exported: true, where Element == BFloat16, Output == Float)
    @_specialize(exported: true, where Element == BFloat16, Output == BFloat16)
    public func multiplyVector<Element: GEMMElement, Output: GEMMElement>(
        _ a: UnsafePointer<Element>, _ x: UnsafePointer<Element>, into y: UnsafeMutablePointer<Output>,
        rows: Int, columns: Int, bias: UnsafePointer<Element>? = nil, lda: Int? = nil
    ) {
        precondition(rows >= 0 && columns >= 0, "matvec: negative dimension rows=\(rows) columns=\(columns)")
        precondition(Element.precision == precision, "matvec: \(Element.precision.rawValue) matrix on a \(self) engine")
        precondition(Output.precision == .fp32 || precision == .bf16, "matvec: a bfloat16 result needs a bf16 engine")
        if rows == 0 { return }
        GEMMEngine.prepareLibraries
        let lda = lda ?? columns
        let blocks = (rows + matvecBlock - 1) / matvecBlock
        switch precision {
        case .fp32:
            let a = UnsafeRawPointer(a).assumingMemoryBound(to: Float.self)
            let x = UnsafeRawPointer(x).assumingMemoryBound(to: Float.self)
            let y = UnsafeMutableRawPointer(y).assumingMemoryBound(to: Float.self)
            let bias = bias.map { UnsafeRawPointer($0).assumingMemoryBound(to: Float.self) }
            Parallel.forEachItem(blocks, slots: blocks) { block, _ in
                let start = block * matvecBlock, count = min(matvecBlock, rows - start)
                if let bias { (y + start).update(from: bias + start, count: count) }
                cblas_sgemv(CblasRowMajor, CblasNoTrans, Int32(count), Int32(columns), 1, a + start * lda, Int32(lda),
                            x, 1, bias == nil ? 0 : 1, y + start, 1)
            }
        case .bf16:
            let a = UnsafeRawPointer(a).assumingMemoryBound(to: BFloat16.self)
            let widened = (0..<columns).map { x[$0].floatValue }
            widened.withUnsafeBufferPointer { xr in
                let xr = xr.baseAddress!
                Parallel.forEachItem(blocks, slots: blocks) { block, _ in
                    let start = block * matvecBlock
                    for r in start..<min(start + matvecBlock, rows) {
                        let sum = Self.dot(a + r * lda, xr, columns) + (bias?[r].floatValue ?? 0)
                        y[r] = Output(BFloat16(sum).float)
                    }
                }
            }
        }
    }

    /// Σ w[i] * x[i] for bfloat16 w and float32 x, 16 lanes in a fixed order.
    @inline(__always)
    static func dot(_ w: UnsafePointer<BFloat16>, _ x: UnsafePointer<Float>, _ count: Int) -> Float {
        var acc = SIMD16<Float>(), i = 0
        while i + 16 <= count {
            acc += BFloat16.load(w + i) * UnsafeRawPointer(x + i).loadUnaligned(as: SIMD16<Float>.self)
            i += 16
        }
        var total = acc.sum()
        while i < count { total += w[i].float * x[i]; i += 1 }
        return total
    }
}

/// Rows per block of `GEMMEngine.multiplyVector`.
public let matvecBlock = 512
