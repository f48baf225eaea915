import Foundation
import Interop
import Storage
import Testing
import TestSupport
import Training

/// `tooltune export-steps` against the PyTorch training reference (Tests/Fixtures/train): the steps it writes
/// are the ones scripts/make_training_reference.py drew (data order written from the specification, not from
/// the Swift), each example with the labels that script gave Hugging Face's model.
@Suite(.serialized) struct StepExportTests {
    struct Line: Decodable {
        var step: Int, epoch: Int, rank: Int, sequence: Int, examples: [Int]
        var input_ids: [Int32], labels: [Int32]
    }

    @Test(arguments: TrainingReferenceTests.names)
    func exportsTheReferenceSteps(name: String) throws {
        let fixture = try TrainingFixture(name)
        let folder = try makeTemporaryFolder("export-steps")
        defer { try? FileManager.default.removeItem(at: folder) }
        let job = try fixture.writeJob(in: folder)
        let out = folder.appendingPathComponent("export")
        let result = try runProcess(ToolTuneBinary.path, ["export-steps", job.path, out.path])
        try #require(result.status == 0, "\(result.stderr)\(result.stdout)")

        let plan = try JSONDecoder().decode(StepExport.Plan.self, from: Data(contentsOf: out.appendingPathComponent("plan.json")))
        #expect(plan.totalSteps == fixture.steps.count && plan.warmupSteps == fixture.warmupSteps && plan.schedule == fixture.schedule)
        #expect(plan.steps.map(\.tokens) == fixture.steps.map(\.tokens))
        #expect(plan.steps.map(\.targetTokens) == fixture.steps.map(\.targetTokens))
        #expect(plan.steps.map(\.epoch) == fixture.steps.map(\.epoch))

        let text = try String(contentsOf: out.appendingPathComponent("examples.jsonl"), encoding: .utf8)
        let lines = try text.split(separator: "\n").map { try JSONDecoder().decode(Line.self, from: Data($0.utf8)) }
        for (k, step) in fixture.steps.enumerated() {
            let mine = lines.filter { $0.step == k + 1 }
            #expect(mine.allSatisfy { $0.epoch == step.epoch && $0.rank == 0 })
            // Every example of the step's sequences, once, in sequence order within each sequence.
            #expect(Set(mine.map(\.sequence)) == Set(step.sequences), "\(name) step \(k + 1)")
            let expected = step.sequences.flatMap { fixture.sequences[$0] }.sorted { $0.inputIndex < $1.inputIndex }
            // The fixtures have no shared prefixes: every chain is one example.
            #expect(mine.allSatisfy { $0.examples.count == 1 })
            let got = mine.sorted { $0.examples[0] < $1.examples[0] }
            try #require(got.count == expected.count, "\(name) step \(k + 1): \(got.count) examples, reference \(expected.count)")
            for (line, example) in zip(got, expected) {
                #expect(line.examples == [example.inputIndex] && line.input_ids == example.tokens)
                // The reference's labels: np.where(loss_mask == 1, ids, -100).
                #expect(line.labels == zip(example.tokens, example.lossMask).map { $1 == 1 ? $0 : -100 },
                        "\(name) step \(k + 1), example \(line.examples)")
            }
        }
        #expect(lines.count == fixture.steps.reduce(0) { $0 + $1.sequences.reduce(0) { $0 + fixture.sequences[$1].count } })

        // The run's initial model: the job's model.init, here the fixture's weights.
        let initial = try ModelCheckpoint.load(out.appendingPathComponent("initial.h5").path)
        let reference = try ModelCheckpoint.load(folder.appendingPathComponent("initial.h5").path)
        #expect(initial.parameters.array == reference.parameters.array)

