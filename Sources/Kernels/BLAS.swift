import COpenBLAS

/// What OpenBLAS was built with and runs as. OpenBLAS chooses its kernels once, at load time (from
/// OPENBLAS_CORETYPE or CPU detection), so `coreName` cannot be changed from inside the process.
public enum BLAS {
    /// The build configuration string, e.g. "OpenBLAS 0.3.21 DYNAMIC_ARCH NO_AFFINITY Haswell MAX_THREADS=64".
    public static var config: String { String(cString: openblas_get_config()) }

    /// The CPU kernel set in use, e.g. "Haswell".
    public static var coreName: String { String(cString: openblas_get_corename()) }

    /// Threads each BLAS call may use.
    public static var threadCount: Int {
        get { Int(openblas_get_num_threads()) }
        set { openblas_set_num_threads(Int32(max(1, newValue))) }
    }

    /// Runs `body` with BLAS limited to `count` threads, then restores the previous count. Kernels that
    /// run their own parallel loop around many small sgemm calls use this with 1 so the two thread pools
    /// do not nest.
    public static func withThreadCount<T>(_ count: Int, _ body: () throws -> T) rethrows -> T {
        let previous = threadCount
        if previous == count { return try body() }
        threadCount = count
        defer { threadCount = previous }
        return try body()
    }
}
