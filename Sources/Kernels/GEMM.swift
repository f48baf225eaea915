import COpenBLAS
#if canImport(Glibc)
import Glibc
#endif

/// The library that multiplies one tile.
public enum GEMMBackend: String, CaseIterable, Sendable, Codable {
    /// OpenBLAS's cblas_sgemm (float32 only: Debian's OpenBLAS 0.3.21 has no bfloat16 GEMM).
    case openblas
    /// oneDNN: dnnl_sgemm for float32, the matmul primitive for bfloat16.
    case onednn
}

/// What a GEMM's inputs are read in. Products are accumulated and returned in float32 either way.
public enum Precision: String, CaseIterable, Sendable, Codable {
    case fp32
    /// bfloat16 inputs, float32 accumulation and output: torch.autocast's matmuls on CPU.
    case bf16
}

/// An engine or thread setting that cannot be used on this machine.
public struct GEMMEngineError: Error, CustomStringConvertible, Equatable {
    public let message: String
    public var description: String { message }
    public init(_ message: String) { self.message = message }
}

/// Every matrix product of the model goes through a `GEMMEngine`: C = alpha * op(A) op(B) + beta * C with
/// row-major matrices, inputs in the engine's precision and C in float32.
///
/// Determinism by construction: the engine, not the library, decides how a product is split. C is cut into
/// tiles whose shape is a function of (m, n, k) alone (`TilePlan`); each tile is one single-threaded library
/// call over the whole k, and ToolTune's pool (`Parallel`) hands the tiles to its workers. Which worker
/// computes a tile, and how many workers there are, cannot change a single sum: every element of C is
/// computed by the same call with the same arguments on 1, 2 or 64 threads, and a library's own threading
/// (OpenBLAS's panel split, oneDNN's k split) is never used. The bits do depend on the backend, the
/// precision and the kernels the library runs on this CPU (OpenBLAS's Haswell and SkylakeX kernels add in
/// different orders), as any two float32 implementations differ; on one machine they depend on nothing else.
public struct GEMMEngine: Sendable, Hashable, CustomStringConvertible {
    public let backend: GEMMBackend
    public let precision: Precision

    /// An engine this machine can run: bfloat16 needs oneDNN and a CPU with bfloat16 instructions
    /// (AVX512_BF16 or AMX), where oneDNN's kernels multiply bfloat16 natively.
    public init(backend: GEMMBackend, precision: Precision = .fp32) throws {
        if precision == .bf16 {
            guard backend == .onednn else {
                throw GEMMEngineError("bf16 GEMMs need the onednn backend (Debian's OpenBLAS has no bfloat16 GEMM)")
            }
            guard OneDNN.hasNativeBFloat16 else {
                throw GEMMEngineError("bf16 needs a CPU with bfloat16 instructions (AVX512_BF16 or AMX); this one runs oneDNN's \(OneDNN.instructionSet) kernels: use fp32")
            }
        }
        self.backend = backend
        self.precision = precision
        GEMMEngine.prepareLibraries
    }

    public var description: String { "\(backend.rawValue) \(precision.rawValue)" }

    /// oneDNN's version, e.g. "2.6.3".
    public static var oneDNNVersion: String { OneDNN.version }
    /// The instruction set oneDNN's kernels use on this CPU, e.g. "avx512_core_bf16".
    public static var oneDNNInstructionSet: String { OneDNN.instructionSet }

    /// Every engine this machine can run, float32 first.
    public static var available: [GEMMEngine] {
        [(GEMMBackend.openblas, Precision.fp32), (.onednn, .fp32), (.onednn, .bf16)].compactMap { try? GEMMEngine(backend: $0, precision: $1) }
    }

    /// The default engine: float32 on oneDNN (which ToolTune always links), what models and kernels use
    /// until told otherwise.
    public static let float32 = try! GEMMEngine(backend: .onednn)

