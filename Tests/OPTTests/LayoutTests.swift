import Kernels
import OPT
import Testing

@Suite struct LayoutTests {
    @Test(arguments: [("opt-125m", 125_239_296), ("opt-350m", 331_196_416), ("opt-1.3b", 1_315_758_080)])
    func presetParameterCountsAreHuggingFaces(preset: String, expected: Int) throws {
        let config = try #require(OPTConfig.presets[preset])
        #expect(ParameterLayout(config: config).count == expected)
        #expect(config.parameterCount == expected)
    }

    static var configs: [OPTConfig] {
        OPTConfig.presets.values.map { $0 } + [TestModels.smallPreLN, TestModels.smallPostLN]
    }

    @Test(arguments: configs)
    func tensorsTileTheBufferInGradientOrder(config: OPTConfig) {
        let layout = ParameterLayout(config: config)
        #expect(layout.count == config.parameterCount)
        var next = 0
        for entry in layout.entries {
            #expect(entry.offset == next, "\(entry.name) starts at \(entry.offset), expected \(next)")
            next = entry.range.upperBound
        }
        #expect(next == layout.count)
        // Ready ranges are adjacent, last first, and cover everything once.
        let ready = layout.gradientReadyOrder
        #expect(ready.first?.upperBound == layout.count && ready.last?.lowerBound == 0)
        for (later, earlier) in zip(ready, ready.dropFirst()) { #expect(earlier.upperBound == later.lowerBound) }
        // q, k, v are one [3h, h] matrix and one [3h] bias.
        let h = config.hiddenSize
        for (l, layer) in layout.layers.enumerated() {
            let p = ParameterLayout.prefix + "layers.\(l).self_attn."
            #expect(layout[p + "q_proj.weight"]?.offset == layer.qkvWeight)
            #expect(layout[p + "k_proj.weight"]?.offset == layer.qkvWeight + h * h)
            #expect(layout[p + "v_proj.weight"]?.offset == layer.qkvWeight + 2 * h * h)
            #expect(layout[p + "k_proj.bias"]?.offset == layer.qkvBias + h)
            #expect(layout[p + "v_proj.bias"]?.offset == layer.qkvBias + 2 * h)
        }
        // Every parameter is in exactly one optimizer group.
        let groups = layout.optimizerGroups(weightDecay: 0.1)
        let grouped: Int = groups.flatMap(\.ranges).reduce(0) { $0 + $1.count }
        #expect(grouped == layout.count)
    }

    /// Each range reported to the callback is final: backward never writes to it again.
    @Test func gradientsAreFinalWhenReported() throws {
        let model = try OPTModel(config: TestModels.smallPostLN, seed: 2)
        let tokens: [Int32] = (0..<40).map { i in Int32(2 + i * 5 % 200) }
        let targets: [Int32] = (0..<40).map { i in i < 39 ? tokens[i + 1] : -1 }
        let batch = try MicroBatch(rows: 1, length: 40, tokens: tokens, targets: targets)
        model.zeroGradients()
        _ = try model.forward(batch)
        var reported: [Range<Int>] = [], snapshots: [[Float]] = []
        model.backward(scale: 0.1) { range in
            reported.append(range)
            snapshots.append(Array(model.gradients.buffer[range]))
        }
        #expect(reported == model.layout.gradientReadyOrder)
        for (range, snapshot) in zip(reported, snapshots) { #expect(Array(model.gradients.buffer[range]) == snapshot) }
    }
}

extension OPTConfig: CustomTestStringConvertible {
    public var testDescription: String {
        "h\(hiddenSize) L\(numHiddenLayers) \(doLayerNormBefore ? "pre" : "post")-LN e\(wordEmbedProjDim)"
    }
}
