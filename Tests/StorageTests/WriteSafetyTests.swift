import Foundation
import Storage
import TestSupport
import Testing

/// What a writer leaves behind when it fails or is killed, and what the next one cleans up.
@Suite struct WriteSafetyTests {
    let folder: URL
    init() throws { folder = try makeTemporaryFolder("write-safety") }

    func names() throws -> [String] { try FileManager.default.contentsOfDirectory(atPath: folder.path).sorted() }

    /// A temporary name of `target` by process `pid` on `host` (99999999 is above any pid_max: not running).
    func temporary(_ target: String, host: String = AtomicFile.hostName, pid: Int = 99_999_999) -> String {
        ".\(target)\(AtomicFile.temporaryMarker)\(host)-\(pid)-123"
    }

    @Test func aWriteRemovesTheTemporariesOfKilledWriters() throws {
        let stale = temporary("train.h5")
        let otherHost = temporary("train.h5", host: "another-host-7")
        let running = temporary("train.h5", pid: Int(getpid()))
        let unrelated = temporary("eval.h5")
        for name in [stale, otherHost, running, unrelated, ".train.h5.tmp-garbage"] {
            #expect(FileManager.default.createFile(atPath: folder.appendingPathComponent(name).path, contents: Data("part".utf8)))
        }
        try AtomicFile.write(Data("new".utf8), to: folder.appendingPathComponent("train.h5").path)
        // Only the dead writer's file of this target goes: another host's (the folder may be shared), a
        // live process's, another target's and names that are not ours stay.
        #expect(try names() == [otherHost, running, unrelated, ".train.h5.tmp-garbage", "train.h5"].sorted())
    }

    @Test func aStagedFileAppearsOnlyWhenPublished() throws {
        let a = folder.appendingPathComponent("a.h5").path, b = folder.appendingPathComponent("b.h5").path
        struct Failed: Error {}
        func stageBoth() throws {
            let first = try HDF5File.stage(to: a) { try $0.root.setAttribute("n", 1) }
            let staged = try names()
            #expect(!FileManager.default.fileExists(atPath: a) && staged.count == 1)
            _ = try HDF5File.stage(to: b) { _ in throw Failed() }
            try first.publish()
        }
        #expect(throws: Failed.self) { try stageBoth() }
        // The second failed, so the first was dropped unpublished: nothing remains.
        #expect(try names().isEmpty)
        let second = try HDF5File.stage(to: b) { try $0.root.setAttribute("n", 2) }
        try publish([second])
        #expect(try names() == ["b.h5"])
        #expect(try HDF5File(b).root.intAttribute("n") == 2)
    }

