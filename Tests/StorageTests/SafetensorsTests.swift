import Foundation
import Storage
import TestSupport
import Testing

@Suite struct SafetensorsTests {
    let folder: URL

    init() throws { folder = try makeTemporaryFolder("safetensors") }

    func path(_ name: String) -> String { folder.appendingPathComponent(name).path }

    static let tensors: [(name: String, shape: [Int], values: [Float])] = [
        ("b.weight", [2, 3], [1.5, -2.25, 0.1, 3e-5, 65519, -0.0]),
        ("a.bias", [3], [0.333333, 1e-8, -7]),
        ("c.scalar", [], [42.125]),
        ("d.empty", [0, 4], []),
    ]

    @Test func float32RoundTripsBitIdentically() throws {
        try withFloat32Tensors(Self.tensors) { try SafetensorsFile.write($0, dtype: .float32, to: path("x.safetensors")) }
        let file = try SafetensorsFile(path("x.safetensors"))
        #expect(file.metadata == ["format": "pt"])
        for tensor in Self.tensors {
            let view = try #require(file[tensor.name])
            #expect(view.shape == tensor.shape)
            #expect(try view.floats().map(\.bitPattern) == tensor.values.map(\.bitPattern), "\(tensor.name)")
        }
    }

    @Test(arguments: [TensorDType.float16, .bfloat16]) func halfPrecisionRoundTripsWithinRounding(dtype: TensorDType) throws {
        let model = try HFFixtures.expected("preln", "fp32")
        try withFloat32Tensors(model.map { ($0.name, $0.shape, $0.values) }) {
            try SafetensorsFile.write($0, dtype: dtype, to: path("h.safetensors"))
        }
        let file = try SafetensorsFile(path("h.safetensors"))
        // Half an ulp of the narrow type: 2^-11 (fp16) or 2^-8 (bf16) relative; fp16 subnormals 2^-25 absolute.
        let relative: Float = dtype == .float16 ? 0x1p-11 : 0x1p-8
        for tensor in model {
            let read = try #require(file[tensor.name]).floats()
            #expect(read.count == tensor.values.count)
            let worst = zip(read, tensor.values).map { abs($0 - $1) - max(abs($1) * relative, 0x1p-25) }.max() ?? 0
            #expect(worst <= 0, "\(dtype) \(tensor.name)")
            #expect(zip(read, tensor.values).contains { $0 != $1 }, "\(tensor.name) should have lost bits")
        }
    }

