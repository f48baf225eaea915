#if canImport(Glibc)
import Glibc
#endif

/// CPU time this process has used, all threads together: a benchmark's measure that other work on a
/// shared machine does not inflate the way it inflates wall time (a step's FLOPs per CPU-second, times
/// the threads, is the rate the step would run at on idle cores).
public enum ProcessCPUTime {
    /// Seconds of CPU time so far.
    public static func seconds() -> Double {
        var now = timespec()
        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &now)
        return Double(now.tv_sec) + Double(now.tv_nsec) * 1e-9
    }
}
