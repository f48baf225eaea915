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

    static func example(_ tokens: [Int32], _ mask: [UInt8], _ index: Int, extends: Bool = false,
                        eosLabel: Bool = false) -> PreparedExample {
        PreparedExample(tokens: tokens, lossMask: mask, inputIndex: index, extendsChain: extends, eosLabel: eosLabel)
    }

    /// Two sequences: [A(5 tokens), B(3)] and [C(4), D(2)].
    static let sequences: [[PreparedExample]] = [
        [example([2, 10, 11, 12, 2], [0, 0, 1, 1, 1], 1), example([2, 20, 2], [0, 1, 1], 3)],
        [example([2, 30, 31, 2], [0, 0, 0, 1], 0), example([2, 40], [0, 0], 2)],
    ]

    /// One sequence: a chain of three examples, then a lone one. Example 0 alone is [2, 10, 11, </s>]
    /// (target 11 and </s>), example 1 alone is [2, 10, 11, 12, 13, 14, </s>] (targets 13, 14 and </s>), example 2 is
    /// [2, 10, 11, 12, 13, 14, 15, 16, </s>] (targets 16 and </s>); each shorter one's </s> is a label over the
    /// longer one's token (12 and 15).
    static let chained: [[PreparedExample]] = [[
        example([2, 10, 11, 12], [0, 0, 1, 1], 0, eosLabel: true),
        example([13, 14, 15], [1, 1, 1], 1, extends: true, eosLabel: true),
        example([16, 2], [1, 1], 2, extends: true),
        example([2, 40, 2], [0, 0, 1], 3),
    ]]

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
        #expect(try root.read("examples/extends_chain", as: UInt8.self).values == [0, 0, 0, 0])
        #expect(try root.read("examples/eos_label", as: UInt8.self).values == [0, 0, 0, 0])
        #expect(try root.intAttribute("format_version") == 2)
        #expect(try root.stringAttribute("prefix_sharing") == "none")
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
        let sequences = [[Self.example([2, 10, 11], [0, 1, 1], 0), Self.example([2, 20, 21], [1, 1, 1], 7)]]
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

        /// A valid file that says it is of format_version `version`.
        func file(_ name: String, version: Int) throws -> String {
            let file = path(name)
            try PreparedDatasetWriter.write(to: file, sequences: Self.sequences, metadata: Self.metadata)
            let h5 = try HDF5File(file, mode: .readWrite)
            try h5.root.setAttribute("format_version", version)
            try h5.close()
            return file
        }
        let future = try file("future.h5", version: 3)
        #expect(message(future).contains("format_version 3 was written by a newer ToolTune; this build reads version 2"))

        // A file of the format before shared prefixes: no labels apart from the inputs.
        let old = try file("old.h5", version: 1)
        #expect(message(old).contains("old.h5: prepared dataset format_version 1 was written by an older ToolTune"))
        #expect(message(old).contains("this build reads version 2: run `tooltune prepare` on the job again"))
        #expect(PreparedDataset.summaryLines(old)?.first?.contains("format_version 1 was written by an older ToolTune") == true)

        let broken = path("broken.h5")
        try PreparedDatasetWriter.write(to: broken, sequences: Self.sequences, metadata: Self.metadata)
        do {
            let h5 = try HDF5File(broken, mode: .readWrite)
            try h5.root.dataset("examples/offsets").write([Int64](arrayLiteral: 0, 5, 4, 12, 14))
            try h5.close()
        }
        #expect(message(broken).contains("/examples/offsets must rise from 0 to the token count 14"))
    }

    @Test func chainsShareTheirPrefixAndLabelEOSWhereAShorterExampleEnds() throws {
        let file = path("chained.h5")
        var metadata = Self.metadata
        metadata.maxSeqLen = 12
        metadata.prefixSharing = "token-prefix"
        try PreparedDatasetWriter.write(to: file, sequences: Self.chained, metadata: metadata)
        let dataset = try PreparedDataset(path: file)
        #expect(dataset.exampleCount == 4 && dataset.chainCount == 2 && dataset.sequenceCount == 1)
        #expect(dataset.tokenCount == 12 && dataset.exampleTokenCount == 4 + 7 + 9 + 3)
        #expect(dataset.exampleTokens(ofSequence: 0) == 23 && dataset.chainStart == [0, 0, 0, 3])
        #expect(dataset.metadata.prefixSharing == "token-prefix")

        let x = PreparedDatasetFormat.ignoreIndex
        let sequence = try dataset.readSequence(0)
        #expect(sequence.tokens == [2, 10, 11, 12, 13, 14, 15, 16, 2, 2, 40, 2])
        // One attention block per chain, positions going on through the chain.
        #expect(sequence.boundaries == [0, 9, 12] && sequence.segmentIDs == [0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1])
        #expect(sequence.positions == [0, 1, 2, 3, 4, 5, 6, 7, 8, 0, 1, 2])
        // Position 2 predicts </s> although the next input is 12; position 6 predicts </s> over 15.
        #expect(sequence.targets == [x, 11, 2, 13, 14, 2, 16, 2, x, x, 2, x])
        #expect(sequence.targetCount == Int(dataset.targetCounts[0]) && sequence.targetCount == 8)

        // Each example on its own, as it was before it was chained.
        #expect(try dataset.readExample(0) == ([2, 10, 11, 2], [0, 0, 1, 1]))
        #expect(try dataset.readExample(1) == ([2, 10, 11, 12, 13, 14, 2], [0, 0, 0, 0, 1, 1, 1]))
        #expect(try dataset.readExample(2) == ([2, 10, 11, 12, 13, 14, 15, 16, 2], [0, 0, 0, 0, 0, 0, 0, 1, 1]))
        #expect(try dataset.readExample(3) == ([2, 40, 2], [0, 0, 1]))
        let summary = try #require(PreparedDataset.summaryLines(file))
        #expect(summary[0].contains("format_version 2") && summary[0].contains("prefix sharing token-prefix"))
        #expect(summary[1].contains("4 examples in 2 chains, 1 sequences; 12 tokens stored, 23 as separate examples (1.92x)"))
        #expect(summary[1].contains("8 targets, 2 EOS labels inside chains"))
    }

    @Test func refusesChainsThatCannotBeRead() throws {
        var metadata = Self.metadata
        metadata.maxSeqLen = 12
        let startsWithExtension = [[Self.example([13, 14], [1, 1], 0, extends: true)]]
        #expect {
            try PreparedDatasetWriter.write(to: path("a.h5"), sequences: startsWithExtension, metadata: metadata)
        } throws: { "\($0)".contains("example 0 extends a chain but starts sequence 0") }
        let labelAtTheEnd = [[Self.example([2, 10, 11], [0, 1, 1], 3, eosLabel: true)]]
        #expect {
            try PreparedDatasetWriter.write(to: path("b.h5"), sequences: labelAtTheEnd, metadata: metadata)
        } throws: { "\($0)".contains("example 3 has an EOS label but no target at its end or no longer example after it") }
        #expect(try FileManager.default.contentsOfDirectory(atPath: folder.path).isEmpty)
    }
}
