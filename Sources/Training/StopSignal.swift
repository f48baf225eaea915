import Foundation
import Synchronization

/// SIGINT and SIGTERM ask a training run to stop at the next step boundary (after writing a checkpoint)
/// instead of killing it mid-step. A second signal ends the process at once.
public enum StopSignal {
    private static let received = Atomic<Int32>(0)

    /// The signal that asked to stop, or nil.
    public static var requested: Int32? {
        let signal = received.load(ordering: .relaxed)
        return signal == 0 ? nil : signal
    }

    /// Installs the handling. Under mpirun every rank gets the forwarded signal; only the coordinator's
    /// decision counts (it is broadcast), the others just must not die.
    ///
    /// The signals are blocked in the calling thread and every thread it starts from now on (the kernels'
    /// workers) and taken by a thread of their own with sigwait: a handler that interrupts oneDNN's
    /// generated code corrupts memory (the heap, about one signal in 15 here). Threads that existed before
    /// (MPI's, OpenBLAS's pool) keep a handler that does the same, so no thread dies of the default action.
    public static func install() {
        var signals = sigset_t()
        sigemptyset(&signals)
        sigaddset(&signals, SIGINT)
        sigaddset(&signals, SIGTERM)
        for sig in [SIGINT, SIGTERM] {
            signal(sig) { number in StopSignal.record(number) }
        }
        pthread_sigmask(SIG_BLOCK, &signals, nil)
        let waiter = Thread { [signals] in
            var waited = signals
            while true {
                var number: Int32 = 0
                if sigwait(&waited, &number) == 0 { record(number) }
            }
        }
        waiter.start()
    }

    /// Async-signal-safe: the first signal is kept, a second one ends the process.
    private static func record(_ number: Int32) {
        if received.exchange(number, ordering: .relaxed) != 0 {
            _exit(128 + number)
        }
    }
}
