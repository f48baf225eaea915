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

/// Sizes the kernels' thread pool: `Parallel` loops and the tiles of every GEMM (each library call is
/// single-threaded).
public func useThreads(_ count: Int) {
    Parallel.threadCount = count
}

/// Lets a closure that writes disjoint slices of shared buffers run on worker threads: the caller
/// guarantees the ranges do not overlap, which Swift's Sendable checking cannot see.
struct UncheckedSendable<Value>: @unchecked Sendable {
    let value: Value
    init(_ value: Value) { self.value = value }
}

extension Parallel {
    /// Calls `body(item, slot)` once for every item in `0..<count`, handing items out one at a time to at
    /// most `slots` workers (and at most `threadCount`). `slot` (in `0..<slots`) names the worker, so each
    /// can use its own scratch memory. Items must write disjoint outputs; which worker runs an item does
    /// not change its result.
    public static func forEachItem(_ count: Int, slots: Int, _ body: (_ item: Int, _ slot: Int) -> Void) {
        let workers = min(slots, threadCount, count)
        if workers <= 1 {
            for item in 0..<count { body(item, 0) }
            return
        }
        let next = WorkCounter()
        forEach(workers) { range in
            for slot in range {
                while true {
                    let item = next.value.add(1, ordering: .relaxed).oldValue
                    if item >= count { break }
                    body(item, slot)
                }
            }
        }
    }
}

private final class WorkCounter: Sendable {
    let value = Atomic<Int>(0)
}
