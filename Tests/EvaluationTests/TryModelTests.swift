import Foundation
import Interop
import OPT
import Storage
import TestSupport
import Testing
import Tokenizer
@testable import Evaluation

/// `tooltune generate` takes the tokenizer from the job stored in the checkpoint. That job is read from its
/// text with the checkpoint's own model, so it still works after the files it named (model, data) moved.
@Suite struct TryModelTests {
    @Test func storedJobWhoseFilesMovedStillNamesTheTokenizer() throws {
        let root = try makeTemporaryFolder("trymodel")
        let tokenizerFolder = ToolTuneBinary.projectRoot.appendingPathComponent("demo/tokenizer").path
        let config = try #require(OPTConfig.presets["tiny"])
        let checkpoint = root.appendingPathComponent("model.h5").path
        try ModelCheckpoint.save(try OPTModel(config: config, seed: 1), to: checkpoint)
        let job = """
            name: moved
            model: {init: hf, path: \(root.path)/no-longer-here}
            tokenizer: {path: \(tokenizerFolder)}
            data: {train: \(root.path)/gone, max_seq_len: 512}

            """
        let file = try HDF5File(checkpoint, mode: .readWrite)
        try file.root.setAttribute("job", job)
        try file.close()

        let tryModel = try TryModel(checkpoint: checkpoint, tokenizerFolder: nil, settings: GenerationSettings(maxNewTokens: 4))
        #expect(tryModel.tokenizer.sha256 == (try Tokenizer(folder: tokenizerFolder)).sha256)
    }
}
