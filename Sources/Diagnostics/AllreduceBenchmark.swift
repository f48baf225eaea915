import Distributed
import Foundation
import Kernels
import OPT
import Reporting

/// Times Float32 sum-allreduces over the job's ranks, the way scripts/bench_allreduce_torch.py times
/// torch.distributed: whole messages of several sizes (with nccl-tests' bandwidth figures), and one
/// gradient sync of a preset's parameter count in buckets of `bucketMB`, as the trainer does it (here
/// without backward to overlap, so it is the sync's full cost). Every rank adds rank + 1 times a
/// pattern of small integers, so the sums are exact and checked.
public enum AllreduceBenchmark {
    public struct Options: Sendable {
        /// Message sizes in MB (1 MB = 2^20 bytes).
        public var sizesMB: [Double]
        public var preset: String
        public var bucketMB: Double
        public var iterations: Int
        public var warmup: Int

        public init(sizesMB: [Double], preset: String, bucketMB: Double, iterations: Int, warmup: Int) {
            self.sizesMB = sizesMB
            self.preset = preset
            self.bucketMB = bucketMB
            self.iterations = iterations
            self.warmup = warmup
        }
    }

    /// One message size: the median seconds over the iterations (of the slowest rank).
    public struct Message: Codable, Sendable {
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
            case framework, ranks, iterations, messages, preset, verified
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
        let buffer = FloatBuffer(count: largest)
        var verified = true

        // Rank r holds (r + 1) * pattern; the sum is n(n + 1)/2 * pattern, exact in Float32.
        let pattern = { (i: Int) -> Float in Float(i % 7 + 1) }
        let scale = Float(comm.rank + 1), total = Float(comm.size * (comm.size + 1) / 2)
        func fill(_ count: Int) { for i in 0..<count { buffer.pointer[i] = scale * pattern(i) } }
        func check(_ count: Int) {
            for i in 0..<count where buffer.pointer[i] != total * pattern(i) {
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
                try comm.allreduce(UnsafeMutableBufferPointer(start: buffer.pointer, count: count), .sum)
            }
            let bytes = count * MemoryLayout<Float>.stride
            let algbw = Double(bytes) / seconds / 1e9
            messages.append(Message(bytes: bytes, seconds: seconds, algorithmBandwidth: algbw,
                                    busBandwidth: algbw * 2 * Double(comm.size - 1) / Double(comm.size)))
        }
        let buckets = GradientBuckets(comm: comm, buffer: buffer.pointer, bucketBytes: Int(options.bucketMB * 1_048_576))
        let bucketed = try time(gradientElements) {
            buckets.ready(0..<gradientElements)
            _ = try buckets.finish()
        }
        let whole = try time(gradientElements) {
            try comm.allreduce(UnsafeMutableBufferPointer(start: buffer.pointer, count: gradientElements), .sum)
        }
        let allVerified = try comm.allreduce(Int32(verified ? 0 : 1), .max) == 0
        return Result(ranks: comm.size, iterations: options.iterations, messages: messages, preset: options.preset,
                      gradientElements: gradientElements, bucketMB: options.bucketMB, bucketedSeconds: bucketed,
                      wholeSeconds: whole, verified: allVerified)
    }

    static func elements(_ mb: Double) -> Int { max(1, Int(mb * 1_048_576) / MemoryLayout<Float>.stride) }

    /// The printed table.
    public static func report(_ r: Result) -> [String] {
        var lines = ["allreduce (sum, float32) over \(r.ranks) ranks; medians of \(r.iterations) iterations, slowest rank",
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
