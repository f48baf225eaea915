import Foundation
import Storage
import TestSupport
import Testing

/// Protocol-2 pickle bytes, opcode by opcode.
struct Pickle {
    var bytes: [UInt8] = [0x80, 2]

    mutating func op(_ code: Character) { bytes.append(code.asciiValue!) }
    mutating func global(_ module: String, _ name: String) { op("c"); bytes += Array("\(module)\n\(name)\n".utf8) }
    mutating func string(_ s: String) {
        op("X")
        withUnsafeBytes(of: UInt32(s.utf8.count).littleEndian) { bytes += $0 }
        bytes += Array(s.utf8)
    }
    mutating func int(_ i: UInt8) { op("K"); bytes.append(i) }

    /// `OrderedDict([(name, tensor of `count` floats in storage "0")])`, the way torch.save writes one.
    static func stateDict(name: String, count: UInt8) -> [UInt8] {
        var p = Pickle()
        p.global("collections", "OrderedDict"); p.op(")"); p.op("R"); p.op("(")
        p.string(name)
        p.global("torch._utils", "_rebuild_tensor_v2"); p.op("("); p.op("(")
        p.string("storage"); p.global("torch", "FloatStorage"); p.string("0"); p.string("cpu"); p.int(count)
        p.op("t"); p.op("Q")
        p.int(0); p.int(count); p.bytes.append(0x85); p.int(1); p.bytes.append(0x85); p.bytes.append(0x89)
        p.global("collections", "OrderedDict"); p.op(")"); p.op("R")
        p.op("t"); p.op("R"); p.op("u"); p.op(".")
        return p.bytes
    }
}

@Suite struct PyTorchCheckpointTests {
    let folder: URL

    init() throws { folder = try makeTemporaryFolder("pytorch-bin") }

    func save(_ name: String, _ bytes: [UInt8]) throws -> String {
        let path = folder.appendingPathComponent(name).path
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        return path
    }

    static let floats: [Float] = [0.5, -1.25, 3e-3]
    static var storageBytes: [UInt8] { floats.flatMap { f in withUnsafeBytes(of: f.bitPattern.littleEndian) { [UInt8]($0) } } }

    func archive(_ pickle: [UInt8], zip64: Bool = false, flags: UInt16 = 0) -> [UInt8] {
        ZipBuilder(entries: [("archive/data.pkl", pickle), ("archive/byteorder", Array("little".utf8)),
                             ("archive/data/0", Self.storageBytes)], zip64: zip64, flags: flags).build()
    }

    @Test(arguments: [false, true]) func handBuiltArchiveReads(zip64: Bool) throws {
        let file = try save("w.bin", archive(Pickle.stateDict(name: "w", count: 3), zip64: zip64))
        let tensors = try PyTorchCheckpoint(file).tensors
        #expect(tensors.map(\.name) == ["w"])
        #expect(try tensors[0].floats() == Self.floats)
    }

    /// The malformed checkpoints made by scripts/make_hf_fixtures.py, each with the error it must give.
    @Test func malformedFixturesGiveClearErrors() throws {
        let cases: [(String, String)] = [
            ("os-system.bin", "archive/data.pkl: byte 172: global 'posix.system' is not allowed"),
            ("builtins-eval.bin", "archive/data.pkl: byte 41: global '__builtin__.eval' is not allowed"),
            ("int64-storage.bin", "global 'torch.LongStorage' is not allowed"),
            ("list-value.bin", "opcode EMPTY_LIST (0x5D) is not allowed in a state dict"),
            ("no-data-pkl.bin", "the zip has no data.pkl entry"),
            ("view-past-storage.bin", "w: view (offset 4, shape [4, 2], strides [2, 1]) reaches element 11 of a storage of 10 F32 elements"),
            ("storage-size-mismatch.bin", "w: storage archive/data/0 should hold 12 F32 elements, but has 40 bytes"),
            ("missing-storage.bin", "w: its storage entry archive/data/7 is not in the zip"),
            ("compressed.bin", "is compressed (zip method 8, deflate)"),
        ]
        for (name, fragment) in cases {
            let file = HFFixtures.path("malformed/\(name)")
            let text = errorText { _ = try PyTorchCheckpoint(file) }
            #expect(text.hasPrefix(file + ": ") && text.contains(fragment), "\(name): \(text)")
        }
    }

    @Test func damagedArchivesGiveClearErrors() throws {
        let good = archive(Pickle.stateDict(name: "w", count: 3))
        let real = [UInt8](try Data(contentsOf: URL(fileURLWithPath: HFFixtures.path("preln/fp32-bin/pytorch_model.bin"))))
        var wrongLocal = good
        wrongLocal[good.count - 6] = 0xF0  // the central directory's offset now points past the file
        var truncatedPickle = Pickle.stateDict(name: "w", count: 3)
        truncatedPickle.removeLast(20)
        var hugeString = Pickle()
        hugeString.op("X")
        hugeString.bytes += [0xFF, 0xFF, 0xFF, 0x7F]
        var missingMemo = Pickle()
        missingMemo.op("h")
        missingMemo.bytes.append(9)
        var underflow = Pickle()
        underflow.op("s")
        let cases: [(String, [UInt8], String)] = [
            ("empty", [], "not a zip archive"),
            ("text", Array("not a checkpoint at all".utf8), "not a zip archive"),
            ("legacy", [0x80, 0x02, 0x8A, 0x0A], "legacy (before 1.6) pickle format"),
            ("truncated", Array(real.prefix(real.count / 2)), "not a zip archive"),
            ("cut before the end record", Array(real.dropLast(30)), "not a zip archive"),
            ("directory past the end", wrongLocal, "central directory: bytes"),
            ("encrypted", archive(Pickle.stateDict(name: "w", count: 3), flags: 1), "archive/data.pkl: entry is encrypted"),
            ("truncated pickle", archive(truncatedPickle), "archive/data.pkl: byte"),
            ("string longer than the pickle", archive(hugeString.bytes), "the pickle ends inside an opcode's argument"),
            ("missing memo", archive(missingMemo.bytes), "memo entry 9 was never stored"),
            ("stack underflow", archive(underflow.bytes), "stack underflow"),
            ("storage shorter than the view", archive(Pickle.stateDict(name: "w", count: 2)),
             "w: storage archive/data/0 should hold 2 F32 elements, but has 12 bytes"),
        ]
        for (label, bytes, fragment) in cases {
            let file = try save("\(label).bin", bytes)
            let text = errorText { _ = try PyTorchCheckpoint(file) }
            #expect(text.hasPrefix(file + ": ") && text.contains(fragment), "\(label): \(text)")
        }
    }
}
