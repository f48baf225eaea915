import CMPI
import Kernels
import Foundation
import Synchronization

/// An MPI failure, named by the rank and call it happened in.
public struct MPIError: Error, CustomStringConvertible {
    public let rank: Int
    public let call: String
    public let code: Int32
    public let message: String

    public var description: String { "MPI error on rank \(rank) in \(call) (code \(code)): \(message)" }
}

/// The reduction operators ToolTune needs.
public enum ReduceOp: Sendable {
    case sum, max, min

    var handle: MPI_Op? {
        switch self {
        case .sum: tt_mpi_op_sum()
        case .max: tt_mpi_op_max()
        case .min: tt_mpi_op_min()
        }
    }
}

/// How much threading the process asks MPI for (MPI_THREAD_*).
public enum ThreadLevel: Sendable, CustomStringConvertible {
    case single, funneled, serialized, multiple

    init(mpi value: Int32) {
        switch Int(value) {
        case MPI_THREAD_SINGLE: self = .single
        case MPI_THREAD_FUNNELED: self = .funneled
        case MPI_THREAD_SERIALIZED: self = .serialized
        default: self = .multiple
        }
    }

    var mpi: Int32 {
        switch self {
        case .single: Int32(MPI_THREAD_SINGLE)
        case .funneled: Int32(MPI_THREAD_FUNNELED)
        case .serialized: Int32(MPI_THREAD_SERIALIZED)
        case .multiple: Int32(MPI_THREAD_MULTIPLE)
        }
    }

    public var description: String {
        switch self {
        case .single: "single"
        case .funneled: "funneled"
        case .serialized: "serialized"
        case .multiple: "multiple"
        }
    }
}

/// Element types that map onto an MPI datatype.
public protocol MPIScalar: Sendable {
    static var mpiDatatype: MPI_Datatype? { get }
}

extension Float: MPIScalar { public static var mpiDatatype: MPI_Datatype? { tt_mpi_float() } }
extension Double: MPIScalar { public static var mpiDatatype: MPI_Datatype? { tt_mpi_double() } }
extension Int32: MPIScalar { public static var mpiDatatype: MPI_Datatype? { tt_mpi_int32() } }
extension Int64: MPIScalar { public static var mpiDatatype: MPI_Datatype? { tt_mpi_int64() } }
extension UInt8: MPIScalar { public static var mpiDatatype: MPI_Datatype? { tt_mpi_uint8() } }
/// Moved as its 16 bits; MPI never adds bfloat16 here (`GradientReducer` sums in float32).
extension BFloat16: MPIScalar { public static var mpiDatatype: MPI_Datatype? { tt_mpi_uint16() } }

/// The process's view of MPI_COMM_WORLD. MPI is initialised the first time `world()` is called (under
/// `mpirun` or as a singleton: rank 0 of 1) and finalised exactly once when the process exits.
/// Collective calls must be made from the thread that initialised MPI (FUNNELED is the default level).
public final class Communicator: @unchecked Sendable {
    public let rank: Int
    public let size: Int
    /// The thread level MPI granted, which may be lower than the one asked for.
    public let threadLevel: ThreadLevel
    public var isCoordinator: Bool { rank == 0 }

    private let comm: MPI_Comm
    /// The watch on the other ranks' connections (jobs of more than one rank).
    private var watch: RankWatch?

    private static let shared = Mutex<Communicator?>(nil)