    /// The header as the safetensors format specifies it, checked field by field on the bytes.
    @Test func writtenHeaderFollowsTheSpec() throws {
        try withFloat32Tensors(Self.tensors) { try SafetensorsFile.write($0, dtype: .float16, to: path("s.safetensors")) }
        let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path("s.safetensors"))))
        let n = bytes[0..<8].reversed().reduce(0) { $0 << 8 | Int($1) }
        #expect((8 + n) % 8 == 0, "data must start 8-byte aligned")
        let text = String(decoding: bytes[8..<(8 + n)], as: UTF8.self)
        let json = text.replacingOccurrences(of: " +$", with: "", options: .regularExpression)
        #expect(text.hasPrefix("{") && text.count - json.count < 8, "JSON, then fewer than 8 spaces of padding")
        #expect(json == #"{"__metadata__":{"format":"pt"},"#
            + #""a.bias":{"dtype":"F16","shape":[3],"data_offsets":[0,6]},"#
            + #""b.weight":{"dtype":"F16","shape":[2,3],"data_offsets":[6,18]},"#
            + #""c.scalar":{"dtype":"F16","shape":[],"data_offsets":[18,20]},"#
            + #""d.empty":{"dtype":"F16","shape":[0,4],"data_offsets":[20,20]}}"#)
        #expect(bytes.count == 8 + n + 20)
        // a.bias[0] = 0.333333 -> fp16 0x3555, little-endian.
        #expect(bytes[8 + n] == 0x55 && bytes[9 + n] == 0x35)
    }

    @Test func writerRefusesBadInputAndLeavesNoFile() throws {
        let target = path("bad.safetensors")
        let duplicate = errorText {
            try withFloat32Tensors([("x", [1], [1]), ("x", [1], [2])]) { try SafetensorsFile.write($0, dtype: .float32, to: target) }
        }
        #expect(duplicate.contains("x: tensor names must be unique"))
        let shape = errorText {
            try withFloat32Tensors([("x", [2, 2], [1])]) { try SafetensorsFile.write($0, dtype: .float32, to: target) }
        }
        #expect(shape.contains("x: shape [2, 2] does not match 1 values"))
        #expect(!FileManager.default.fileExists(atPath: target))
        #expect(try FileManager.default.contentsOfDirectory(atPath: folder.path).isEmpty, "no temporary file left")
    }

    // MARK: Malformed files

    /// A file with header length `length` (default: the JSON's), the JSON, then `data`.
    func write(_ name: String, json: String, data: [UInt8] = [], length: UInt64? = nil) throws -> String {
        var bytes = withUnsafeBytes(of: (length ?? UInt64(json.utf8.count)).littleEndian) { [UInt8]($0) }
        bytes += Array(json.utf8) + data
        try Data(bytes).write(to: URL(fileURLWithPath: path(name)))
        return path(name)
    }

    func raw(_ name: String, _ bytes: [UInt8]) throws -> String {
        try Data(bytes).write(to: URL(fileURLWithPath: path(name)))
        return path(name)
    }

    func entry(_ name: String, _ dtype: String = "F32", _ shape: [Int], _ begin: Int, _ end: Int) -> String {
        #""\#(name)":{"dtype":"\#(dtype)","shape":\#(shape),"data_offsets":[\#(begin),\#(end)]}"#
    }

    @Test func malformedFilesGiveClearErrors() throws {
        let eight = [UInt8](repeating: 0, count: 8)
        let cases: [(String, () throws -> String, String)] = [
            ("empty", { try raw("empty", []) }, "header: file of 0 bytes is too short"),
            ("seven bytes", { try raw("seven", [1, 0, 0, 0, 0, 0, 0]) }, "header: file of 7 bytes is too short"),
            ("zero-length header", { try write("zero", json: "", length: 0) }, "does not begin with '{'"),
            ("huge header", { try write("huge", json: "{}", length: 1 << 62) }, "header length 4611686018427387904 is over the limit"),
            ("header over limit", { try write("limit", json: "{}", length: 100_000_001) }, "is over the limit of 100000000 bytes"),
            ("header past end", { try write("past", json: "{}", length: 4096) }, "header: header length 4096 runs past the end of the file (10 bytes)"),
            ("not an object", { try write("array", json: "[1]") }, "does not begin with '{'"),
            ("bad JSON", { try write("json", json: #"{"a": "#) }, "header:"),
            ("bad field", { try write("field", json: #"{"a":{"dtype":"F32","shape":[2],"data_offsets":"x"}}"#, data: eight) },
             "a: data_offsets: expected a list of integers, found a string"),
            ("missing field", { try write("nofield", json: #"{"a":{"dtype":"F32","shape":[2]}}"#, data: eight) }, "data_offsets"),
            ("metadata not strings", { try write("meta", json: #"{"__metadata__":{"format":1}}"#) },
             #"__metadata__: "format": expected a string, found the number 1"#),
            ("unsupported dtype", { try write("i64", json: "{\(entry("a", "I64", [1], 0, 8))}", data: eight) },
             #"a: dtype "I64" is not supported (F32, F16, BF16)"#),
            ("wrong dtype size", { try write("size", json: "{\(entry("a", "F16", [4], 0, 4))}", data: [0, 0, 0, 0]) },
             "a: shape [4] of F16 needs 8 bytes, data_offsets [0, 4] hold 4"),
            ("negative size", { try write("neg", json: "{\(entry("a", "F32", [-1], 0, 0))}") }, "a: shape [-1] has a negative size"),
            ("overflowing shape", { try write("ovf", json: "{\(entry("a", "F32", [1 << 40, 1 << 40], 0, 8))}", data: eight) },
             "overflows"),
            ("reversed offsets", { try write("rev", json: "{\(entry("a", "F32", [0], 8, 0))}", data: eight) }, "a: data_offsets [8, 0] is not"),
            ("offsets out of range", { try write("range", json: "{\(entry("a", "F32", [2], 0, 8))}", data: [0, 0, 0, 0]) },
             "a: data_offsets [0, 8] run past the end of the data (4 bytes)"),
            ("overlap", { try write("overlap", json: "{\(entry("a", "F32", [2], 0, 8)),\(entry("b", "F32", [2], 4, 12))}",
                                    data: eight + [0, 0, 0, 0]) }, "b: data_offsets [4, 12] overlap the previous tensor, which ends at 8"),
            ("hole", { try write("hole", json: "{\(entry("a", "F32", [1], 0, 4)),\(entry("b", "F32", [1], 8, 12))}",
                                 data: eight + [0, 0, 0, 0]) }, "b: data_offsets [8, 12] leave bytes 4..<8 unused"),
            ("trailing bytes", { try write("trail", json: "{\(entry("a", "F32", [1], 0, 4))}", data: eight) },
             "data: the tensors end at byte 4 of the data, but it has 8 bytes"),
        ]
        for (label, make, fragment) in cases {
            let file = try make()
            let text = errorText { _ = try SafetensorsFile(file) }
            #expect(text.hasPrefix(file + ": ") && text.contains(fragment), "\(label): \(text)")
        }
    }

    /// The spec allows empty tensors; other dimensions may then be anything without overflowing anything.
    @Test func emptyTensorWithHugeDimensionsIsValid() throws {
        let file = try SafetensorsFile(try write("empty-huge", json: "{\(entry("a", "F16", [0, 1 << 40, 1 << 40], 0, 0))}"))
        #expect(try #require(file["a"]).floats().isEmpty)
    }

    @Test func truncatedFixtureIsAnError() throws {
        let original = try Data(contentsOf: URL(fileURLWithPath: HFFixtures.path("preln/fp32-safetensors/model.safetensors")))
        for keep in [5, 100, original.count / 2, original.count - 1] {
            let file = path("cut-\(keep).safetensors")
            try original.prefix(keep).write(to: URL(fileURLWithPath: file))
            let text = errorText { _ = try SafetensorsFile(file) }
            #expect(text.hasPrefix(file + ": ") && (text.contains("past the end") || text.contains("too short")), "\(keep): \(text)")
        }
    }
}
