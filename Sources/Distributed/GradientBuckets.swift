import Foundation

/// Sums a flat Float gradient buffer over all ranks in buckets, starting each bucket's allreduce as soon
/// as backward has finished the parameters in it, so communication overlaps the rest of backward.
///
/// Backward reports finished ranges (`ready`) in a fixed order, walking down the buffer; adjacent ranges
/// are merged into buckets of about `bucketElements` values. Every rank forms the same buckets in the same
/// order, which MPI requires of collectives. With a background thread (MPI granted at least SERIALIZED),
/// a bucket is reduced while the main thread computes; otherwise the buckets are reduced in `finish`.
/// Between the first `ready` and `finish`, the main thread must make no MPI calls of its own.
public final class GradientBuckets: @unchecked Sendable {
    public struct Timing: Sendable {
        /// Seconds spent inside allreduce calls.
        public var communication: Double
        /// Seconds `finish` waited for allreduces still running after backward ended.
        public var wait: Double
    }

    /// How the buckets are summed.
    public let reducer: GradientReducer
    private let buffer: UnsafeMutablePointer<Float>
    private let bucketElements: Int
    private let worker: Worker?
    private var pending: Range<Int>?
    private var synchronous: [Range<Int>] = []

    /// `buffer` holds the gradients; it must stay allocated while this object lives. Buckets are summed
    /// with MPI_Allreduce over `comm`.
    public convenience init(comm: Communicator, buffer: UnsafeMutablePointer<Float>, bucketBytes: Int) {
        self.init(reducer: GradientReducer(comm: comm), buffer: buffer, bucketBytes: bucketBytes)
    }

    /// Buckets are summed by `reducer`.
    public init(reducer: GradientReducer, buffer: UnsafeMutablePointer<Float>, bucketBytes: Int) {
        let comm = reducer.comm
        self.reducer = reducer
        self.buffer = buffer
        bucketElements = max(1, bucketBytes / MemoryLayout<Float>.stride)
        let canOverlap = comm.size > 1 && (comm.threadLevel == .serialized || comm.threadLevel == .multiple)
        worker = canOverlap ? Worker(reducer: reducer, buffer: buffer) : nil
    }

    deinit { worker?.stop() }

    /// Whether allreduces run beside backward (a background thread) or after it.
    public var overlaps: Bool { worker != nil }

    /// Backward has finished `range`; ranges arrive walking down the buffer (each ends where the
    /// previous began) and together cover it exactly once per step.
    public func ready(_ range: Range<Int>) {
        guard !range.isEmpty else { return }
        if let current = pending, current.lowerBound == range.upperBound {
            pending = range.lowerBound..<current.upperBound
        } else {
            if let current = pending { send(current) }
            pending = range
        }
        while let current = pending, current.count >= bucketElements {
            send((current.upperBound - bucketElements)..<current.upperBound)
            pending = current.lowerBound < current.upperBound - bucketElements
                ? current.lowerBound..<(current.upperBound - bucketElements) : nil
        }
    }

    private func send(_ range: Range<Int>) {
        if let worker { worker.enqueue(range) } else { synchronous.append(range) }
    }

    /// Sends what is left and waits until every bucket of the step is reduced on this rank.
    public func finish() throws -> Timing {
        if let current = pending { send(current) }
        pending = nil
        if let worker {
            let start = Date()
            let communication = try worker.drain()
            return Timing(communication: communication, wait: Date().timeIntervalSince(start))
        }
        let start = Date()
        defer { synchronous.removeAll() }
        for range in synchronous {
            try reducer.sum(UnsafeMutableBufferPointer(start: buffer + range.lowerBound, count: range.count))
        }
        let seconds = Date().timeIntervalSince(start)
        return Timing(communication: seconds, wait: seconds)
    }

    /// A thread that reduces queued ranges one after another.
    private final class Worker: @unchecked Sendable {
        /// How the buckets are summed.
    public let reducer: GradientReducer
        private let buffer: UnsafeMutablePointer<Float>
        private let condition = NSCondition()
        /// nil asks the thread to end.
        private var queue: [Range<Int>?] = []
        private var inFlight = 0
        private var seconds = 0.0
        private var failure: Error?

        init(reducer: GradientReducer, buffer: UnsafeMutablePointer<Float>) {
            self.reducer = reducer
            self.buffer = buffer
            // The thread holds the worker until `stop` lets it end.
            let thread = Thread { self.run() }
            thread.name = "tooltune-allreduce"
            thread.start()
        }

        func enqueue(_ range: Range<Int>) {
            condition.lock()
            queue.append(range)
            inFlight += 1
            condition.signal()
            condition.unlock()
        }

        func stop() {
            condition.lock()
            queue.append(nil)
            condition.signal()
            condition.unlock()
        }

        /// Waits for the queue to empty; returns the seconds spent in allreduce since the last drain.
        func drain() throws -> Double {
            condition.lock()
            defer { condition.unlock() }
            while inFlight > 0 { condition.wait() }
            defer {
                seconds = 0
                failure = nil
            }
            if let failure { throw failure }
            return seconds
        }

        private func run() {
            while true {
                condition.lock()
                while queue.isEmpty { condition.wait() }
                guard let range = queue.removeFirst() else {
                    condition.unlock()
                    return
                }
                let failed = failure != nil
                condition.unlock()
                let start = Date()
                var error: Error?
                if !failed {
                    do {
                        try reducer.sum(UnsafeMutableBufferPointer(start: buffer + range.lowerBound, count: range.count))
                    } catch let e {
                        error = e
                    }
                }
                condition.lock()
                seconds += Date().timeIntervalSince(start)
                if let error, failure == nil { failure = error }
                inFlight -= 1
                condition.broadcast()
                condition.unlock()
            }
        }
    }
}