    /// What `compute.gemm: auto` runs on: oneDNN, unless its products fail the self-check on this node
    /// (then OpenBLAS). A fixed rule rather than a timing race, so that a run's bits do not depend on how
    /// busy the node was when it started; oneDNN's sgemm was 2x OpenBLAS's Haswell kernels and 1.1x its
    /// AVX-512 ones here (`tooltune bench gemm`, `tooltune doctor` print both), and it is the only bf16
    /// backend.
    public static let automaticBackend: GEMMBackend = {
        let check = GEMMSelfCheck.run(try! GEMMEngine(backend: .onednn), threads: [1])
        return check.problems.isEmpty ? .onednn : .openblas
    }()

    /// OpenBLAS keeps one thread count for the whole process: tiles are single-threaded library calls, so
    /// it is 1 for good (a BLAS call may never split a tile).
    static let prepareLibraries: Void = { openblas_set_num_threads(1) }()
}


/// A GEMM input's element type: Float for float32 engines, BFloat16 for bfloat16 ones. Kernels that write
/// GEMM inputs (LayerNorm, ReLU, dropout) or read them (bias gradients, ReLU masks) are generic over it.
public protocol GEMMElement: Sendable {
    static var precision: Precision { get }
    /// A float32 value rounded to this type (to nearest even).
    init(_ value: Float)
    /// 16 values from `p`, widened to float32 (exactly).
    static func load(_ p: UnsafePointer<Self>) -> SIMD16<Float>
    /// 16 float32 values rounded into `p`.
    static func store(_ values: SIMD16<Float>, _ p: UnsafeMutablePointer<Self>)
    /// 16 float32 values as this type holds them (rounded to bfloat16 and back; float32 itself).
    static func stored(_ values: SIMD16<Float>) -> SIMD16<Float>
    /// The value as float32 (exact).
    var floatValue: Float { get }
}

extension Float: GEMMElement {
    public static var precision: Precision { .fp32 }
    @inlinable @inline(__always)
    public static func load(_ p: UnsafePointer<Float>) -> SIMD16<Float> { UnsafeRawPointer(p).loadUnaligned(as: SIMD16<Float>.self) }
    @inlinable @inline(__always)
    public static func store(_ values: SIMD16<Float>, _ p: UnsafeMutablePointer<Float>) {
        UnsafeMutableRawPointer(p).storeBytes(of: values, as: SIMD16<Float>.self)
    }
    @inlinable @inline(__always)
    public static func stored(_ values: SIMD16<Float>) -> SIMD16<Float> { values }
    @inlinable @inline(__always)
    public var floatValue: Float { self }
}

extension BFloat16: GEMMElement {
    public static var precision: Precision { .bf16 }
    @inlinable @inline(__always)
    public static func stored(_ values: SIMD16<Float>) -> SIMD16<Float> { rounded(values) }
    @inlinable @inline(__always)
    public var floatValue: Float { float }
}

/// How C is cut into tiles: `rows` x `columns` tiles from the top-left, the last row and column of tiles
/// holding what is left. A function of the product's shape alone, never of the thread count.
public struct TilePlan: Sendable, Equatable {
    public let rows: Int
    public let columns: Int

    /// Tiles of up to 256 rows and 1024 columns (each tile's call packs its A block once and its B block
    /// once, so larger tiles pack less per FLOP); smaller ones when that gives fewer than 8 tiles, so that
    /// a few workers still share the work evenly. Tiles never go below 64 x 256.
    public init(m: Int, n: Int) {
        var rows = min(m, 256), columns = min(n, 1024)
        func tiles() -> Int { ((m + rows - 1) / rows) * ((n + columns - 1) / columns) }
        while tiles() < 8 {
            if rows > 64 && rows >= columns / 4 {
                rows = (rows + 1) / 2
            } else if columns > 256 {
                columns = (columns + 1) / 2
            } else {
                break
            }
        }
        self.rows = max(1, rows)
        self.columns = max(1, columns)
    }

    public func count(m: Int, n: Int) -> Int { ((m + rows - 1) / rows) * ((n + columns - 1) / columns) }
}

