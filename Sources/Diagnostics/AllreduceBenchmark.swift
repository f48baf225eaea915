import Distributed
import Foundation
import Kernels
import OPT
import Reporting

/// Times Float32 sum-allreduces over the job's ranks, the way scripts/bench_allreduce_torch.py times
/// torch.distributed: whole messages of several sizes (with nccl-tests' bandwidth figures), and one
/// gradient sync of a preset's parameter count in buckets of `bucketMB`, as the trainer does it (here
/// without backward to overlap, so it is the sync's full cost), both by the `reduction` the job would
/// use (flat or hierarchical, fp32 or bf16 on the wire). Every value is a small integer and every sum at
/// most 256, exact even in bfloat16, so the sums are checked exactly.
public enum AllreduceBenchmark {
    public struct Options: Sendable {
        /// Message sizes in MB (1 MB = 2^20 bytes).
        public var sizesMB: [Double]
        public var preset: String
        public var bucketMB: Double
        public var iterations: Int
        public var warmup: Int
        public var reduction: GradientReduction

        public init(sizesMB: [Double], preset: String, bucketMB: Double, iterations: Int, warmup: Int,
                    reduction: GradientReduction = GradientReduction()) {
            self.sizesMB = sizesMB
            self.preset = preset
            self.bucketMB = bucketMB
            self.iterations = iterations
            self.warmup = warmup
            self.reduction = reduction
        }
    }

    /// One message size: the median seconds over the iterations (of the slowest rank).
    public struct Message: Codable, Sendable {
        /// As Float32 (what the trainer sums; bf16 sends half as many).
        public var bytes: Int
        public var seconds: Double
        /// bytes / seconds, in GB/s (10^9).
        public var algorithmBandwidth: Double
        /// algbw x 2(n-1)/n: what each link carries in a ring allreduce, comparable across rank counts.
        public var busBandwidth: Double

        enum CodingKeys: String, CodingKey {
            case bytes, seconds
            case algorithmBandwidth = "algbw_gbps"
            case busBandwidth = "busbw_gbps"
        }
    }

    public struct Result: Codable, Sendable {
        public var framework = "tooltune"
        public var ranks: Int
        /// flat or hierarchical, and the nodes and ranks per node the hierarchy found.
        public var topology: String
        public var nodes: Int?
        public var wire: String
        public var iterations: Int
        public var messages: [Message]
        public var preset: String
        public var gradientElements: Int
        public var bucketMB: Double
        /// One gradient sync in buckets (median, slowest rank), and the same values as one allreduce.
        public var bucketedSeconds: Double
        public var wholeSeconds: Double
        /// Every sum on every rank equals the expected value exactly.
        public var verified: Bool

        enum CodingKeys: String, CodingKey {
            case framework, ranks, nodes, iterations, messages, preset, verified
            case topology = "allreduce"
            case wire = "allreduce_dtype"
            case gradientElements = "gradient_elements"
            case bucketMB = "bucket_mb"
            case bucketedSeconds = "bucketed_s"
            case wholeSeconds = "whole_s"
        }
    }

