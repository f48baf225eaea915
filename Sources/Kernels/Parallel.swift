import Dispatch
import Foundation
import Synchronization

/// A parallel-for over contiguous chunks of an index range, on DispatchQueue.concurrentPerform.
public enum Parallel {
    private static let threads = Atomic<Int>(ProcessInfo.processInfo.activeProcessorCount)

    /// How many workers `forEach` uses (at least 1). Defaults to the number of active CPUs.
    public static var threadCount: Int {
        get { threads.load(ordering: .relaxed) }
        set { threads.store(max(1, newValue), ordering: .relaxed) }
    }

    /// Calls `body` on disjoint, contiguous sub-ranges covering `0..<count`, at most `threadCount` at
    /// once. Ranges hold at least `minimumChunk` indices, so tiny loops stay on the calling thread.
    public static func forEach(_ count: Int, minimumChunk: Int = 1, _ body: (Range<Int>) -> Void) {
        guard count > 0 else { return }
        let workers = min(threadCount, max(1, count / max(1, minimumChunk)))
        if workers == 1 {
            body(0..<count)
            return
        }
        withoutActuallyEscaping(body) { body in
            let task = UncheckedSendable(body)
            DispatchQueue.concurrentPerform(iterations: workers) { w in
                let lower = count * w / workers
                let upper = count * (w + 1) / workers
                if lower < upper { task.value(lower..<upper) }
            }
        }
    }
}

/// Lets a closure that writes disjoint slices of shared buffers run on worker threads: the caller
/// guarantees the ranges do not overlap, which Swift's Sendable checking cannot see.
struct UncheckedSendable<Value>: @unchecked Sendable {
    let value: Value
    init(_ value: Value) { self.value = value }
}
