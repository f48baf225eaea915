import Kernels
import OPT
import Storage
import Testing

/// bf16 mixed precision against PyTorch's: the fixtures' /autocast_bf16 group, transformers' OPT run under
/// torch.autocast("cpu", dtype=torch.bfloat16) on the same weights and cases (scripts/make_reference.py).
@Suite struct MixedPrecisionReferenceTests {
    static let bf16 = GEMMEngine.available.filter { $0.precision == .bf16 }
    static let pairs = bf16.isEmpty ? [] : Fixture.names.flatMap { name in Fixture.cases.map { (name, $0) } }

    /// The bf16 weight copies are PyTorch's bf16 rounding of the weights, bit for bit.
    @Test(.enabled(if: !bf16.isEmpty, "this CPU has no bfloat16 instructions"), arguments: Fixture.names)
    func weightCopiesAreTorchsRounding(fixtureName: String) throws {
        let fixture = try Fixture(fixtureName)
        let model = try fixture.model()
        model.use(Self.bf16[0])
        let rounded = try #require(model.roundedParameters).elements(BFloat16.self)
        for entry in model.layout.entries {
            let torch = try fixture.floats("autocast_bf16/weights/" + entry.name).values.map(\.bitPattern)
            let ours = (0..<entry.count).map { rounded[entry.offset + $0].float.bitPattern }
            #expect(ours == torch, "\(entry.name)")
        }
    }

    /// The loss within 1e-2 of autocast's and every gradient's cosine similarity with autocast's at least
    /// 0.999 (the bounds; k_proj.bias, whose exact gradient is zero, is rounding noise in both).
    @Test(arguments: pairs)
    func lossAndGradientsMatchAutocast(fixtureName: String, caseName: String) throws {
        let fixture = try Fixture(fixtureName)
        let model = try fixture.model()
        model.use(Self.bf16[0])
        let batch = try fixture.microBatch(caseName)
        let group = "autocast_bf16/cases/\(caseName)/"
        let result = try model.forward(batch)
        let loss = result.lossSum / Double(result.targetCount)
        let reference = Double(try fixture.floats(group + "loss").values[0])
        #expect(abs(loss - reference) / reference <= 1e-2, "\(fixtureName)/\(caseName): loss \(loss), autocast \(reference)")
        model.zeroGradients()
        model.backward(scale: 1 / Float(result.targetCount))
        var worst = (name: "", cosine: 1.0)
        for entry in model.layout.entries where !entry.name.hasSuffix("k_proj.bias") {
            let torch = try fixture.floats(group + "grads/" + entry.name).values
            let ours = Array(model.gradient(entry.name)!)
            var dot = 0.0, a = 0.0, b = 0.0
            for (x, y) in zip(ours, torch) {
                dot += Double(x) * Double(y)
                a += Double(x) * Double(x)
                b += Double(y) * Double(y)
            }
            let cosine = dot / (a * b).squareRoot()
            if cosine < worst.cosine { worst = (entry.name, cosine) }
        }
        #expect(worst.cosine >= 0.999, "\(fixtureName)/\(caseName): \(worst.name) gradient cosine \(worst.cosine) loss \(loss) vs \(reference)")
    }
}
