import Kernels

/// How the ranks' gradients are summed: in one step over all ranks or node by node, and in which type
/// they travel.
public struct GradientReduction: Sendable, Equatable, CustomStringConvertible {
    public enum Topology: String, Sendable, CaseIterable {
        /// One MPI_Allreduce over every rank (Open MPI picks the algorithm).
        case flat
        /// Summed within each node over shared memory first, so only one rank per node sends over the
        /// network: every node's link carries its gradients once instead of once per rank.
        case hierarchical
    }

    public enum Wire: String, Sendable, CaseIterable {
        case fp32
        /// Rounded to bfloat16 for the network, summed in Float32 (half the bytes; see `GradientReducer`).
        case bf16
    }

    public var topology: Topology
    public var wire: Wire

    public init(topology: Topology = .flat, wire: Wire = .fp32) {
        self.topology = topology
        self.wire = wire
    }

    public var description: String { "\(topology.rawValue), \(wire.rawValue)" }
}

/// Sums Float32 buffers over every rank of a communicator, in place, as a `GradientReduction` says. Every
/// rank ends with the same bits. Collective: the ranks create it together and call `sum` with the same
/// counts in the same order.
///
/// - flat, fp32: MPI_Allreduce.
/// - hierarchical: MPI_Reduce to the node's first rank (shared memory), the sum over those leaders (one
///   rank per node), MPI_Bcast back within the node. A node of one rank skips the node steps.
/// - bf16, over the ranks that exchange (all of them when flat, the leaders when hierarchical): every rank
///   rounds its values to bfloat16 (to nearest, ties to even) and sends rank j the j-th of p equal pieces
///   (MPI_Alltoallv); rank j adds the p pieces it received in Float32, in rank order, rounds the sums to
///   bfloat16 and every rank gathers every piece (MPI_Allgatherv) and widens it. So each value is
///   `bf16(bf16(g_0) + bf16(g_1) + ... + bf16(g_{p-1}))`, the sum in Float32 in rank order whatever the
///   network: half the bytes of Float32, two roundings to 8 significant bits (2^-9 relative each), none in
///   the accumulation. Where only one rank exchanges (one node, hierarchical), nothing is rounded.
public final class GradientReducer: @unchecked Sendable, CustomStringConvertible {
    public let reduction: GradientReduction
    /// The ranks it sums over.
    public let comm: Communicator
    /// hierarchical: this node's ranks, and the node leaders (nil on the other ranks).
    private let node: Communicator?
    private let leaders: Communicator?
    /// bf16: staging for one piece of at most `pieceElements` values.
    private var wire: (send: UnsafeMutablePointer<BFloat16>, received: UnsafeMutablePointer<BFloat16>, capacity: Int)?

    /// bf16 goes in pieces of at most this many values (16 MB as Float32), which bounds the staging memory.
    static let pieceElements = 1 << 22

    /// Flat Float32: MPI_Allreduce over `comm` (no set-up, so it cannot fail).
    public init(comm: Communicator) {
        self.comm = comm
        reduction = GradientReduction()
        node = nil
        leaders = nil
    }

    /// Collective (hierarchical splits `comm` into nodes and leaders).
    public init(comm: Communicator, _ reduction: GradientReduction) throws {
        self.comm = comm
        self.reduction = reduction
        if reduction.topology == .hierarchical {
            let node = try comm.nodeRanks()
            self.node = node
            leaders = try comm.split(color: node.rank == 0 ? 0 : nil, key: comm.rank)
        } else {
            node = nil
            leaders = nil
        }
    }

    deinit {
        if let wire {
            wire.send.deallocate()
            wire.received.deallocate()
        }
    }

    /// Nodes and this node's ranks, as a hierarchical sum found them (nodes is 0 where this rank is no leader).
    public var layout: (nodes: Int, ranksPerNode: Int)? {
        guard let node else { return nil }
        return (leaders?.size ?? 0, node.size)
    }

    /// For logs: "flat, fp32", "hierarchical over 2 nodes (4 ranks here), bf16 on the wire".
    public var description: String {
        let how = layout.map { "hierarchical" + ($0.nodes > 0 ? " over \($0.nodes) nodes" : "") + " (\($0.ranksPerNode) ranks on this node)" }
            ?? reduction.topology.rawValue
        return "\(how), \(reduction.wire.rawValue) on the wire"
    }

    /// Sums `buffer` over all ranks of the communicator, in place.
    public func sum(_ buffer: UnsafeMutableBufferPointer<Float>) throws {
        guard comm.size > 1, !buffer.isEmpty else { return }
        guard let node else { return try exchange(buffer, over: comm) }
        if node.size > 1 { try node.reduce(buffer, .sum, root: 0) }
        if let leaders, leaders.size > 1 { try exchange(buffer, over: leaders) }
        if node.size > 1 { try node.broadcast(buffer, root: 0) }
    }

    /// The sum over the ranks of `group`, in the wire type.
    private func exchange(_ buffer: UnsafeMutableBufferPointer<Float>, over group: Communicator) throws {
        guard reduction.wire == .bf16 else { return try group.allreduce(buffer, .sum) }
        var start = 0
        while start < buffer.count {
            let count = min(GradientReducer.pieceElements, buffer.count - start)
            try exchangeBFloat16(buffer.baseAddress! + start, count: count, over: group)
            start += count
        }
    }

    private func exchangeBFloat16(_ values: UnsafeMutablePointer<Float>, count: Int, over group: Communicator) throws {
        let p = group.size
        let ranges = (0..<p).map { count * $0 / p ..< count * ($0 + 1) / p }
        let mine = ranges[group.rank].count
        let staging = self.staging(count + p)
        BFloat16.convert(values, into: staging.send, count: count)
        try group.allToAll(UnsafeBufferPointer(start: staging.send, count: count), ranges: ranges,
                           into: UnsafeMutableBufferPointer(start: staging.received, count: p * mine))
        // The sums of this rank's piece go where its piece was sent from, and every rank's pieces gather there.
        BFloat16.sum(staging.received, rows: p, stride: mine, count: mine, into: staging.send + ranges[group.rank].lowerBound)
        try group.allGather(UnsafeMutableBufferPointer(start: staging.send, count: count), ranges: ranges)
        BFloat16.widen(staging.send, into: values, count: count)
    }

    private func staging(_ count: Int) -> (send: UnsafeMutablePointer<BFloat16>, received: UnsafeMutablePointer<BFloat16>) {
        if let wire, wire.capacity >= count { return (wire.send, wire.received) }
        if let wire {
            wire.send.deallocate()
            wire.received.deallocate()
        }
        let capacity = max(count, GradientReducer.pieceElements + 64)
        let made = (send: UnsafeMutablePointer<BFloat16>.allocate(capacity: capacity),
                    received: UnsafeMutablePointer<BFloat16>.allocate(capacity: capacity), capacity: capacity)
        wire = made
        return (made.send, made.received)
    }
}
