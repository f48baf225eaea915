import CDNNL
#if canImport(Glibc)
import Glibc
#endif

/// oneDNN (Debian's libdnnl-dev 2.6): float32 GEMMs through dnnl_sgemm and bfloat16 ones (float32
/// accumulation and output) through the matmul primitive, its only bfloat16 path in the C API. Every call
/// is single-threaded: the calling thread's OpenMP team is set to 1, so oneDNN never splits a tile.
enum OneDNN {
    /// The CPU engine every primitive and memory object belongs to.
    nonisolated(unsafe) static let engine: dnnl_engine_t = {
        var engine: dnnl_engine_t?
        check(dnnl_engine_create(&engine, dnnl_cpu, 0), "creating the CPU engine")
        return engine!
    }()

    /// The instruction set oneDNN's kernels use on this CPU (DNNL_MAX_CPU_ISA may lower it).
    static var instructionSet: String {
        let isa = dnnl_get_effective_cpu_isa()
        let names: [(dnnl_cpu_isa_t, String)] = [
            (dnnl_cpu_isa_avx512_core_amx, "avx512_core_amx"), (dnnl_cpu_isa_avx512_core_bf16, "avx512_core_bf16"),
            (dnnl_cpu_isa_avx512_core_vnni, "avx512_core_vnni"), (dnnl_cpu_isa_avx512_core, "avx512_core"),
            (dnnl_cpu_isa_avx2_vnni, "avx2_vnni"), (dnnl_cpu_isa_avx2, "avx2"), (dnnl_cpu_isa_avx, "avx"),
            (dnnl_cpu_isa_sse41, "sse41"),
        ]
        return names.first { isa.rawValue & $0.0.rawValue == $0.0.rawValue && $0.0.rawValue != 0 }?.1 ?? "generic"
    }

    /// Whether oneDNN multiplies bfloat16 with native instructions here (AVX512_BF16 or AMX); without
    /// them it would emulate bfloat16, slower than float32.
    static var hasNativeBFloat16: Bool {
        let bf16 = dnnl_cpu_isa_avx512_core_bf16.rawValue
        return dnnl_get_effective_cpu_isa().rawValue & bf16 == bf16
    }

    /// "2.6.3" and the runtime it was built with.
    static var version: String {
        let v = dnnl_version().pointee
        return "\(v.major).\(v.minor).\(v.patch)"
    }

    static func check(_ status: dnnl_status_t, _ what: @autoclosure () -> String) {
        precondition(status == dnnl_success, "oneDNN failed \(what()): status \(status.rawValue)")
    }

    /// C = alpha * op(A) op(B) + beta * C in float32 on the calling thread (row-major, as cblas_sgemm).
    static func sgemm(transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int, alpha: Float,
                      a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int, beta: Float,
                      c: UnsafeMutablePointer<Float>, ldc: Int) {
        _ = CallerState.current
        let (t, nt) = (CChar(UInt8(ascii: "T")), CChar(UInt8(ascii: "N")))
        check(dnnl_sgemm(transposeA ? t : nt, transposeB ? t : nt, Int64(m), Int64(n), Int64(k), alpha, a, Int64(lda),
                         b, Int64(ldb), beta, c, Int64(ldc)), "in sgemm \(m)x\(n)x\(k)")
    }

    /// The arguments that make a matmul primitive (pointers come at execution).
    struct MatmulShape: Hashable {
        let m: Int, n: Int, k: Int
        let transposeA: Bool, transposeB: Bool
        let lda: Int, ldb: Int, ldc: Int
        let alpha: Float, beta: Float
        /// A bfloat16 bias [n] added to every row.
        let bias: Bool
    }

    /// C = alpha * op(A) op(B) + beta * C (+ bias) with A and B in bfloat16, on the calling thread.
    static func matmulBF16(_ shape: MatmulShape, a: UnsafeRawPointer, b: UnsafeRawPointer, c: UnsafeMutablePointer<Float>,
                           bias: UnsafeRawPointer?) {
        let state = CallerState.current
        let primitive = state.primitive(shape)
        var memories: [dnnl_memory_t?] = []
        func memory(_ desc: UnsafePointer<dnnl_memory_desc_t>, _ handle: UnsafeRawPointer) -> dnnl_memory_t? {
            var memory: dnnl_memory_t?
            check(dnnl_memory_create(&memory, desc, engine, UnsafeMutableRawPointer(mutating: handle)), "creating a memory object")
            memories.append(memory)
            return memory
        }
        var args = [dnnl_exec_arg_t(arg: DNNL_ARG_SRC, memory: memory(primitive.descriptors + 0, a)),
                    dnnl_exec_arg_t(arg: DNNL_ARG_WEIGHTS, memory: memory(primitive.descriptors + 1, b)),
                    dnnl_exec_arg_t(arg: DNNL_ARG_DST, memory: memory(primitive.descriptors + 2, c))]
        if let bias { args.append(dnnl_exec_arg_t(arg: DNNL_ARG_BIAS, memory: memory(primitive.descriptors + 4, bias))) }
        if primitive.scratchpadBytes > 0 {
            args.append(dnnl_exec_arg_t(arg: DNNL_ARG_SCRATCHPAD,
                                        memory: memory(primitive.descriptors + 3, state.scratchpad(primitive.scratchpadBytes))))
        }
        check(dnnl_primitive_execute(primitive.primitive, state.stream, Int32(args.count), args), "executing a bf16 matmul")
        for memory in memories { dnnl_memory_destroy(memory) }
    }
}