extension GEMMEngine {
    /// C[m, n] = alpha * op(A) op(B) + beta * C, plus `bias[n]` on every row when given (in the inputs'
    /// precision, as torch.autocast casts a linear's bias; then beta must be 0; the bias is added to each
    /// finished sum, as torch's addmm). op(A) is [m, k] (A stored [k, m] with
    /// `transposeA`), op(B) is [k, n] (B stored [n, k] with `transposeB`); leading dimensions default to
    /// packed rows and may be wider to address a block of a larger matrix.
    ///
    /// bfloat16 engines follow torch.autocast on the CPU, whose matmuls return bfloat16: the float32 sum
    /// (alpha times the product, plus the bias) is rounded to bfloat16 and then written to C, or added to
    /// it with beta (autograd adds bfloat16 gradients into float32 ones). C may be bfloat16 itself (beta 0).
    /// `rounding: false` keeps the float32 sum instead, for a product that autocast makes in one matmul but
    /// the caller in several (rounding once at the end). float32 engines never round and C is float32.
    ///
    /// The tiles run on the pool (`Parallel`), or one after the other on the calling thread with
    /// `parallel: false` (for callers that are pool workers themselves); the bits are the same either way.
    public func multiply<Element: GEMMElement, Output: GEMMElement>(
        _ a: UnsafePointer<Element>, _ b: UnsafePointer<Element>, into c: UnsafeMutablePointer<Output>,
        m: Int, n: Int, k: Int, transposeA: Bool = false, transposeB: Bool = false,
        alpha: Float = 1, beta: Float = 0, bias: UnsafePointer<Element>? = nil,
        lda: Int? = nil, ldb: Int? = nil, ldc: Int? = nil, rounding: Bool = true, parallel: Bool = true
    ) {
        precondition(m >= 0 && n >= 0 && k >= 0, "GEMM: negative dimension m=\(m) n=\(n) k=\(k)")
        precondition(Element.precision == precision, "GEMM: \(Element.precision.rawValue) inputs on a \(self) engine")
        precondition(bias == nil || beta == 0, "GEMM: a bias with beta \(beta)")
        precondition(Output.precision == .fp32 || (precision == .bf16 && beta == 0 && rounding),
                     "GEMM: a bfloat16 result needs a bf16 engine, beta 0 and rounding")
        if m == 0 || n == 0 { return }
        let call = TileCall(engine: self, a: UnsafeRawPointer(a), b: UnsafeRawPointer(b), c: UnsafeMutableRawPointer(c),
                            roundedOutput: Output.precision == .bf16, m: m, n: n, k: k,
                            transposeA: transposeA, transposeB: transposeB, alpha: alpha, beta: beta,
                            bias: bias.map(UnsafeRawPointer.init),
                            lda: lda ?? (transposeA ? m : k), ldb: ldb ?? (transposeB ? k : n), ldc: ldc ?? n,
                            rounding: precision == .bf16 && rounding)
        let plan = TilePlan(m: m, n: n)
        let across = (n + plan.columns - 1) / plan.columns
        let tiles = plan.count(m: m, n: n)
        if !parallel || tiles == 1 {
            for t in 0..<tiles { call.run(tile: t, plan: plan, across: across) }
            return
        }
        Parallel.forEachItem(tiles, slots: tiles) { t, _ in call.run(tile: t, plan: plan, across: across) }
    }
}

/// One product, cut into tiles; `run(tile:)` computes one of them with a single-threaded library call.
struct TileCall: @unchecked Sendable {
    let engine: GEMMEngine
    let a: UnsafeRawPointer, b: UnsafeRawPointer
    /// Float, or BFloat16 when `roundedOutput`.
    let c: UnsafeMutableRawPointer
    let roundedOutput: Bool
    let m: Int, n: Int, k: Int
    let transposeA: Bool, transposeB: Bool
    let alpha: Float, beta: Float
    /// [n] in the engine's precision.
    let bias: UnsafeRawPointer?
    let lda: Int, ldb: Int, ldc: Int
    /// Round each finished sum to bfloat16 (bf16 engines).
    let rounding: Bool

