import Foundation
import Synchronization

/// SIGINT, SIGTERM and SIGUSR1 ask long work to stop where it can stop cleanly instead of killing it
/// mid-write: a training run at the next step boundary (after writing a checkpoint), prepare between files
/// or sequences (removing what it had not published). A second signal ends the process at once.
///
/// SIGUSR1 is the one to send to mpirun: it forwards USR1 to every rank and leaves them running, while
/// it answers INT or TERM by sending TERM to the ranks and KILL a second later (Open MPI 4's
/// odls_base_sigkill_timeout), which is too soon for a step and a checkpoint of a real model.
public enum StopSignal {
    private static let received = Atomic<Int32>(0)
    private static let installed = Atomic<Bool>(false)

    /// The signal that asked to stop, or nil.
    public static var requested: Int32? {
        let signal = received.load(ordering: .relaxed)
        return signal == 0 ? nil : signal
    }

    /// Work stopped by a signal, at a point where it could stop cleanly.
    public struct Interrupted: Error, CustomStringConvertible {
        public let signal: Int32
        /// What was stopped and what became of its output.
        public let what: String
        public var description: String { "\(what): stopped by \(signal == SIGINT ? "SIGINT" : signal == SIGTERM ? "SIGTERM" : "signal \(signal)")" }
        /// The shell's convention for a process ended by a signal.
        public var exitStatus: Int32 { 128 + signal }
    }

    /// Throws `Interrupted` once a signal has asked to stop.
    public static func check(_ what: @autoclosure () -> String) throws(Interrupted) {
        if let signal = requested { throw Interrupted(signal: signal, what: what()) }
    }

    /// Installs the handling once (later calls do nothing). Under mpirun every rank gets the forwarded
    /// signal; only the coordinator's decision counts (it is broadcast), the others just must not die.
    ///
    /// The signals are blocked in the calling thread and every thread it starts from now on (the kernels'
    /// workers) and taken by a thread of their own with sigwait: a handler that interrupts oneDNN's
    /// generated code corrupts memory (the heap, about one signal in 15 here). Threads that existed before
    /// (MPI's, OpenBLAS's pool) keep a handler that does the same, so no thread dies of the default action.
    public static func install() {
        guard !installed.exchange(true, ordering: .relaxed) else { return }
        var signals = sigset_t()
        sigemptyset(&signals)
        sigaddset(&signals, SIGINT)
        sigaddset(&signals, SIGTERM)
        sigaddset(&signals, SIGUSR1)
        for sig in [SIGINT, SIGTERM, SIGUSR1] {
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