    /// Runs on every rank (a collective); every rank returns the same result.
    public static func run(_ options: Options, comm: Communicator) throws -> Result {
        let config = try BenchmarkOptionError.preset(options.preset)
        guard options.iterations > 0, options.warmup >= 0, options.bucketMB > 0, options.sizesMB.allSatisfy({ $0 > 0 }) else {
            throw BenchmarkOptionError(message: "need --iterations >= 1, --warmup >= 0, --bucket-mb > 0 and positive --sizes")
        }
        let gradientElements = config.parameterCount
        let largest = max(gradientElements, options.sizesMB.map { elements($0) }.max() ?? 0)
        // Rank r holds i % 3 + 1 + r % 2 at i: integers whose every partial sum is at most 3.5 n, so the
        // sums are exact in Float32 and, up to 73 ranks, in bfloat16.
        if options.reduction.wire == .bf16, 7 * comm.size > 512 {
            throw BenchmarkOptionError(message: "--allreduce-dtype bf16 checks its sums exactly up to 73 ranks; this job has \(comm.size)")
        }
        let reducer = try GradientReducer(comm: comm, options.reduction)
        let buffer = FloatBuffer(count: largest)
        var verified = true
        let odd = Float(comm.rank % 2), oddRanks = Float(comm.size / 2), n = Float(comm.size)
        func fill(_ count: Int) { for i in 0..<count { buffer.pointer[i] = Float(i % 3 + 1) + odd } }
        func check(_ count: Int) {
            for i in 0..<count where buffer.pointer[i] != n * Float(i % 3 + 1) + oddRanks {
                verified = false
                return
            }
        }
        /// Median over the iterations of the slowest rank's seconds for `body`.
        func time(_ count: Int, _ body: () throws -> Void) throws -> Double {
            var seconds: [Double] = []
            for iteration in 0..<(options.warmup + options.iterations) {
                fill(count)
                try comm.barrier()
                // Nanoseconds: on one rank an in-place allreduce is a no-op that Date's microseconds round to 0,
                // and a bandwidth of infinity cannot be written as JSON.
                let start = DispatchTime.now().uptimeNanoseconds
                try body()
                let elapsed = try comm.allreduce(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9, .max)
                if iteration >= options.warmup { seconds.append(elapsed) }
            }
            check(count)
            return seconds.median
        }

        var messages: [Message] = []
        for mb in options.sizesMB {
            let count = elements(mb)
            let seconds = try time(count) {
                try reducer.sum(UnsafeMutableBufferPointer(start: buffer.pointer, count: count))
            }
            let bytes = count * MemoryLayout<Float>.stride
            let algbw = Double(bytes) / seconds / 1e9
            messages.append(Message(bytes: bytes, seconds: seconds, algorithmBandwidth: algbw,
                                    busBandwidth: algbw * 2 * Double(comm.size - 1) / Double(comm.size)))
        }
        let buckets = GradientBuckets(reducer: reducer, buffer: buffer.pointer, bucketBytes: Int(options.bucketMB * 1_048_576))
        let bucketed = try time(gradientElements) {
            buckets.ready(0..<gradientElements)
            _ = try buckets.finish()
        }
        let whole = try time(gradientElements) {
            try reducer.sum(UnsafeMutableBufferPointer(start: buffer.pointer, count: gradientElements))
        }
        let allVerified = try comm.allreduce(Int32(verified ? 0 : 1), .max) == 0
        return Result(ranks: comm.size, topology: options.reduction.topology.rawValue, nodes: reducer.layout?.nodes,
                      wire: options.reduction.wire.rawValue, iterations: options.iterations, messages: messages, preset: options.preset,
                      gradientElements: gradientElements, bucketMB: options.bucketMB, bucketedSeconds: bucketed,
                      wholeSeconds: whole, verified: allVerified)
    }

    static func elements(_ mb: Double) -> Int { max(1, Int(mb * 1_048_576) / MemoryLayout<Float>.stride) }

    /// The printed table.
    public static func report(_ r: Result) -> [String] {
        let how = r.topology == "hierarchical" ? "hierarchical over \(r.nodes ?? 0) nodes" : r.topology
        var lines = ["allreduce (sum of float32, \(how), \(r.wire) on the wire) over \(r.ranks) ranks; "
                     + "medians of \(r.iterations) iterations, slowest rank",
                     "        size        time     algbw     busbw"]
        for m in r.messages {
            lines.append(String(format: "%9.2f MB  %8.3f ms  %6.2f GB/s  %6.2f GB/s",
                                Double(m.bytes) / 1_048_576, m.seconds * 1000, m.algorithmBandwidth, m.busBandwidth))
        }
        let gradientMB = Double(r.gradientElements * MemoryLayout<Float>.stride) / 1_048_576
        lines.append(String(format: "gradient sync, %@ (%.0f MB): %.3f s in %g MB buckets, %.3f s as one allreduce",
                            r.preset, gradientMB, r.bucketedSeconds, r.bucketMB, r.wholeSeconds))
        lines.append(r.verified ? "every sum checked: exact" : "WRONG SUMS: some rank's allreduce result differs from the expected values")
        return lines
    }
}
