import Foundation
import TestSupport
import Testing
@testable import Training

/// distributed.allreduce_dtype: bf16 on 2 ranks of one machine: the gradients are rounded for the
/// exchange, so the run is not the fp32 run bit for bit, but its losses stay within what bfloat16's 8
/// significant bits move over a few AdamW steps; step 1's loss comes before any update and is equal.
@Suite struct AllreduceDTypeTests {
    @Test func bf16GradientsTrainLikeFloat32() throws {
        let fp32 = try TrainingJob("allreduce-fp32")
        let bf16 = try TrainingJob("allreduce-bf16", extra: "distributed: {allreduce_dtype: bf16}")
        defer { for job in [fp32, bf16] { try? FileManager.default.removeItem(at: job.root) } }
        expectSuccess(try fp32.train(ranks: 2), "fp32 allreduce")
        let run = try bf16.train(ranks: 2)
        expectSuccess(run, "bf16 allreduce")
        #expect(run.stdout.contains("flat, bf16 on the wire"), "\(run.stdout.prefix(2000))")
        let a = try fp32.metrics(), b = try bf16.metrics()
        #expect(a.count == 6 && b.count == 6)
        #expect(a[0].loss == b[0].loss)
        for (x, y) in zip(a, b) { #expect(abs(x.loss - y.loss) <= 1e-3 * x.loss, "step \(x.step): \(x.loss) vs \(y.loss)") }
        #expect(zip(a, b).dropFirst().contains { $0.loss != $1.loss }, "bf16 changed nothing: was it used?")
    }
}