    /// Initialises MPI once (MPI_Init_thread) and returns the world communicator. MPI errors are set
    /// to return codes, so every failure surfaces as an `MPIError` instead of a library abort.
    public static func world(threadLevel: ThreadLevel = .funneled) throws -> Communicator {
        try shared.withLock { current in
            if let current { return current }
            var provided: Int32 = 0
            var rc = MPI_Init_thread(nil, nil, threadLevel.mpi, &provided)
            guard rc == MPI_SUCCESS else {
                throw MPIError(rank: -1, call: "MPI_Init_thread", code: rc, message: errorString(rc))
            }
            atexit { Communicator.finalizeAtExit() }
            guard let world = tt_mpi_comm_world() else {
                throw MPIError(rank: -1, call: "MPI_COMM_WORLD", code: -1, message: "no world communicator")
            }
            rc = MPI_Comm_set_errhandler(world, tt_mpi_errors_return())
            var r: Int32 = 0, s: Int32 = 0
            if rc == MPI_SUCCESS { rc = MPI_Comm_rank(world, &r) }
            if rc == MPI_SUCCESS { rc = MPI_Comm_size(world, &s) }
            guard rc == MPI_SUCCESS else {
                throw MPIError(rank: -1, call: "MPI_Comm_rank/size", code: rc, message: errorString(rc))
            }
            let made = Communicator(comm: world, rank: Int(r), size: Int(s),
                                    threadLevel: ThreadLevel(mpi: provided))
            made.watch = try RankWatch.start(made)
            current = made
            return made
        }
    }

    /// The world communicator if MPI has been initialised by this process, else nil.
    public static var initialized: Communicator? { shared.withLock { $0 } }

    private init(comm: MPI_Comm, rank: Int, size: Int, threadLevel: ThreadLevel) {
        self.comm = comm
        self.rank = rank
        self.size = size
        self.threadLevel = threadLevel
    }

    private static func finalizeAtExit() {
        shared.withLock { $0?.watch?.stop() }
        var finalized: Int32 = 0
        MPI_Finalized(&finalized)
        if finalized == 0 { MPI_Finalize() }
    }

    /// The MPI library's own version string; valid before initialisation.
    public static var libraryVersion: String {
        var buffer = [CChar](repeating: 0, count: Int(tt_mpi_max_library_version_string()) + 1)
        var length: Int32 = 0
        _ = MPI_Get_library_version(&buffer, &length)
        return String(decoding: buffer.prefix(Int(length)).map { UInt8(bitPattern: $0) }, as: UTF8.self)
            .trimmingCharacters(in: .whitespacesAndNewlines)
    }