/// A bfloat16 matmul primitive for one `MatmulShape`: strided bf16 A [m, k] and B [k, n] (transposes are
/// strides), float32 C [m, n] with leading dimension ldc, alpha as the output scale, beta as a sum post-op,
/// an optional bfloat16 bias. Each thread keeps its own (`CallerState.primitive`), so looking one up takes
/// no lock (oneDNN's own primitive cache shares the generated code); each execution brings the caller's
/// scratchpad (oneDNN's user scratchpad mode).
final class MatmulPrimitive {
    let primitive: dnnl_primitive_t
    /// A, B, C, the scratchpad and the bias.
    let descriptors: UnsafeMutablePointer<dnnl_memory_desc_t>
    let scratchpadBytes: Int

    deinit {
        dnnl_primitive_destroy(primitive)
        descriptors.deallocate()
    }

    init(_ s: OneDNN.MatmulShape) {
        let check = OneDNN.check
        let descriptors = UnsafeMutablePointer<dnnl_memory_desc_t>.allocate(capacity: 5)
        descriptors.initialize(repeating: dnnl_memory_desc_t(), count: 5)
        self.descriptors = descriptors
        func describe(_ index: Int, rows: Int, columns: Int, type: dnnl_data_type_t, transposed: Bool, ld: Int) {
            let dims: [Int64] = [Int64(rows), Int64(columns)]
            let strides: [Int64] = transposed ? [1, Int64(ld)] : [Int64(ld), 1]
            check(dnnl_memory_desc_init_by_strides(descriptors + index, 2, dims, type, strides), "describing a \(rows)x\(columns) matrix")
        }
        describe(0, rows: s.m, columns: s.k, type: dnnl_bf16, transposed: s.transposeA, ld: s.lda)
        describe(1, rows: s.k, columns: s.n, type: dnnl_bf16, transposed: s.transposeB, ld: s.ldb)
        describe(2, rows: s.m, columns: s.n, type: dnnl_f32, transposed: false, ld: s.ldc)
        if s.bias { describe(4, rows: 1, columns: s.n, type: dnnl_bf16, transposed: false, ld: s.n) }
        var operation = dnnl_matmul_desc_t()
        check(dnnl_matmul_desc_init(&operation, descriptors, descriptors + 1, s.bias ? descriptors + 4 : nil, descriptors + 2),
              "describing a matmul")
        var attributes: dnnl_primitive_attr_t?
        check(dnnl_primitive_attr_create(&attributes), "creating attributes")
        defer { dnnl_primitive_attr_destroy(attributes) }
        check(dnnl_primitive_attr_set_scratchpad_mode(attributes, dnnl_scratchpad_mode_user), "setting the scratchpad mode")
        if s.alpha != 1 {
            var alpha = s.alpha
            check(dnnl_primitive_attr_set_output_scales(attributes, 1, 0, &alpha), "setting alpha")
        }
        if s.beta != 0 {
            var postOps: dnnl_post_ops_t?
            check(dnnl_post_ops_create(&postOps), "creating post-ops")
            defer { dnnl_post_ops_destroy(postOps) }
            check(dnnl_post_ops_append_sum(postOps, s.beta), "adding beta * C")
            check(dnnl_primitive_attr_set_post_ops(attributes, postOps), "setting post-ops")
        }
        var descriptor: dnnl_primitive_desc_t?
        check(dnnl_primitive_desc_create(&descriptor, &operation, attributes, OneDNN.engine, nil),
              "finding a bf16 matmul for \(s)")
        defer { dnnl_primitive_desc_destroy(descriptor) }
        let scratchpad = dnnl_primitive_desc_query_md(descriptor, dnnl_query_scratchpad_md, 0)!
        descriptors[3] = scratchpad.pointee
        scratchpadBytes = dnnl_memory_desc_get_size(scratchpad)
        var primitive: dnnl_primitive_t?
        check(dnnl_primitive_create(&primitive, descriptor), "creating a bf16 matmul")
        self.primitive = primitive!
    }
}

/// What a thread that calls oneDNN keeps: its OpenMP team set to 1, a stream, its matmul primitives, and a
/// scratchpad that grows to the largest a primitive asked for. Made on a thread's first call, freed when
/// the thread exits.
final class CallerState {
    let stream: dnnl_stream_t
    private var primitives: [OneDNN.MatmulShape: MatmulPrimitive] = [:]
    private var scratch: UnsafeMutableRawPointer?
    private var scratchBytes = 0

    func primitive(_ shape: OneDNN.MatmulShape) -> MatmulPrimitive {
        if let made = primitives[shape] { return made }
        let made = MatmulPrimitive(shape)
        primitives[shape] = made
        return made
    }

    private init() {
        _ = tooltune_omp_set_num_threads(1)
        var stream: dnnl_stream_t?
        OneDNN.check(dnnl_stream_create(&stream, OneDNN.engine, dnnl_stream_default_flags.rawValue), "creating a stream")
        self.stream = stream!
    }

    deinit {
        primitives = [:]
        dnnl_stream_destroy(stream)
        scratch?.deallocate()
    }

    func scratchpad(_ bytes: Int) -> UnsafeRawPointer {
        if bytes > scratchBytes {
            scratch?.deallocate()
            scratch = .allocate(byteCount: bytes, alignment: 64)
            scratchBytes = bytes
        }
        return UnsafeRawPointer(scratch!)
    }

    private static let key: pthread_key_t = {
        var key = pthread_key_t()
        let status = pthread_key_create(&key) { state in
            if let state { Unmanaged<CallerState>.fromOpaque(state).release() }
        }
        precondition(status == 0, "pthread_key_create failed: \(status)")
        return key
    }()

    /// The calling thread's state, made on first use.
    static var current: CallerState {
        if let state = pthread_getspecific(key) { return Unmanaged<CallerState>.fromOpaque(state).takeUnretainedValue() }
        let state = CallerState()
        pthread_setspecific(key, Unmanaged.passRetained(state).toOpaque())
        return state
    }
}