        // --steps cuts the export; the folder is not replaced without --force.
        let again = try runProcess(ToolTuneBinary.path, ["export-steps", job.path, out.path, "--steps", "2"])
        #expect(again.status != 0 && again.stderr.contains("not empty"), "\(again.stderr)")
        let two = try runProcess(ToolTuneBinary.path, ["export-steps", job.path, out.path, "--steps", "2", "--force"])
        try #require(two.status == 0, "\(two.stderr)")
        let cut = try JSONDecoder().decode(StepExport.Plan.self, from: Data(contentsOf: out.appendingPathComponent("plan.json")))
        #expect(cut.steps.count == 2 && cut.totalSteps == plan.totalSteps)
    }

    /// With shared prefixes (the demo's held-out data, trained as `tooltune train` does by default) the export
    /// holds the steps the trainer ran (tokens, example tokens, targets from its metrics.jsonl), one row per
    /// chain, and each example's own span of a row carries that example's labels as it has them on its own
    /// (`PreparedDataset.readExample`): its tokens where they are targets, its `</s>` as EOS over the longer
    /// example's next input token.
    @Test func sharedPrefixChainsExportAsTrained() throws {
        let job = try TrainingJob("export-shared", steps: 3, everySteps: 3, dropout: 0)
        defer { try? FileManager.default.removeItem(at: job.root) }
        expectSuccess(try job.train(), "train")
        let out = job.root.appendingPathComponent("export")
        let result = try runProcess(ToolTuneBinary.path, ["export-steps", job.file.path, out.path])
        try #require(result.status == 0, "\(result.stderr)")
        let plan = try JSONDecoder().decode(StepExport.Plan.self, from: Data(contentsOf: out.appendingPathComponent("plan.json")))
        let metrics = try job.metrics()
        #expect(plan.steps.map(\.tokens) == metrics.map(\.tokens))
        #expect(plan.steps.map(\.exampleTokens) == metrics.map(\.exampleTokens))
        #expect(plan.steps.map(\.targetTokens) == metrics.map(\.targetTokens))
        // Some chains hold several examples, which then run fewer tokens than they have on their own.
        #expect(plan.steps.contains { $0.chains < $0.examples && $0.tokens < $0.exampleTokens }, "\(plan.steps)")
        #expect(plan.steps.allSatisfy { ($0.chains < $0.examples) == ($0.tokens < $0.exampleTokens) }, "\(plan.steps)")

        let dataset = try PreparedDataset(path: job.runFolder.appendingPathComponent("data/train.h5").path)
        let eos = Int32(dataset.metadata.eosID)
        let text = try String(contentsOf: out.appendingPathComponent("examples.jsonl"), encoding: .utf8)
        let rows = try text.split(separator: "\n").map { try JSONDecoder().decode(Line.self, from: Data($0.utf8)) }
        var eosOverOtherTokens = 0, absorbed = 0
        for row in rows {
            var covered = 0
            for e in row.examples {
                let (ids, mask) = try dataset.readExample(e)
                let own = (Int(dataset.exampleOffsets[e]) - Int(dataset.exampleOffsets[dataset.chainStart[e]]))..<ids.count
                // Its context is the row's prefix; only its last token may differ (EOS label over the next input).
                #expect(Array(row.input_ids[..<(ids.count - 1)]) == Array(ids.dropLast()), "example \(e)")
                for j in own {
                    #expect(row.labels[j] == (mask[j] == 1 ? ids[j] : -100), "example \(e), position \(j)")
                    covered += Int(mask[j])
                }
                if dataset.eosLabel[e] {
                    absorbed += 1
                    if row.input_ids[ids.count - 1] != eos { eosOverOtherTokens += 1 }
                }
            }
            #expect(covered == row.labels.filter { $0 != -100 }.count, "every label of the row is one of its examples'")
        }
        #expect(absorbed > 0 && eosOverOtherTokens == absorbed, "\(eosOverOtherTokens) of \(absorbed)")
    }

    @Test func missingDataOrTooManyStepsAreErrors() throws {
        let fixture = try TrainingFixture(TrainingReferenceTests.names[0])
        let folder = try makeTemporaryFolder("export-steps-errors")
        defer { try? FileManager.default.removeItem(at: folder) }
        let job = try fixture.writeJob(in: folder)
        let out = folder.appendingPathComponent("export")
        let tooMany = try runProcess(ToolTuneBinary.path, ["export-steps", job.path, out.path, "--steps", "999"])
        #expect(tooMany.status != 0 && tooMany.stderr.contains("--steps 999: the job has \(fixture.steps.count) steps"), "\(tooMany.stderr)")
        try FileManager.default.removeItem(at: folder.appendingPathComponent("train.h5"))
        let missing = try runProcess(ToolTuneBinary.path, ["export-steps", job.path, out.path])
        #expect(missing.status != 0 && missing.stderr.contains("train.h5"), "\(missing.stderr)")
        #expect(!FileManager.default.fileExists(atPath: out.path), "nothing is written")
    }
}
