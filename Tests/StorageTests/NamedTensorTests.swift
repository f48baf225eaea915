import Foundation
import Storage
import TestSupport
import Testing

@Suite struct NamedTensorTests {
    let folder: URL

    init() throws { folder = try makeTemporaryFolder("tensors") }

    static let tensors = [TensorDescriptor(name: "a.weight", shape: [3, 40]), TensorDescriptor(name: "a.bias", shape: [3]),
                          TensorDescriptor(name: "scalar", shape: [])]

    func values(_ tensor: TensorDescriptor) -> [Float] { (0..<tensor.count).map { Float($0) * 0.5 + Float(tensor.name.count) } }

    func write(_ tensors: [TensorDescriptor], to name: String) throws -> String {
        let path = folder.appendingPathComponent(name).path
        let file = try HDF5File(path, mode: .create)
        let storage = Dictionary(uniqueKeysWithValues: tensors.map { ($0.name, values($0)) })
        try file.root.createGroup("model").writeTensors(tensors, deflate: 4) { tensor in
            storage[tensor.name]!.withUnsafeBufferPointer { UnsafeBufferPointer(rebasing: $0[...]) }
        }
        try file.close()
        return path
    }

    @Test func roundTripsInDatasetsNamedByTensor() throws {
        let path = try write(Self.tensors, to: "ok.h5")
        let group = try HDF5File(path).root.group("model")
        var read: [String: [Float]] = [:]
        var buffers: [String: UnsafeMutableBufferPointer<Float>] = [:]
        for t in Self.tensors { buffers[t.name] = .allocate(capacity: t.count) }
        defer { buffers.values.forEach { $0.deallocate() } }
        try group.readTensors(Self.tensors) { buffers[$0.name]! }
        for t in Self.tensors { read[t.name] = Array(buffers[t.name]!) }
        for t in Self.tensors { #expect(read[t.name] == values(t), "\(t.name)") }
        #expect(try group.dataset("a.weight").shape == [3, 40])
    }

    @Test func missingUnexpectedAndMisshapenTensorsAreNamed() throws {
        var stored = Self.tensors
        stored[0].shape = [40, 3]  // wrong shape
        stored.removeLast()  // "scalar" missing
        stored.append(TensorDescriptor(name: "extra", shape: [2]))
        let path = try write(stored, to: "bad.h5")
        let group = try HDF5File(path).root.group("model")
        let buffer = UnsafeMutableBufferPointer<Float>.allocate(capacity: 1000)
        defer { buffer.deallocate() }
        let error = try #require(throws: HDF5Error.self) {
            try group.readTensors(Self.tensors) { UnsafeMutableBufferPointer(rebasing: buffer[0..<$0.count]) }
        }
        let text = "\(error)"
        #expect(text.contains(path))
        #expect(text.contains("/model/a.weight: shape [40, 3], expected [3, 40]"))
        #expect(text.contains("/model/scalar: missing"))
        #expect(text.contains("/model/extra: unexpected"))
    }
}
