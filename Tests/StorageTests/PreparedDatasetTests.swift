import Foundation
import Storage
import TestSupport
import Testing

@Suite struct PreparedDatasetTests {
    let folder: URL

    init() throws { folder = try makeTemporaryFolder("prepared") }

    func path(_ name: String) -> String { folder.appendingPathComponent(name).path }

    static let metadata = PreparedDatasetMetadata(
        tokenizerSHA256: String(repeating: "ab", count: 32), template: "tool-llama-single-round", lossTurns: "last-assistant",
        maxSeqLen: 8, bosID: 2, eosID: 2, packing: "best-fit-decreasing", sourcesJSON: "{\"input\":\"x\"}",
        countsJSON: "{\"examples\":4}", fitJSON: "{\"mode\":\"trim-history\"}")

    typealias Example = (tokens: [Int32], lossMask: [UInt8], inputIndex: Int)

    /// Two sequences: [A(5 tokens), B(3)] and [C(4), D(2)].
    static let sequences: [[Example]] = [
        [([2, 10, 11, 12, 2], [0, 0, 1, 1, 1], 1), ([2, 20, 2], [0, 1, 1], 3)],
        [([2, 30, 31, 2], [0, 0, 0, 1], 0), ([2, 40], [0, 0], 2)],
    ]

    @Test func writesTheDocumentedLayout() throws {
        let file = path("d.h5")
        try PreparedDatasetWriter.write(to: file, sequences: Self.sequences, metadata: Self.metadata)
        let root = try HDF5File(file).root
        #expect(try root.read("tokens", as: Int32.self).values == [2, 10, 11, 12, 2, 2, 20, 2, 2, 30, 31, 2, 2, 40])
        #expect(try root.read("loss_mask", as: UInt8.self).values == [0, 0, 1, 1, 1, 0, 1, 1, 0, 0, 0, 1, 0, 0])
        #expect(try root.read("examples/offsets", as: Int64.self).values == [0, 5, 8, 12, 14])
        #expect(try root.read("examples/input_index", as: Int64.self).values == [1, 3, 0, 2])
        #expect(try root.read("sequences/example_offsets", as: Int64.self).values == [0, 2, 4])
        #expect(try root.read("sequences/target_counts", as: Int32.self).values == [5, 1])
        #expect(try root.stringAttribute("format") == "tooltune.prepared-dataset")
        #expect(try root.intAttribute("format_version") == 1)
        #expect(try root.intAttribute("max_token_id") == 40)
        #expect(try root.stringAttribute("tokenizer_sha256") == Self.metadata.tokenizerSHA256)
        // No temporary file is left beside it.
        #expect(try FileManager.default.contentsOfDirectory(atPath: folder.path) == ["d.h5"])
    }

    @Test func readsSequencesWithShiftedTargetsPositionsAndSegments() throws {
        let file = path("d.h5")
        try PreparedDatasetWriter.write(to: file, sequences: Self.sequences, metadata: Self.metadata)
        let dataset = try PreparedDataset(path: file)
        #expect(dataset.sequenceCount == 2 && dataset.exampleCount == 4 && dataset.tokenCount == 14)
        #expect(dataset.metadata == Self.metadata)
        #expect(dataset.sequenceLengths == [8, 6])
        let first = try dataset.readSequence(0)
        let x = PreparedDatasetFormat.ignoreIndex
        #expect(first.tokens == [2, 10, 11, 12, 2, 2, 20, 2])
        // Label i = token i+1 when that one is a target of the same example; never across the boundary.
        #expect(first.targets == [x, 11, 12, 2, x, 20, 2, x])
        #expect(first.positions == [0, 1, 2, 3, 4, 0, 1, 2])
        #expect(first.segmentIDs == [0, 0, 0, 0, 0, 1, 1, 1])
        #expect(first.boundaries == [0, 5, 8])
        #expect(first.targetCount == Int(dataset.targetCounts[0]))
        let second = try dataset.readSequence(1)
        #expect(second.targets == [x, x, 2, x, x, x])
        #expect(second.positions == [0, 1, 2, 3, 0, 1])
        #expect(try dataset.readSequences(0..<2) == [first, second])
        #expect(try dataset.readSequences(1..<1).isEmpty)
        #expect(throws: PreparedDatasetError.self) { try dataset.readSequences(1..<3) }
    }

    @Test func theSameContentGivesTheSameBytes() throws {
        try PreparedDatasetWriter.write(to: path("a.h5"), sequences: Self.sequences, metadata: Self.metadata)
        Thread.sleep(forTimeInterval: 1.1)  // object timestamps, if HDF5 stored them, would now differ
        try PreparedDatasetWriter.write(to: path("b.h5"), sequences: Self.sequences, metadata: Self.metadata)
        #expect(FileManager.default.contents(atPath: path("a.h5")) == FileManager.default.contents(atPath: path("b.h5")))
    }

    @Test func refusesSequencesLongerThanMaxSeqLen() throws {
        var metadata = Self.metadata
        metadata.maxSeqLen = 7
        #expect {
            try PreparedDatasetWriter.write(to: path("long.h5"), sequences: Self.sequences, metadata: metadata)
        } throws: { "\($0)".contains("sequence 0 has 8 tokens > max_seq_len 7") }
        #expect(!FileManager.default.fileExists(atPath: path("long.h5")))
    }

    /// A target on an example's first token would count in the loss's denominator but never be trained.
    @Test func refusesATargetOnAnExamplesFirstToken() throws {
        let sequences: [[Example]] = [[([2, 10, 11], [0, 1, 1], 0), ([2, 20, 21], [1, 1, 1], 7)]]
        #expect {
            try PreparedDatasetWriter.write(to: path("first.h5"), sequences: sequences, metadata: Self.metadata)
        } throws: { "\($0)".contains("example 7: its first token is marked as a target") }
        #expect(!FileManager.default.fileExists(atPath: path("first.h5")))
    }

    @Test func wrongFilesGiveClearErrors() throws {
        func message(_ file: String) -> String {
            do {
                _ = try PreparedDataset(path: file)
                return "opened"
            } catch {
                return "\(error)"
            }
        }
        #expect(message(path("none.h5")).contains("none.h5"))
        #expect(FileManager.default.createFile(atPath: path("text.h5"), contents: Data("hello".utf8)))
        #expect(message(path("text.h5")).contains("text.h5: not a prepared dataset"))

        let checkpointLike = path("other.h5")
        do {
            let h5 = try HDF5File(checkpointLike, mode: .create)
            try h5.root.setAttribute("format", "tooltune.checkpoint")
            try h5.close()
        }
        #expect(message(checkpointLike).contains("its format is \"tooltune.checkpoint\", expected \"tooltune.prepared-dataset\""))

        let future = path("future.h5")
        try PreparedDatasetWriter.write(to: future, sequences: Self.sequences, metadata: Self.metadata)
        do {
            let h5 = try HDF5File(future, mode: .readWrite)
            try h5.root.setAttribute("format_version", 2)
            try h5.close()
        }
        #expect(message(future).contains("format_version 2; this build reads version 1 (written by a newer ToolTune)"))

        let broken = path("broken.h5")
        try PreparedDatasetWriter.write(to: broken, sequences: Self.sequences, metadata: Self.metadata)
        do {
            let h5 = try HDF5File(broken, mode: .readWrite)
            try h5.root.dataset("examples/offsets").write([Int64](arrayLiteral: 0, 5, 4, 12, 14))
            try h5.close()
        }
        #expect(message(broken).contains("/examples/offsets must rise from 0 to the token count 14"))
    }
}
