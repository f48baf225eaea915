import Diagnostics
import Foundation
import Testing
import TestSupport

/// MPI is tested the way it is used: the built binary under `mpirun`, as a subprocess.
@Suite struct MPITests {
    func reports(_ result: ProcessResult) throws -> [DoctorReport] {
        #expect(result.status == 0, "exit \(result.status): \(result.stderr)")
        #expect(!result.timedOut)
        let start = try #require(result.stdout.firstIndex(of: "["), "no JSON in: \(result.stdout) \(result.stderr)")
        return try JSONDecoder().decode([DoctorReport].self, from: Data(result.stdout[start...].utf8))
    }

    @Test func twoRanksAllreduceAndBroadcast() throws {
        let result = try runMPI(ranks: 2, ["doctor", "--json", "--threads", "1"])
        let all = try reports(result)
        #expect(all.map(\.rank) == [0, 1])
        for report in all {
            #expect(report.size == 2)
            #expect(report.problems.isEmpty, "\(report.problems)")
            #expect(report.communication.sumFloat == 3 && report.communication.sumDouble == 3)
            #expect(report.communication.sumInt32 == 3 && report.communication.sumInt64 == 3)
            #expect(report.communication.maxInt64 == 2)
            #expect(report.communication.broadcastText.hasPrefix("hello from rank 0 on "))
            #expect(report.communication.broadcastCount == 4099)
            #expect(report.blasThreads == 1 && report.parallelThreads == 1)
        }
        #expect(Set(all.map(\.pid)).count == 2, "two processes")
    }

    @Test func singletonWithoutMpirun() throws {
        let result = try runProcess(ToolTuneBinary.path, ["doctor", "--json"], timeout: 60)
        let all = try reports(result)
        #expect(all.count == 1)
        #expect(all[0].rank == 0 && all[0].size == 1)
        #expect(all[0].communication.sumInt64 == 1 && all[0].communication.broadcastCount == 4099)
        // Every engine right and deterministic; auto takes one of them.
        #expect(all[0].gemm.count >= 2 && all[0].gemm.allSatisfy { $0.problems.isEmpty && $0.deterministic && $0.worstErrorOfBound <= 1 })
        #expect(all[0].gemm.map(\.engine).contains(all[0].gemmAuto + " fp32"))
    }

    @Test func humanReportHasOneLinePerRank() throws {
        let result = try runMPI(ranks: 3, ["doctor"])
        #expect(result.status == 0, "\(result.stderr)")
        let lines = result.stdout.split(separator: "\n").filter { $0.hasPrefix("rank ") }
        #expect(lines.count == 3)
        #expect(lines.allSatisfy { $0.hasSuffix("| ok") }, "\(lines)")
    }
}
