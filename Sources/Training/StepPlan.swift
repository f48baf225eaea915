import Job
import Kernels
import Storage

/// What one optimizer step trains on: for every rank, its micro-batches, each a list of packed-sequence
/// indices. The set of sequences in a step depends only on the data, the seed, the epoch and
/// `global_batch_tokens`, never on the rank count, so N ranks compute the same step as 1 rank.
public struct StepPlan: Equatable, Sendable {
    public var epoch: Int
    /// 0-based optimizer step within the epoch.
    public var stepInEpoch: Int
    /// `microBatches[rank][m]` = sequence indices of micro-batch m on that rank.
    public var microBatches: [[[Int]]]

    public init(epoch: Int, stepInEpoch: Int, microBatches: [[[Int]]]) {
        self.epoch = epoch
        self.stepInEpoch = stepInEpoch
        self.microBatches = microBatches
    }

    /// Every sequence of the step, over all ranks.
    public var sequences: [Int] { microBatches.flatMap { $0.flatMap { $0 } } }
}

/// The coordinator's plan of an epoch: a seeded permutation of the packed sequences, cut into steps of
/// about `globalBatchTokens` example tokens, each step's sequences spread over the ranks balanced by tokens
/// (longest first, to the least-loaded rank), and each rank's share cut into micro-batches of at most
/// `microBatchTokens` tokens (first-fit decreasing).
///
/// A step is measured in example tokens (the tokens its examples have on their own): with shared prefixes a
/// sequence runs fewer tokens than its examples hold, and measuring steps by what they run would change the
/// recipe (fewer, larger steps) with the data's layout. So a job trains the same number of steps on the same
/// number of examples per step with or without sharing; ranks and micro-batches, which cost memory and time,
/// are planned by the tokens run.
public struct EpochPlanner: Sendable {
    public let sequenceTokens: [Int]
    /// The tokens each sequence's examples have on their own (`sequenceTokens` without shared prefixes).
    public let exampleTokens: [Int]
    public let globalBatchTokens: Int
    public let microBatchTokens: Int
    public let ranks: Int
    public let seed: UInt64

    public init(sequenceTokens: [Int], exampleTokens: [Int]? = nil, globalBatchTokens: Int, microBatchTokens: Int, ranks: Int,
                seed: UInt64) {
        precondition(ranks >= 1 && microBatchTokens >= 1 && globalBatchTokens >= 1)
        precondition(exampleTokens == nil || exampleTokens!.count == sequenceTokens.count)
        self.sequenceTokens = sequenceTokens
        self.exampleTokens = exampleTokens ?? sequenceTokens
        self.globalBatchTokens = globalBatchTokens
        self.microBatchTokens = microBatchTokens
        self.ranks = ranks
        self.seed = seed
    }

    /// The plan `tooltune train` makes for `dataset` on `ranks` ranks: steps of the job's example tokens,
    /// ranks and micro-batches by the tokens each sequence runs.
    public init(dataset: PreparedDataset, train: JobSpec.TrainSpec, ranks: Int, seed: Int) {
        self.init(sequenceTokens: dataset.sequenceLengths,
                  exampleTokens: (0..<dataset.sequenceCount).map(dataset.exampleTokens(ofSequence:)),
                  globalBatchTokens: train.globalBatchTokens, microBatchTokens: train.microBatchTokens, ranks: ranks,
                  seed: UInt64(seed))
    }

    /// The order sequences are drawn in during `epoch`: Fisher-Yates with a generator seeded by
    /// (seed, epoch), so every epoch is shuffled differently and reproducibly.
    public func permutation(epoch: Int) -> [Int] {
        var order = Array(sequenceTokens.indices)
        var rng = SplitMix64(seed: seed &+ 0x9E37_79B9_7F4A_7C15 &* UInt64(epoch + 1))
        if order.count > 1 {
            for i in stride(from: order.count - 1, to: 0, by: -1) {
                order.swapAt(i, Int(rng.next() % UInt64(i + 1)))
            }
        }
        return order
    }

    /// The steps of `epoch`, as ranges of the permutation: sequences are added to a step while the
    /// step's example tokens stay within `globalBatchTokens` (a step always takes at least one sequence).
    /// The last step may be smaller, as the Trainer keeps its last partial batch.
    public func stepBoundaries(epoch: Int) -> [Range<Int>] {
        let order = permutation(epoch: epoch)
        var steps: [Range<Int>] = []
        var start = 0, tokens = 0
        for (i, sequence) in order.enumerated() {
            let n = exampleTokens[sequence]
            if i > start, tokens + n > globalBatchTokens {
                steps.append(start..<i)
                start = i
                tokens = 0
            }
            tokens += n
        }
        if start < order.count { steps.append(start..<order.count) }
        return steps
    }

