import Foundation
import Storage
import TestSupport
import Testing

@Suite struct HDF5RoundTripTests {
    let folder: URL

    init() throws { folder = try makeTemporaryFolder("hdf5") }

    func path(_ name: String) -> String { folder.appendingPathComponent(name).path }

    @Test func everyElementTypeRoundTrips() throws {
        let file = path("types.h5")
        do {
            let h5 = try HDF5File(file, mode: .create)
            let root = try h5.root
            try root.write("f32", [Float](arrayLiteral: 1.5, -2.25, .greatestFiniteMagnitude, .leastNonzeroMagnitude, -0.0, 3),
                           shape: [2, 3])
            try root.write("f64", [Double.pi, -1e300], shape: [2])
            try root.write("i8", [Int8.min, 0, Int8.max])
            try root.write("u8", [UInt8(0), 1, 255], shape: [3, 1])
            try root.write("i32", [Int32.min, -1, Int32.max, 7], shape: [2, 1, 2])
            try root.write("i64", [Int64.min, Int64.max])
            try root.write("scalar", [Float(42)], shape: [])
            try root.write("empty", [Int32](), shape: [0, 4])
            try h5.close()
        }
        let h5 = try HDF5File(file)
        let root = try h5.root
        let f32 = try root.read("f32", as: Float.self)
        #expect(f32.shape == [2, 3])
        #expect(f32.values.map(\.bitPattern) == [Float](arrayLiteral: 1.5, -2.25, .greatestFiniteMagnitude,
                                                            .leastNonzeroMagnitude, -0.0, 3).map(\.bitPattern))
        #expect(try root.read("f64", as: Double.self).values == [Double.pi, -1e300])
        #expect(try root.read("i8", as: Int8.self).values == [Int8.min, 0, Int8.max])
        #expect(try root.read("u8", as: UInt8.self).shape == [3, 1])
        #expect(try root.read("u8", as: UInt8.self).values == [0, 1, 255])
        #expect(try root.read("i32", as: Int32.self).shape == [2, 1, 2])
        #expect(try root.read("i32", as: Int32.self).values == [Int32.min, -1, Int32.max, 7])
        #expect(try root.read("i64", as: Int64.self).values == [Int64.min, Int64.max])
        let scalar = try root.read("scalar", as: Float.self)
        #expect(scalar.shape == [] && scalar.values == [42])
        #expect(try root.read("empty", as: Int32.self).shape == [0, 4])
    }

    @Test func attributesOfEveryKindRoundTrip() throws {
        let file = path("attrs.h5")
        let values: [String: HDF5Attribute] = [
            "text": .string("héllo\nwörld ✓"), "empty": .string(""), "int": .int(-1_234_567_890_123),
            "double": .double(2.5e-5), "ints": .ints([1, 2, 3]), "doubles": .doubles([0.5, -0.25]),
        ]
        do {
            let h5 = try HDF5File(file, mode: .create)
            let group = try h5.root.createGroup("a/b")
            for (name, value) in values { try group.setAttribute(name, value) }
            try group.setJSONAttribute("json", ["z": 1, "a": 2])
            let data = try group.write("data", [Float(1)])
            try data.setAttribute("unit", "m")
            try group.setAttribute("int", .int(7))  // replacing an attribute is allowed
        }
        let h5 = try HDF5File(file)
        let group = try h5.root.group("a/b")
        for (name, value) in values where name != "int" { #expect(try group.attribute(name) == value, "\(name)") }
        #expect(try group.intAttribute("int") == 7)
        #expect(try group.stringAttribute("json") == #"{"a":2,"z":1}"#)
        #expect(try group.jsonAttribute("json", as: [String: Int].self) == ["a": 2, "z": 1])
        #expect(try group.dataset("data").stringAttribute("unit") == "m")
        #expect(Set(try group.attributeNames()) == Set(values.keys).union(["json"]))
    }

    @Test func nestedGroupsAndChildrenListing() throws {
        let file = path("tree.h5")
        let h5 = try HDF5File(file, mode: .create)
        let root = try h5.root
        try root.createGroup("model/deep/er")
        try root.write("model/w", [Float](repeating: 0, count: 6), shape: [3, 2])
        try root.write("tokens", [Int32](repeating: 1, count: 4))
        let children = try root.children()
        #expect(children.map(\.name) == ["model", "tokens"])
        #expect(children[1].kind == .dataset(type: .int32, typeName: "int32", shape: [4]))
        let model = try root.group("model")
        #expect(try model.children().map(\.name) == ["deep", "w"])
        #expect(model.path == "/model")
        #expect(root.contains("model/deep/er"))
        #expect(!root.contains("model/nope"))
        #expect(!root.contains("nope/deeper"))
    }

    @Test func hyperslabRowRanges() throws {
        let file = path("rows.h5")
        let h5 = try HDF5File(file, mode: .create)
        let values = (0..<40).map { Int32($0) }
        let dataset = try h5.root.write("table", values, shape: [10, 4], chunkRows: 3, deflate: 4)
        #expect(try dataset.readRows(2..<5, as: Int32.self) == Array(8..<20).map { Int32($0) })
        #expect(try dataset.readRows(9..<10, as: Int32.self) == [36, 37, 38, 39])
        #expect(try dataset.readRows(3..<3, as: Int32.self) == [])
        try dataset.writeRows(0..<1, [Int32](repeating: -1, count: 4))
        #expect(try dataset.readRows(0..<2, as: Int32.self) == [-1, -1, -1, -1, 4, 5, 6, 7])
        #expect(throws: HDF5Error.self) { try dataset.readRows(8..<11, as: Int32.self) }
        #expect(throws: HDF5Error.self) { try dataset.writeRows(0..<2, [Int32](repeating: 0, count: 3)) }
    }

    @Test func h5lsReadsWhatWeWrite() throws {
        guard let h5ls = ["/usr/bin/h5ls", "/usr/local/bin/h5ls"].first(where: FileManager.default.isExecutableFile) else {
            Issue.record("h5ls is not installed (apt install hdf5-tools); cannot check readability by HDF5's own tools")
            return
        }
        let file = path("h5ls.h5")
        do {
            let h5 = try HDF5File(file, mode: .create)
            try h5.root.write("model/model.decoder.embed_tokens.weight", [Float](repeating: 0.5, count: 12), shape: [4, 3])
            try h5.root.setAttribute("format", "tooltune.test")
        }
        let result = try runProcess(h5ls, ["-r", file])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("/model/model.decoder.embed_tokens.weight Dataset {4, 3}"), "\(result.stdout)")
    }
}

