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
        var step: Int, epoch: Int, rank: Int, sequence: Int, example: Int
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
            let got = mine.sorted { $0.example < $1.example }
            try #require(got.count == expected.count, "\(name) step \(k + 1): \(got.count) examples, reference \(expected.count)")
            for (line, example) in zip(got, expected) {
                #expect(line.example == example.inputIndex && line.input_ids == example.tokens)
                // The reference's labels: np.where(loss_mask == 1, ids, -100).
                #expect(line.labels == zip(example.tokens, example.lossMask).map { $1 == 1 ? $0 : -100 },
                        "\(name) step \(k + 1), example \(line.example)")
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
