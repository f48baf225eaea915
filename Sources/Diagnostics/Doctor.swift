import Distributed
import Foundation
import Kernels
import Storage

/// What one rank knows about its environment, and whether its GEMM engines and MPI give right answers
/// there: the first thing to run on a new cluster (`tooltune doctor` under mpirun). Every GEMM engine the
/// node can run is checked for right answers and the same bits on 1, 2 and 3 threads (and the rank's
/// thread count), and timed; `gemmAuto` is the backend `compute.gemm: auto` takes here.
public struct DoctorReport: Codable, Sendable {
    public struct CommunicationCheck: Codable, Sendable {
        /// Element 0 of the allreduced vectors (each rank gives rank+1): size*(size+1)/2 for sums, size for max.
        public var sumFloat: Float
        public var sumDouble: Double
        public var sumInt32: Int32
        public var sumInt64: Int64
        public var maxInt64: Int64
        /// What rank 0 broadcast, as received here.
        public var broadcastText: String
        public var broadcastCount: Int
    }

    public var rank: Int
    public var size: Int
    public var host: String
    public var pid: Int32
    public var mpiLibrary: String
    public var mpiThreadLevel: String
    public var cpusOnline: Int
    /// CPUs this process may run on (mpirun's binding shows here).
    public var cpusAllowed: Int
    public var blasConfig: String
    public var blasCore: String
    public var blasThreads: Int
    public var parallelThreads: Int
    /// OPENBLAS_CORETYPE, OPENBLAS_NUM_THREADS, OMP_NUM_THREADS as set for this rank.
    public var environment: [String: String]
    public var hdf5Version: String
    /// oneDNN's version and the instruction set its kernels use here.
    public var onednn: String
    /// Every engine this node runs (bf16 only with bfloat16 instructions).
    public var gemm: [GEMMSelfCheck]
    /// What `compute.gemm: auto` runs on here.
    public var gemmAuto: String
    public var communication: CommunicationCheck
    /// Everything that is wrong; empty when the rank is healthy.
    public var problems: [String]

    /// Runs every check on this rank. Collective: all ranks must call it together.
    public static func run(on comm: Communicator) throws -> DoctorReport {
        let threads = Array(Set([1, 2, 3, Parallel.threadCount])).sorted()
        let gemm = GEMMEngine.available.map { GEMMSelfCheck.run($0, threads: threads, timed: true) }
        let communication = try checkCommunication(comm)
        var problems = gemm.flatMap(\.problems)
        let n = comm.size
        let expectedSum = n * (n + 1) / 2
        if communication.sumFloat != Float(expectedSum) || communication.sumDouble != Double(expectedSum)
            || communication.sumInt32 != Int32(expectedSum) || communication.sumInt64 != Int64(expectedSum)
            || communication.maxInt64 != Int64(n) {
            problems.append("allreduce is WRONG: expected sums \(expectedSum) and max \(n), got \(communication)")
        }
        let env = ProcessInfo.processInfo.environment
        return DoctorReport(
            rank: comm.rank, size: comm.size, host: comm.processorName, pid: getpid(),
            mpiLibrary: Communicator.libraryVersion.split(separator: ",").first.map(String.init) ?? "unknown",
            mpiThreadLevel: comm.threadLevel.description,
            cpusOnline: ProcessInfo.processInfo.processorCount, cpusAllowed: allowedCPUs(),
            blasConfig: BLAS.config, blasCore: BLAS.coreName, blasThreads: BLAS.threadCount,
            parallelThreads: Parallel.threadCount,
            environment: env.filter { ["OPENBLAS_CORETYPE", "OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS"].contains($0.key) },
            hdf5Version: Storage.hdf5Version, onednn: "\(GEMMEngine.oneDNNVersion) \(GEMMEngine.oneDNNInstructionSet)", gemm: gemm,
            gemmAuto: GEMMEngine.automaticBackend.rawValue, communication: communication, problems: problems)
    }