@Suite struct HDF5ErrorTests {
    @Test func missingFileNamesThePath() throws {
        let error = #expect(throws: HDF5Error.self) { try HDF5File("/nonexistent/x.h5") }
        #expect(error?.description.contains("/nonexistent/x.h5") == true)
    }

    @Test func notHDF5NamesTheFile() throws {
        let folder = try makeTemporaryFolder("hdf5-err")
        let file = folder.appendingPathComponent("junk.h5").path
        _ = FileManager.default.createFile(atPath: file, contents: Data("not hdf5 at all".utf8))
        let error = #expect(throws: HDF5Error.self) { try HDF5File(file) }
        #expect(error?.description.hasPrefix(file) == true, "\(String(describing: error))")
    }

    @Test func wrongTypeAndMissingObjectNameTheObject() throws {
        let folder = try makeTemporaryFolder("hdf5-err")
        let file = folder.appendingPathComponent("t.h5").path
        let h5 = try HDF5File(file, mode: .create)
        try h5.root.write("g/ids", [Int32(1), 2])
        let wrongType = #expect(throws: HDF5Error.self) { try h5.root.read("g/ids", as: Float.self) }
        #expect(wrongType?.description == "\(file): /g/ids: stored as int32, read as float32")
        let missing = #expect(throws: HDF5Error.self) { try h5.root.read("g/nope", as: Float.self) }
        #expect(missing?.description == "\(file): /g/nope: no such dataset")
        let attribute = #expect(throws: HDF5Error.self) { try h5.root.group("g").stringAttribute("format") }
        #expect(attribute?.description == "\(file): /g: missing attribute 'format'")
        let shape = #expect(throws: HDF5Error.self) { try h5.root.write("bad", [Float(1), 2, 3], shape: [2, 2]) }
        #expect(shape?.description.contains("/bad") == true)
    }
}

@Suite struct AtomicFileTests {
    @Test func replacesWholeAndLeavesNoTemporary() throws {
        let folder = try makeTemporaryFolder("atomic")
        let target = folder.appendingPathComponent("ckpt.h5").path
        for step in 1...2 {
            try AtomicFile.write(to: target) { temporary in
                #expect(temporary.hasPrefix(folder.path + "/.ckpt.h5" + AtomicFile.temporaryMarker))
                #expect(!FileManager.default.fileExists(atPath: target) || step == 2)
                let h5 = try HDF5File(temporary, mode: .createExclusive)
                try h5.root.setAttribute("step", step)
            }
            #expect(try HDF5File(target).root.intAttribute("step") == step)
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: folder.path) == ["ckpt.h5"])
    }

    @Test func failureKeepsTheOldFileAndRemovesTheTemporary() throws {
        struct Interrupted: Error {}
        let folder = try makeTemporaryFolder("atomic")
        let target = folder.appendingPathComponent("LATEST").path
        try AtomicFile.write(Data("step-000001.h5\n".utf8), to: target)
        #expect(throws: Interrupted.self) {
            try AtomicFile.write(to: target) { temporary in
                _ = FileManager.default.createFile(atPath: temporary, contents: Data("step-0000".utf8))  // half written
                throw Interrupted()
            }
        }
        #expect(FileManager.default.contents(atPath: target) == Data("step-000001.h5\n".utf8))
        #expect(try FileManager.default.contentsOfDirectory(atPath: folder.path) == ["LATEST"])
    }

    @Test func unwritableFolderIsAnError() {
        #expect(throws: (any Error).self) { try AtomicFile.write(Data("x".utf8), to: "/nonexistent-folder/file") }
    }
}