    static func errorString(_ code: Int32) -> String {
        var buffer = [CChar](repeating: 0, count: Int(tt_mpi_max_error_string()) + 1)
        var length: Int32 = 0
        guard MPI_Error_string(code, &buffer, &length) == MPI_SUCCESS else { return "unknown MPI error" }
        return String(decoding: buffer.prefix(Int(length)).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    private func check(_ rc: Int32, _ call: String) throws {
        guard rc == MPI_SUCCESS else {
            throw MPIError(rank: rank, call: call, code: rc, message: Communicator.errorString(rc))
        }
    }

    // MARK: Queries

    /// The host name MPI reports for this rank.
    public var processorName: String {
        var buffer = [CChar](repeating: 0, count: Int(tt_mpi_max_processor_name()) + 1)
        var length: Int32 = 0
        guard MPI_Get_processor_name(&buffer, &length) == MPI_SUCCESS else { return "unknown" }
        return String(decoding: buffer.prefix(Int(length)).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    // MARK: Sub-communicators

    /// The ranks on this rank's node (those that can share memory, MPI_COMM_TYPE_SHARED), in world rank
    /// order. Collective.
    public func nodeRanks() throws -> Communicator {
        var node: MPI_Comm?
        try check(MPI_Comm_split_type(comm, Int32(MPI_COMM_TYPE_SHARED), Int32(rank), tt_mpi_info_null(), &node),
                  "MPI_Comm_split_type")
        return try derived(node!)
    }

    /// The ranks that give the same `color`, ordered by `key`; nil on ranks that give no color. Collective.
    public func split(color: Int?, key: Int) throws -> Communicator? {
        var part: MPI_Comm?
        try check(MPI_Comm_split(comm, color.map(Int32.init) ?? MPI_UNDEFINED, Int32(key), &part), "MPI_Comm_split")
        guard let part, part != tt_mpi_comm_null() else { return nil }
        return try derived(part)
    }

    private func derived(_ made: MPI_Comm) throws -> Communicator {
        var r: Int32 = 0, s: Int32 = 0
        try check(MPI_Comm_set_errhandler(made, tt_mpi_errors_return()), "MPI_Comm_set_errhandler")
        try check(MPI_Comm_rank(made, &r), "MPI_Comm_rank")
        try check(MPI_Comm_size(made, &s), "MPI_Comm_size")
        return Communicator(comm: made, rank: Int(r), size: Int(s), threadLevel: threadLevel)
    }

    // MARK: Collectives

    public func barrier() throws {
        try check(MPI_Barrier(comm), "MPI_Barrier")
    }

    /// MPI counts are 32-bit; larger buffers go in pieces of this many elements.
    static let maxChunk = 1 << 30

    /// Broadcasts `buffer` from `root` into the same-sized buffer on every rank.
    public func broadcast<T: MPIScalar>(_ buffer: UnsafeMutableBufferPointer<T>, root: Int = 0) throws {
        guard let base = buffer.baseAddress else { return }
        var start = 0
        while start < buffer.count {
            let n = min(Communicator.maxChunk, buffer.count - start)
            try check(MPI_Bcast(base + start, Int32(n), T.mpiDatatype, Int32(root), comm), "MPI_Bcast")
            start += n
        }
    }

    /// Broadcasts an array whose length only `root` knows: the others' arrays are replaced.
    public func broadcast<T: MPIScalar & Numeric>(_ array: inout [T], root: Int = 0) throws {
        var count = Int64(array.count)
        try withUnsafeMutablePointer(to: &count) { try broadcast(UnsafeMutableBufferPointer(start: $0, count: 1), root: root) }
        if rank != root { array = [T](repeating: 0, count: Int(count)) }
        try array.withUnsafeMutableBufferPointer { try broadcast($0, root: root) }
    }

    /// Broadcasts a string from `root`; every rank returns root's string.
    public func broadcast(_ string: String, root: Int = 0) throws -> String {
        var bytes = Array(string.utf8)
        try broadcast(&bytes, root: root)
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Reduces `buffer` over all ranks in place: afterwards every rank holds the reduction.
    public func allreduce<T: MPIScalar>(_ buffer: UnsafeMutableBufferPointer<T>, _ op: ReduceOp) throws {
        guard let base = buffer.baseAddress else { return }
        var start = 0
        while start < buffer.count {
            let n = min(Communicator.maxChunk, buffer.count - start)
            try check(MPI_Allreduce(tt_mpi_in_place(), base + start, Int32(n), T.mpiDatatype, op.handle, comm),
                      "MPI_Allreduce")
            start += n
        }
    }

    /// Reduces `buffer` over all ranks into `root`'s buffer; the others' buffers are left as they were.
    public func reduce<T: MPIScalar>(_ buffer: UnsafeMutableBufferPointer<T>, _ op: ReduceOp, root: Int = 0) throws {
        guard let base = buffer.baseAddress else { return }
        var start = 0
        while start < buffer.count {
            let n = min(Communicator.maxChunk, buffer.count - start)
            let rc = rank == root
                ? MPI_Reduce(tt_mpi_in_place(), base + start, Int32(n), T.mpiDatatype, op.handle, Int32(root), comm)
                : MPI_Reduce(base + start, nil, Int32(n), T.mpiDatatype, op.handle, Int32(root), comm)
            try check(rc, "MPI_Reduce")
            start += n
        }
    }

    /// Rank i's `send[ranges[j]]` goes to rank j, which receives every rank's piece into `receive`, rank
    /// i's at `i * ranges[j].count` (MPI_Alltoallv). `ranges` is the same on every rank.
    public func allToAll<T: MPIScalar>(_ send: UnsafeBufferPointer<T>, ranges: [Range<Int>],
                                       into receive: UnsafeMutableBufferPointer<T>) throws {
        precondition(ranges.count == size && receive.count >= size * ranges[rank].count)
        var sendCounts = ranges.map { Int32($0.count) }, sendOffsets = ranges.map { Int32($0.lowerBound) }
        var receiveCounts = [Int32](repeating: Int32(ranges[rank].count), count: size)
        var receiveOffsets = (0..<size).map { Int32($0 * ranges[rank].count) }
        try check(MPI_Alltoallv(send.baseAddress, &sendCounts, &sendOffsets, T.mpiDatatype,
                                receive.baseAddress, &receiveCounts, &receiveOffsets, T.mpiDatatype, comm), "MPI_Alltoallv")
    }

    /// Rank j's piece, at `ranges[j]` of its `buffer`, lands at `ranges[j]` of every rank's `buffer`
    /// (MPI_Allgatherv in place). `ranges` is the same on every rank.
    public func allGather<T: MPIScalar>(_ buffer: UnsafeMutableBufferPointer<T>, ranges: [Range<Int>]) throws {
        precondition(ranges.count == size && ranges.allSatisfy { $0.upperBound <= buffer.count })
        var counts = ranges.map { Int32($0.count) }, offsets = ranges.map { Int32($0.lowerBound) }
        try check(MPI_Allgatherv(tt_mpi_in_place(), 0, T.mpiDatatype, buffer.baseAddress, &counts, &offsets, T.mpiDatatype, comm),
                  "MPI_Allgatherv")
    }

    public func allreduce<T: MPIScalar>(_ array: inout [T], _ op: ReduceOp) throws {
        try array.withUnsafeMutableBufferPointer { try allreduce($0, op) }
    }

    public func allreduce<T: MPIScalar>(_ value: T, _ op: ReduceOp) throws -> T {
        var v = value
        try withUnsafeMutablePointer(to: &v) { try allreduce(UnsafeMutableBufferPointer(start: $0, count: 1), op) }
        return v
    }

    /// Gathers every rank's bytes (any length) to `root`, in rank order; other ranks get [].
    public func gather(_ bytes: [UInt8], root: Int = 0) throws -> [[UInt8]] {
        var count = Int32(bytes.count)
        var counts = [Int32](repeating: 0, count: rank == root ? size : 0)
        try counts.withUnsafeMutableBufferPointer { countsBuffer in
            try check(MPI_Gather(&count, 1, Int32.mpiDatatype, countsBuffer.baseAddress, 1, Int32.mpiDatatype,
                                 Int32(root), comm), "MPI_Gather")
        }
        var displacements = [Int32](repeating: 0, count: counts.count)
        for i in counts.indices.dropFirst() { displacements[i] = displacements[i - 1] + counts[i - 1] }
        var received = [UInt8](repeating: 0, count: Int(counts.reduce(0, +)))
        try bytes.withUnsafeBufferPointer { send in
            try received.withUnsafeMutableBufferPointer { recv in
                try check(MPI_Gatherv(send.baseAddress, count, UInt8.mpiDatatype, recv.baseAddress, &counts,
                                      &displacements, UInt8.mpiDatatype, Int32(root), comm), "MPI_Gatherv")
            }
        }
        guard rank == root else { return [] }
        return counts.indices.map { i in
            Array(received[Int(displacements[i])..<Int(displacements[i] + counts[i])])
        }
    }

    public func gather(_ string: String, root: Int = 0) throws -> [String] {
        try gather(Array(string.utf8), root: root).map { String(decoding: $0, as: UTF8.self) }
    }

    /// Ends the whole job: prints the message with this rank's number and aborts every rank.
    public func abort(_ message: String, code: Int32 = 1) -> Never {
        FileHandle.standardError.write(Data("tooltune: rank \(rank) of \(size): \(message)\n".utf8))
        // This rank reports its own end: the others must not take it for a lost rank.
        watch?.stop()
        MPI_Abort(comm, code)
        exit(code)
    }
}