    public func stepCount(epoch: Int) -> Int { stepBoundaries(epoch: epoch).count }

    /// Every step of `epoch`, assigned to ranks and micro-batches.
    public func steps(epoch: Int) -> [StepPlan] {
        let order = permutation(epoch: epoch)
        return stepBoundaries(epoch: epoch).enumerated().map { index, range in
            assign(Array(order[range]), epoch: epoch, stepInEpoch: index)
        }
    }

    func assign(_ sequences: [Int], epoch: Int, stepInEpoch: Int) -> StepPlan {
        // Longest first to the least-loaded rank (ties: the lower rank): the LPT rule.
        let longestFirst = sequences.sorted { (sequenceTokens[$0], $1) > (sequenceTokens[$1], $0) }
        var perRank = [[Int]](repeating: [], count: ranks)
        var load = [Int](repeating: 0, count: ranks)
        for s in longestFirst {
            let target = load.indices.min { (load[$0], $0) < (load[$1], $1) }!
            perRank[target].append(s)
            load[target] += sequenceTokens[s]
        }
        let micro = perRank.map { firstFitDecreasing($0) }
        return StepPlan(epoch: epoch, stepInEpoch: stepInEpoch, microBatches: micro)
    }

    /// Packs a rank's sequences (already longest first) into micro-batches of at most `microBatchTokens`.
    func firstFitDecreasing(_ sequences: [Int]) -> [[Int]] {
        var bins: [[Int]] = []
        var room: [Int] = []
        for s in sequences {
            let n = sequenceTokens[s]
            if let b = room.firstIndex(where: { $0 >= n }) {
                bins[b].append(s)
                room[b] -= n
            } else {
                bins.append([s])
                room.append(microBatchTokens - n)
            }
        }
        return bins
    }
}

extension StepPlan {
    /// A flat Int64 encoding for MPI broadcast: epoch, step, ranks, then per rank its micro-batch
    /// count and per micro-batch its length and indices.
    public var encoded: [Int64] {
        var out: [Int64] = [Int64(epoch), Int64(stepInEpoch), Int64(microBatches.count)]
        for rank in microBatches {
            out.append(Int64(rank.count))
            for micro in rank {
                out.append(Int64(micro.count))
                out.append(contentsOf: micro.map(Int64.init))
            }
        }
        return out
    }

    public init?(encoded: [Int64]) {
        var i = 0
        func next() -> Int? {
            guard i < encoded.count else { return nil }
            defer { i += 1 }
            return Int(encoded[i])
        }
        guard let epoch = next(), let step = next(), let ranks = next(), ranks >= 0 else { return nil }
        var microBatches: [[[Int]]] = []
        for _ in 0..<ranks {
            guard let count = next(), count >= 0 else { return nil }
            var rank: [[Int]] = []
            for _ in 0..<count {
                guard let length = next(), length >= 0, i + length <= encoded.count else { return nil }
                rank.append(encoded[i..<(i + length)].map { Int($0) })
                i += length
            }
            microBatches.append(rank)
        }
        guard i == encoded.count else { return nil }
        self.init(epoch: epoch, stepInEpoch: step, microBatches: microBatches)
    }
}

/// What the coordinator decides at each step boundary and broadcasts, so every rank stops or runs the
/// same step.
public enum StepControl: Equatable, Sendable {
    /// Stop here (with a checkpoint), asked by this signal, or by --stop-after-step (nil).
    case stop(signal: Int32?)
    /// Run this step.
    case run(StepPlan)
}

extension StepControl {
    /// For MPI broadcast: [1, signal or 0] to stop; [0, 0] and the plan's encoding to run.
    public var encoded: [Int64] {
        switch self {
        case .stop(let signal): [1, Int64(signal ?? 0)]
        case .run(let plan): [0, 0] + plan.encoded
        }
    }

    public init?(encoded: [Int64]) {
        guard encoded.count >= 2 else { return nil }
        switch encoded[0] {
        case 1:
            guard encoded.count == 2, let signal = Int32(exactly: encoded[1]) else { return nil }
            self = .stop(signal: signal == 0 ? nil : signal)
        case 0:
            guard encoded[1] == 0, let plan = StepPlan(encoded: Array(encoded.dropFirst(2))) else { return nil }
            self = .run(plan)
        default:
            return nil
        }
    }
}
