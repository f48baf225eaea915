import Foundation
import Synchronization

/// SIGINT and SIGTERM ask long work to stop where it can stop cleanly instead of killing it mid-write: a
/// training run at the next step boundary (after writing a checkpoint), prepare between files or
/// sequences (removing what it had not published). A second signal ends the process at once.
public enum StopSignal {
    private static let received = Atomic<Int32>(0)

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

    /// Installs the handlers (again is harmless). Under mpirun every rank gets the forwarded signal; only the coordinator's
    /// decision counts (it is broadcast), the others just must not die.
    public static func install() {
        // A launcher may have blocked them (the mask is inherited); unblock so they arrive.
        var unblock = sigset_t()
        sigemptyset(&unblock)
        sigaddset(&unblock, SIGINT)
        sigaddset(&unblock, SIGTERM)
        sigprocmask(SIG_UNBLOCK, &unblock, nil)
        for sig in [SIGINT, SIGTERM] {
            signal(sig) { number in
                if StopSignal.received.exchange(number, ordering: .relaxed) != 0 {
                    _exit(128 + number)
                }
            }
        }
    }
}
