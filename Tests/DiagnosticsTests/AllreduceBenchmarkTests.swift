import Diagnostics
import Foundation
import OPT
import Testing
import TestSupport

/// `tooltune bench allreduce` under mpirun: every size timed, the gradient sync sized by the preset,
/// and every sum checked on every rank.
@Suite struct AllreduceBenchmarkTests {
    func run(ranks: Int?, _ extra: [String] = []) throws -> AllreduceBenchmark.Result {
        let arguments = ["bench", "allreduce", "--sizes", "0.01,0.5", "--preset", "tiny", "--bucket-mb", "0.1",
                         "--iterations", "2", "--warmup", "0", "--json"] + extra
        let result = try ranks.map { try runMPI(ranks: $0, arguments) } ?? runProcess(ToolTuneBinary.path, arguments)
        #expect(result.status == 0, "\(result.stderr)")
        let line = try #require(result.stdout.split(separator: "\n").last, "\(result.stdout)")
        return try JSONDecoder().decode(AllreduceBenchmark.Result.self, from: Data(line.utf8))
    }

    @Test func twoRanksSumExactlyAndReportEverySize() throws {
        let result = try run(ranks: 2)
        #expect(result.ranks == 2 && result.verified)
        #expect(result.messages.map(\.bytes) == [10_484, 524_288])  // 0.01 MB rounds down to whole floats
        #expect(result.messages.allSatisfy { $0.seconds > 0 && abs($0.busBandwidth - $0.algorithmBandwidth) < 1e-9 * $0.algorithmBandwidth })
        #expect(result.gradientElements == OPTConfig.presets["tiny"]!.parameterCount)
        #expect(result.bucketedSeconds > 0 && result.wholeSeconds > 0)
    }

    /// Every topology and wire type sums exactly on 3 ranks (one node: hierarchical reduces to the node
    /// steps), the sizes splitting unevenly over the ranks; the result says how it summed.
    @Test(arguments: [("flat", "fp32"), ("flat", "bf16"), ("hierarchical", "fp32"), ("hierarchical", "bf16")])
    func everyReductionSumsExactly(topology: String, wire: String) throws {
        let result = try run(ranks: 3, ["--allreduce", topology, "--allreduce-dtype", wire])
        #expect(result.verified && result.topology == topology && result.wire == wire)
        #expect(result.nodes == (topology == "hierarchical" ? 1 : nil))
        let bad = try runProcess(ToolTuneBinary.path, ["bench", "allreduce", "--allreduce-dtype", "fp8"])
        #expect(bad.status != 0 && bad.stderr.contains("--allreduce-dtype: \"fp8\" is not fp32 or bf16"), "\(bad.stderr)")
    }

    @Test func oneRankWorksWithoutMPIRunAndBadOptionsAreNamed() throws {
        let result = try run(ranks: nil)
        #expect(result.ranks == 1 && result.verified && result.messages.allSatisfy { $0.busBandwidth == 0 })
        let bad = try runProcess(ToolTuneBinary.path, ["bench", "allreduce", "--sizes", "1,x"])
        #expect(bad.status != 0 && bad.stderr.contains("--sizes: \"x\" is not a size in MB"), "\(bad.stderr)")
        let unknown = try runProcess(ToolTuneBinary.path, ["bench", "allreduce", "--preset", "opt-7b"])
        #expect(unknown.status != 0 && unknown.stderr.contains("unknown preset opt-7b"), "\(unknown.stderr)")
    }
}
