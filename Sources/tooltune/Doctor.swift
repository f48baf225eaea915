import ArgumentParser
import Diagnostics
import Distributed
import Foundation
import Kernels

struct Doctor: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Check every rank's MPI, GEMM engines and HDF5 set-up; run under mpirun to check a cluster.",
        discussion: "Rank 0 prints one line per rank: every GEMM engine (OpenBLAS and oneDNN fp32, oneDNN bf16 where the CPU has bfloat16 instructions) checked for right answers and the same bits on 1, 2 and 3 threads, with its GFLOP/s on a 2048 x 1024 x 1024 product, and the backend compute.gemm: auto takes. Exits 1 if any rank's GEMM or MPI results are wrong.")

    @Option(parsing: .unconditional, help: "Kernel threads per rank (default: all CPUs).")
    var threads: Int?

    @Flag(help: "Print the reports as a JSON array instead of lines.")
    var json = false

    func validate() throws { try OptionCheck.threads(threads) }

    func run() throws {
        if let threads { useThreads(threads) }
        let comm = try Communicator.world()
        let failed = try comm.runCollectively { comm in
            let report = try DoctorReport.run(on: comm)
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            let lines = try comm.gather(Array(try encoder.encode(report)))
            if comm.isCoordinator {
                let reports = try lines.map { try JSONDecoder().decode(DoctorReport.self, from: Data($0)) }
                if json {
                    encoder.outputFormatting = [.sortedKeys, .prettyPrinted]
                    print(String(decoding: try encoder.encode(reports), as: UTF8.self))
                } else {
                    reports.forEach { print($0.summary) }
                    DoctorReport.warnings(reports).forEach { print("warning: \($0)") }
                }
            }
            return try comm.allreduce(Int32(report.problems.isEmpty ? 0 : 1), .max) != 0
        }
        if failed { throw ExitCode(1) }
    }
}
