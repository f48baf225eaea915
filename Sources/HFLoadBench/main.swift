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

let arguments = CommandLine.arguments
guard arguments.count == 3 else {
    FileHandle.standardError.write(Data("usage: HFLoadBench FOLDER EXPECTED.json\n".utf8))
    exit(2)
}
do {
    let list = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: arguments[2]))) as? [[Any]] ?? []
    let expected = list.compactMap { pair -> (name: String, shape: [Int])? in
        guard pair.count == 2, let name = pair[0] as? String, let shape = pair[1] as? [Int] else { return nil }
        return (name, shape)
    }
    let start = ContinuousClock.now
    let weights = try HFWeights(folder: arguments[1], expecting: expected)
    let opened = seconds(since: start)
    let total = expected.reduce(0) { $0 + $1.shape.reduce(1, *) }
    let buffer = UnsafeMutableBufferPointer<Float>.allocate(capacity: total)
    defer { buffer.deallocate() }
    var offset = 0
    for (name, shape) in expected {
        let count = shape.reduce(1, *)
        try weights.read(name, into: UnsafeMutableBufferPointer(rebasing: buffer[offset..<(offset + count)]))
        offset += count
    }
    let loaded = seconds(since: start)
    // VmHWM, not getrusage's ru_maxrss: Linux carries ru_maxrss over from the parent across fork and exec.
    let status = try String(contentsOfFile: "/proc/self/status", encoding: .utf8)
    let peakKB = status.split(separator: "\n").first { $0.hasPrefix("VmHWM:") }?
        .split(separator: " ").dropFirst().first.flatMap { Double($0) } ?? -1
    let checksum = buffer.reduce(0.0) { $0 + Double($1) }
    let dtypes = Set(weights.tensors.values.map(\.dtype.rawValue)).sorted().joined(separator: "+")
    print(#"{"format": "\#(weights.format.rawValue)", "dtype": "\#(dtypes)", "files": \#(weights.files.count), "#
        + #""parameters": \#(total), "open_s": \#(opened), "total_s": \#(loaded), "#
        + #""peak_rss_mb": \#(peakKB / 1024), "checksum": \#(checksum)}"#)
} catch {
    FileHandle.standardError.write(Data("\(error)\n".utf8))
    exit(1)
}
