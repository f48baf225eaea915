import ArgumentParser
import Storage
import Training

struct Inspect: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show what an HDF5 file holds: groups, datasets (type, shape) and attributes.",
        discussion: """
            A training checkpoint is summarized first: step, epoch, tokens, model, parameter count, metrics. A prepared \
            dataset too: its format_version, examples, chains of shared prefixes, sequences, tokens with and without sharing.
            """)

    @Argument(help: "Any HDF5 file: a checkpoint, a prepared dataset, a fixture.")
    var file: String

    @Flag(inversion: .prefixedNo, help: "List attributes.")
    var attributes = true

    @Flag(help: "Print long attribute values (job text, JSON) in full.")
    var full = false

    func run() throws {
        let h5 = try HDF5File(file, mode: .readOnly)
        print(file)
        if let checkpoint = try? TrainingCheckpoint.describe(file) {
            checkpoint.summaryLines().forEach { print($0) }
        } else if let dataset = PreparedDataset.summaryLines(file) {
            dataset.forEach { print($0) }
        }
        for line in try h5.treeDescription(attributes: attributes, maxValueLength: full ? nil : 120) {
            print(line)
        }
    }
}
