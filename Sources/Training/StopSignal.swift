import Foundation
import Synchronization

/// SIGINT, SIGTERM and SIGUSR1 ask a training run to stop at the next step boundary (after writing a
/// checkpoint) instead of killing it mid-step. A second signal ends the process at once.
///
/// SIGUSR1 is the one to send to mpirun: it forwards USR1 to every rank and leaves them running, while
/// it answers INT or TERM by sending TERM to the ranks and KILL a second later (Open MPI 4's
/// odls_base_sigkill_timeout), which is too soon for a step and a checkpoint of a real model.
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
        sigaddset(&unblock, SIGUSR1)
        sigprocmask(SIG_UNBLOCK, &unblock, nil)
        for sig in [SIGINT, SIGTERM, SIGUSR1] {
            signal(sig) { number in
                if StopSignal.received.exchange(number, ordering: .relaxed) != 0 {
                    _exit(128 + number)
                }
            }
        }
    }
}