    /// One line for people.
    public var summary: String {
        let env = environment.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
        let verdict = problems.isEmpty ? "ok" : "FAILED: " + problems.joined(separator: "; ")
        return """
            rank \(rank)/\(size) host \(host) pid \(pid) cpus \(cpusAllowed)/\(cpusOnline) \
            | \(mpiLibrary) (threads: \(mpiThreadLevel)) \
            | BLAS \(blasConfig), core \(blasCore), \(blasThreads) threads\(env.isEmpty ? "" : ", " + env) \
            | parallel-for \(parallelThreads) threads | HDF5 \(hdf5Version) | oneDNN \(onednn) \
            | GEMM (auto: \(gemmAuto)) \(gemm.map(\.summary).joined(separator: ", ")) \
            | allreduce sum \(communication.sumInt64) max \(communication.maxInt64), bcast \(communication.broadcastCount) values \
            | \(verdict)
            """
    }

    /// Placement problems only visible across ranks: more BLAS threads on a host than it has CPUs, or
    /// ranks whose OpenBLAS picked different kernels.
    public static func warnings(_ reports: [DoctorReport]) -> [String] {
        var found: [String] = []
        for (host, ranks) in Dictionary(grouping: reports, by: \.host).sorted(by: { $0.key < $1.key }) {
            let threads = ranks.reduce(0) { $0 + $1.blasThreads }
            if let cpus = ranks.first?.cpusOnline, threads > cpus {
                found.append("host \(host): \(ranks.count) ranks use \(threads) BLAS threads on \(cpus) CPUs (oversubscribed)")
            }
        }
        let cores = Set(reports.map(\.blasCore))
        if cores.count > 1 { found.append("ranks run different OpenBLAS kernels: \(cores.sorted().joined(separator: ", "))") }
        for report in reports {
            let speed = { (engine: String) in report.gemm.first { $0.engine == engine }?.gflops ?? 0 }
            let (auto, other) = report.gemmAuto == "onednn" ? ("onednn fp32", "openblas fp32") : ("openblas fp32", "onednn fp32")
            if speed(other) > 1.1 * speed(auto) {
                found.append(String(format: "rank %d: %@ ran at %.0f GFLOP/s, above auto's %@ at %.0f: compute.gemm: %@ may be faster here (timings on a busy node vary)",
                                    report.rank, other, speed(other), auto, speed(auto), String(other.prefix { $0 != " " })))
            }
        }
        return found
    }

    /// From the kernel's "Cpus_allowed" mask (hex, comma-grouped); -1 where /proc is not there.
    static func allowedCPUs() -> Int {
        guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
              let line = status.split(separator: "\n").first(where: { $0.hasPrefix("Cpus_allowed:") })
        else { return -1 }
        return line.dropFirst("Cpus_allowed:".count).reduce(0) { count, digit in
            count + (digit.hexDigitValue?.nonzeroBitCount ?? 0)
        }
    }

    static func checkCommunication(_ comm: Communicator) throws -> CommunicationCheck {
        let mine = comm.rank + 1
        var floats = [Float](repeating: Float(mine), count: 1000)
        var doubles = [Double](repeating: Double(mine), count: 1000)
        var int32s = [Int32](repeating: Int32(mine), count: 1000)
        var int64s = [Int64](repeating: Int64(mine), count: 1000)
        var maxes = [Int64](repeating: Int64(mine), count: 1000)
        try comm.allreduce(&floats, .sum)
        try comm.allreduce(&doubles, .sum)
        try comm.allreduce(&int32s, .sum)
        try comm.allreduce(&int64s, .sum)
        try comm.allreduce(&maxes, .max)
        // Every element must agree, not just the first.
        let uniform = Set(floats).count == 1 && Set(doubles).count == 1 && Set(int32s).count == 1
            && Set(int64s).count == 1 && Set(maxes).count == 1
        let text = try comm.broadcast("hello from rank \(comm.rank) on \(comm.processorName)", root: 0)
        var sequence: [Int64] = comm.isCoordinator ? Array(1...4099) : []
        try comm.broadcast(&sequence, root: 0)
        return CommunicationCheck(
            sumFloat: uniform ? floats[0] : -1, sumDouble: doubles[0], sumInt32: int32s[0], sumInt64: int64s[0],
            maxInt64: maxes[0], broadcastText: text,
            broadcastCount: sequence == Array(1...4099) ? sequence.count : -sequence.count)
    }
}

extension GEMMSelfCheck {
    /// "onednn bf16 412 GFLOP/s" (or what is wrong).
    var summary: String {
        let speed = gflops.map { String(format: " %.0f GFLOP/s", $0) } ?? ""
        return problems.isEmpty ? "\(engine)\(speed)" : "\(engine) FAILED"
    }
}