    @Test func errorsNameTheTargetNotTheTemporary() throws {
        let target = folder.appendingPathComponent("ckpt.h5").path
        let error = try #require(throws: (any Error).self) {
            try HDF5File.writeAtomically(to: target) { file in
                // Two datasets of one name: HDF5 refuses the second.
                try file.root.write("x", [Float(1)])
                try file.root.write("x", [Float(2)])
            }
        }
        #expect("\(error)".hasPrefix("\(target): /x: create dataset failed"))
        #expect(!"\(error)".contains(AtomicFile.temporaryMarker))
        #expect(try names().isEmpty)
    }

    @Test func closingAFileClosesItsObjectsAndReportsTheirFailures() throws {
        let path = folder.appendingPathComponent("open.h5").path
        let file = try HDF5File(path, mode: .create)
        let root = try file.root
        let dataset = try root.createDataset("values", of: Int32.self, shape: [4])
        try dataset.write([Int32](arrayLiteral: 1, 2, 3, 4))
        try file.close()
        #expect(!file.isOpen)
        // The objects are closed with the file: using them is an error, not a crash.
        #expect(throws: HDF5Error.self) { try dataset.write([Int32](arrayLiteral: 5, 6, 7, 8)) }
        #expect(try HDF5File(path).root.read("values", as: Int32.self).values == [1, 2, 3, 4])
    }

    @Test func aDatasetDeclaringMoreThanItStoresIsRefusedBeforeReading() throws {
        let path = folder.appendingPathComponent("sparse.h5").path
        do {
            let file = try HDF5File(path, mode: .create)
            // Chunked and never written: 2^40 values declared, no bytes stored.
            try file.root.createDataset("huge", of: Int64.self, shape: [1 << 40], chunkRows: 1024)
            try file.close()
        }
        let dataset = try HDF5File(path).root.dataset("huge")
        let error = try #require(throws: HDF5Error.self) { try dataset.read(as: Int64.self) }
        #expect(error.message.contains("declares 1099511627776 values, but the file stores only 0 bytes"))
        #expect(throws: HDF5Error.self) { try dataset.readRows(0..<(1 << 30), as: Int64.self) }
    }

    @Test func spilledExamplesReadBackInAnyOrder() throws {
        let spill = try ExampleSpill(folder: folder.path)
        var expected: [(tokens: [Int32], mask: [UInt8])] = []
        // Enough to pass the write buffer (1 MB) several times.
        for i in 0..<3000 {
            let n = 1 + (i * 37) % 400
            let tokens = (0..<n).map { Int32(truncatingIfNeeded: i &* 31 &+ $0) }
            let mask = (0..<n).map { UInt8(($0 + i) % 2) }
            #expect(try spill.append(tokens: tokens, lossMask: mask) == i)
            expected.append((tokens, mask))
        }
        for i in [2999, 0, 1500, 7, 2998] + (0..<3000).shuffled().prefix(200) {
            let back = try spill.read(i)
            #expect(back.tokens == expected[i].tokens && back.lossMask == expected[i].mask && spill.length(i) == expected[i].tokens.count)
        }
        // The file has no name: the folder stays empty.
        #expect(try names().isEmpty)
    }

    @Test func streamingWriterSpansChunksAsTheWholeWriterDoes() throws {
        // 40 sequences of 1,000-2,000 tokens: several 16,384-token chunks, flushed as they fill.
        var sequences: [[PreparedExample]] = []
        var input = 0
        for s in 0..<40 {
            var examples: [PreparedExample] = []
            for e in 0..<(1 + s % 3) {
                let n = 300 + (s * 131 + e * 17) % 400
                examples.append(PreparedExample(tokens: (0..<n).map { Int32(($0 * 7 + s) % 4000) + 3 },
                                                lossMask: [0] + (1..<n).map { UInt8(($0 + e) % 2) }, inputIndex: input))
                input += 1
            }
            sequences.append(examples)
        }
        let metadata = PreparedDatasetMetadata(tokenizerSHA256: "x", template: "t", lossTurns: "last-assistant", maxSeqLen: 2048,
                                               bosID: 2, eosID: 2, packing: "none", sourcesJSON: "{}", countsJSON: "{}", fitJSON: "{}")
        let path = folder.appendingPathComponent("d.h5").path
        let tokens = sequences.joined().reduce(0) { $0 + $1.tokens.count }
        var asked: [Int] = []
        try PreparedDatasetWriter.stage(to: path, sequenceCount: sequences.count, tokenCount: tokens, metadata: metadata) {
            asked.append($0)
            return sequences[$0]
        }.publish()
        #expect(asked == Array(0..<40))
        let dataset = try PreparedDataset(path: path)
        #expect(dataset.tokenCount == tokens && dataset.sequenceCount == 40)
        for s in [0, 13, 39] {
            let read = try dataset.readSequence(s)
            #expect(read.tokens == Array(sequences[s].map(\.tokens).joined()))
        }
        let h5 = try HDF5File(path).root
        #expect(try h5.read("loss_mask", as: UInt8.self).values == Array(sequences.joined().map(\.lossMask).joined()))

        // Announcing the wrong token count is an error, and nothing is published.
        let wrong = folder.appendingPathComponent("wrong.h5").path
        #expect { try PreparedDatasetWriter.stage(to: wrong, sequenceCount: 40, tokenCount: tokens + 1, metadata: metadata) { sequences[$0] } }
            throws: { "\($0)".contains("not the \(tokens + 1) announced") }
        #expect(!FileManager.default.fileExists(atPath: wrong))
    }
}