    func run(tile t: Int, plan: TilePlan, across: Int) {
        let i0 = (t / across) * plan.rows, j0 = (t % across) * plan.columns
        let rows = min(plan.rows, m - i0), columns = min(plan.columns, n - j0)
        let size = engine.precision == .bf16 ? 2 : 4
        // Row i0 of op(A) is row i0 of A, or column i0 when A is stored transposed; column j0 of op(B) likewise.
        let aTile = a + (transposeA ? i0 : i0 * lda) * size
        let bTile = b + (transposeB ? j0 * ldb : j0) * size
        let offset = i0 * ldc + j0
        switch (engine.backend, engine.precision) {
        case (.openblas, _):
            let cTile = c.assumingMemoryBound(to: Float.self) + offset
            cblas_sgemm(CblasRowMajor, transposeA ? CblasTrans : CblasNoTrans, transposeB ? CblasTrans : CblasNoTrans,
                        Int32(rows), Int32(columns), Int32(k), alpha,
                        aTile.assumingMemoryBound(to: Float.self), Int32(lda),
                        bTile.assumingMemoryBound(to: Float.self), Int32(ldb), beta, cTile, Int32(ldc))
            addBias(cTile, ld: ldc, j0: j0, rows: rows, columns: columns)
        case (.onednn, .fp32):
            let cTile = c.assumingMemoryBound(to: Float.self) + offset
            OneDNN.sgemm(transposeA: transposeA, transposeB: transposeB, m: rows, n: columns, k: k, alpha: alpha,
                         a: aTile.assumingMemoryBound(to: Float.self), lda: lda,
                         b: bTile.assumingMemoryBound(to: Float.self), ldb: ldb, beta: beta, c: cTile, ldc: ldc)
            addBias(cTile, ld: ldc, j0: j0, rows: rows, columns: columns)
        case (.onednn, .bf16):
            // The float32 sums go to a scratch tile (the same primitive whatever C is), then into C: rounded
            // into a bfloat16 C, or rounded (or not) and written or added with beta into a float32 one.
            let sums = ThreadScratch.floats(rows * columns)
            OneDNN.matmulBF16(.init(m: rows, n: columns, k: k, transposeA: transposeA, transposeB: transposeB,
                                    lda: lda, ldb: ldb, ldc: columns, alpha: alpha, beta: 0, bias: bias != nil),
                              a: aTile, b: bTile, c: sums, bias: bias.map { $0 + 2 * j0 })
            for r in 0..<rows {
                let row = sums + r * columns
                if roundedOutput {
                    BFloat16.convert(row, into: c.assumingMemoryBound(to: BFloat16.self) + offset + r * ldc, count: columns)
                } else {
                    let out = c.assumingMemoryBound(to: Float.self) + offset + r * ldc
                    if rounding {
                        BFloat16.addRounded(row, into: out, keeping: beta, count: columns)
                    } else if beta == 0 {
                        out.update(from: row, count: columns)
                    } else {
                        VectorMath.addScaled(row, into: out, keeping: beta, columns)
                    }
                }
            }
        }
    }

    /// The bias of columns j0 ..< j0 + columns added to a finished float32 tile, while it is in cache.
    private func addBias(_ tile: UnsafeMutablePointer<Float>, ld: Int, j0: Int, rows: Int, columns: Int) {
        guard let bias = bias?.assumingMemoryBound(to: Float.self) else { return }
        for r in 0..<rows { VectorMath.add(bias + j0, into: tile + r * ld, columns) }
    }
}

/// A float buffer per thread that grows to the largest request: a GEMM tile's float32 sums before they are
/// rounded. Freed when the thread exits.
enum ThreadScratch {
    private final class Storage {
        var pointer: UnsafeMutablePointer<Float>?
        var count = 0
        deinit { pointer?.deallocate() }
    }

    private static let key: pthread_key_t = {
        var key = pthread_key_t()
        let status = pthread_key_create(&key) { storage in
            if let storage { Unmanaged<Storage>.fromOpaque(storage).release() }
        }
        precondition(status == 0, "pthread_key_create failed: \(status)")
        return key
    }()

    /// At least `count` floats owned by the calling thread, valid until its next call.
    static func floats(_ count: Int) -> UnsafeMutablePointer<Float> {
        let storage: Storage
        if let existing = pthread_getspecific(key) {
            storage = Unmanaged<Storage>.fromOpaque(existing).takeUnretainedValue()
        } else {
            storage = Storage()
            pthread_setspecific(key, Unmanaged.passRetained(storage).toOpaque())
        }
        if storage.count < count {
            storage.pointer?.deallocate()
            storage.pointer = .allocate(capacity: count)
            storage.count = count
        }
        return storage.pointer!
    }
}
