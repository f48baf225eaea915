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

    /// Installs the handlers. Under mpirun every rank gets the forwarded signal; only the coordinator's
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
