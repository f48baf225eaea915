import Foundation
import Storage
import TestSupport
import Testing

/// `tooltune forward` run as a user runs it, against the fixtures' transformers logits.
@Suite struct ForwardCommandTests {
    static let fixture = ToolTuneBinary.projectRoot.appendingPathComponent("Tests/Fixtures/opt/tiny-postln-proj.h5").path

    @Test func printsLossesAndWritesTransformersLogits() throws {
        let reference = try HDF5File(Self.fixture).root
        let prompt = try reference.read("generate/prompt_ids", as: Int32.self).values
        let expected = try reference.read("generate/prompt_logits_last", as: Float.self).values
        let folder = try makeTemporaryFolder("forward")
        defer { try? FileManager.default.removeItem(at: folder) }
        let out = folder.appendingPathComponent("logits.h5").path
        let result = try runProcess(ToolTuneBinary.path, ["forward", Self.fixture, "--ids", prompt.map(String.init).joined(separator: ","),
                                                          "--logits", out, "--threads", "1"])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("mean next-token loss"))
        #expect(result.stdout.split(separator: "\n").filter { $0.hasPrefix("       ") }.count == prompt.count - 1)
        let logits = try HDF5File(out).root.read("logits", as: Float.self)
        #expect(logits.shape == [1, prompt.count, expected.count])
        let last = logits.values.suffix(expected.count)
        #expect(zip(last, expected).map { abs($0 - $1) }.max()! <= 1e-4)
    }

    @Test func badInputIsNamedAndWritesNothing() throws {
        let folder = try makeTemporaryFolder("forward")
        defer { try? FileManager.default.removeItem(at: folder) }
        let out = folder.appendingPathComponent("logits.h5").path
        for (ids, message) in [("2,x,5", "\"x\" is not a token id"), ("2,5000", "tokens[0, 1] = 5000 is outside the vocabulary"),
                               ("2", "need at least 2 token ids")] {
            let result = try runProcess(ToolTuneBinary.path, ["forward", Self.fixture, "--ids", ids, "--logits", out])
            #expect(result.status != 0)
            #expect(result.stderr.contains(message), "\(ids): \(result.stderr)")
            #expect(!FileManager.default.fileExists(atPath: out))
        }
        let missing = try runProcess(ToolTuneBinary.path, ["forward", "/nonexistent/model.h5", "--ids", "2,3"])
        #expect(missing.status != 0 && missing.stderr.contains("/nonexistent/model.h5"))
        for (arguments, message) in [([String](), "give either --ids or --dataset"),
                                     (["--ids", "2,3", "--dataset", out], "give either --ids or --dataset"),
                                     (["--ids", "2,3", "--out", out], "--out goes with --dataset"),
                                     (["--dataset", Self.fixture], "not a prepared dataset")] {
            let result = try runProcess(ToolTuneBinary.path, ["forward", Self.fixture] + arguments)
            #expect(result.status != 0 && result.stderr.contains(message), "\(arguments): \(result.stderr)")
            #expect(!FileManager.default.fileExists(atPath: out))
        }
    }
}
