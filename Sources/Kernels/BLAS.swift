import COpenBLAS

/// What OpenBLAS was built with and runs as. OpenBLAS chooses its kernels once, at load time (from
/// OPENBLAS_CORETYPE or CPU detection), so `coreName` cannot be changed from inside the process.
public enum BLAS {
    /// The build configuration string, e.g. "OpenBLAS 0.3.21 DYNAMIC_ARCH NO_AFFINITY Haswell MAX_THREADS=64".
    public static var config: String { String(cString: openblas_get_config()) }

    /// The CPU kernel set in use, e.g. "Haswell".
    public static var coreName: String { String(cString: openblas_get_corename()) }

    /// Threads each BLAS call may use: always 1 once a GEMM engine exists (`GEMMEngine` tiles every
    /// product into single-threaded calls and runs them on ToolTune's pool).
    public static var threadCount: Int {
        GEMMEngine.prepareLibraries
        return Int(openblas_get_num_threads())
    }
}
