// Loads a Hugging Face model folder the way `tooltune import-hf` will: opens it with the strict loader for the
// expected tensors, then reads every tensor into one Float32 parameter buffer. Prints one JSON line with the
// open and read times, the peak resident memory and a checksum. Driven by scripts/bench_hf_load.py.
//
//     HFLoadBench FOLDER EXPECTED.json     (EXPECTED.json: [[name, [shape...]], ...] in buffer order)
import Foundation
import Storage

func seconds(since start: ContinuousClock.Instant) -> Double {
    let d = ContinuousClock.now - start
    return Double(d.components.seconds) + Double(d.components.attoseconds) * 1e-18
}

/// Peak resident memory in MiB: VmHWM, not getrusage's ru_maxrss, which Linux carries over from the parent
/// process across fork and exec.
func peakResidentMiB() throws -> Double {
    let status = try String(contentsOfFile: "/proc/self/status", encoding: .utf8)
    let line = status.split(separator: "\n").first { $0.hasPrefix("VmHWM:") }
    return (line?.split(separator: " ").dropFirst().first.flatMap { Double($0) } ?? -1) / 1024
}

/// A nonisolated function, not top-level code: closures in top-level code are main-actor isolated, and
/// checking that on every call of the checksum's closure would cost seconds.
func measure(folder: String, expectedPath: String) throws -> String {
    let list = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: expectedPath))) as? [[Any]] ?? []
    let expected = list.compactMap { pair -> (name: String, shape: [Int])? in
        guard pair.count == 2, let name = pair[0] as? String, let shape = pair[1] as? [Int] else { return nil }
        return (name, shape)
    }
    let start = ContinuousClock.now
    let weights = try HFWeights(folder: folder, expecting: expected)
    let opened = seconds(since: start)
    let total = expected.reduce(0) { $0 + $1.shape.reduce(1, *) }
    // The parameter buffer as a model should allocate one this size: 2 MB aligned and marked for transparent
    // huge pages (PyTorch's CPU allocator does the same), so that first touching it costs 2 MB page faults,
    // not 4 KB ones (with THP in "madvise" mode, the Debian default, that halves the load time).
    var memory: UnsafeMutableRawPointer?
    let bytes = total * MemoryLayout<Float>.size
    guard posix_memalign(&memory, 2 << 20, bytes) == 0, let memory else { throw CocoaError(.fileReadUnknown) }
    defer { free(memory) }
    madvise(memory, bytes, MADV_HUGEPAGE)
    let buffer = UnsafeMutableBufferPointer(start: memory.bindMemory(to: Float.self, capacity: total), count: total)
    var offset = 0
    for (name, shape) in expected {
        let count = shape.reduce(1, *)
        try weights.read(name, into: UnsafeMutableBufferPointer(rebasing: buffer[offset..<(offset + count)]))
        offset += count
    }
    let loaded = seconds(since: start)
    let peak = try peakResidentMiB()
    var checksum = 0.0
    for value in buffer { checksum += Double(value) }
    let dtypes = Set(weights.tensors.values.map(\.dtype.rawValue)).sorted().joined(separator: "+")
    return #"{"format": "\#(weights.format.rawValue)", "dtype": "\#(dtypes)", "files": \#(weights.files.count), "#
        + #""parameters": \#(total), "open_s": \#(opened), "total_s": \#(loaded), "#
        + #""peak_rss_mb": \#(peak), "checksum": \#(checksum)}"#
}

let arguments = CommandLine.arguments
guard arguments.count == 3 else {
    FileHandle.standardError.write(Data("usage: HFLoadBench FOLDER EXPECTED.json\n".utf8))
    exit(2)
}
do {
    print(try measure(folder: arguments[1], expectedPath: arguments[2]))
} catch {
    FileHandle.standardError.write(Data("\(error)\n".utf8))
    exit(1)
}
