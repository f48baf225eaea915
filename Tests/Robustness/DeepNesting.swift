import Foundation
import TestSupport
import Testing

/// Deep nesting in every JSON (and YAML) file a command reads: just past the parser's limit, far past
/// it, and deep enough to have overflowed the stack of a recursive parser (it crashed near 10,000).
enum DeepNesting {
    static let depths = [513, 10_000, 200_000]

    /// The nested text shapes: arrays, objects, and both alternating.
    static func nested(_ shape: String, depth: Int) -> String {
        switch shape {
        case "arrays": return String(repeating: "[", count: depth) + String(repeating: "]", count: depth)
        case "objects": return String(repeating: "{\"a\":", count: depth) + "1" + String(repeating: "}", count: depth)
        default:
            let open = (0..<depth).map { $0 % 2 == 0 ? "[" : "{\"k\":" }.joined()
            let close = (0..<depth).reversed().map { $0 % 2 == 0 ? "]" : "}" }.joined()
            return open + "0" + close
        }
    }

    static let shapes = ["arrays", "objects", "mixed"]

    static func cases() -> [HostileCase] {
        var all: [HostileCase] = []
        let limit = "nested more than 512 levels deep"
        for shape in shapes {
            for depth in depths {
                let tag = "\(shape) x\(depth)"
                // A ToolBench answer file, whole and as the value of train_messages.
                all.append(HostileCase(family: "deep-json", name: "answer file \(tag)", make: { folder in
                    let data = folder.appendingPathComponent("data/G1_answer")
                    try FileManager.default.createDirectory(at: data, withIntermediateDirectories: true)
                    try nested(shape, depth: depth).write(to: data.appendingPathComponent("1_x.json"), atomically: true, encoding: .utf8)
                    return ["prepare", try Inputs.job(in: folder, train: folder.appendingPathComponent("data").path)]
                }, mentions: ["1_x.json:1:", limit]))
                all.append(HostileCase(family: "deep-json", name: "answer_generation value \(tag)", make: { folder in
                    let data = folder.appendingPathComponent("data")
                    try FileManager.default.createDirectory(at: data, withIntermediateDirectories: true)
                    let text = "{\"answer_generation\": {\"valid_data\": true, \"train_messages\": \(nested(shape, depth: depth))}}"
                    try text.write(to: data.appendingPathComponent("2_y.json"), atomically: true, encoding: .utf8)
                    return ["prepare", try Inputs.job(in: folder, train: data.path, format: "toolbench-answers")]
                }, mentions: ["2_y.json:1:", "$.answer_generation.train_messages", limit]))
                // A chat JSONL record on line 2 (line 1 is fine).
                all.append(HostileCase(family: "deep-json", name: "messages jsonl \(tag)", make: { folder in
                    let file = folder.appendingPathComponent("chat.jsonl")
                    let good = "{\"messages\": [{\"role\": \"user\", \"content\": \"hi\"}, {\"role\": \"assistant\", \"content\": \"yo\"}]}"
                    try (good + "\n{\"messages\": " + nested(shape, depth: depth) + "}\n").write(to: file, atomically: true, encoding: .utf8)
                    return ["prepare", try Inputs.job(in: folder, train: file.path, format: "messages")]
                }, mentions: ["chat.jsonl:2:", limit]))
                // A ToolLLaMA conversations file.
                all.append(HostileCase(family: "deep-json", name: "toolllama file \(tag)", make: { folder in
                    let file = folder.appendingPathComponent("conv.json")
                    try "[{\"id\": \"q\", \"conversations\": \(nested(shape, depth: depth))}]".write(to: file, atomically: true, encoding: .utf8)
                    return ["prepare", try Inputs.job(in: folder, train: file.path, format: "toolllama")]
                }, mentions: ["conv.json:1:", limit]))
                // data.test_query_ids (StableToolBench's {"<qid>": 0} files).
                all.append(HostileCase(family: "deep-json", name: "test_query_ids file \(tag)", make: { folder in
                    let ids = folder.appendingPathComponent("ids.json")
                    try nested(shape, depth: depth).write(to: ids, atomically: true, encoding: .utf8)
                    return ["prepare", try Inputs.job(in: folder, train: Inputs.demoTrain, format: "toolbench-answers",
                                                      data: "test_query_ids: \(ids.path)")]
                }, mentions: ["ids.json", limit]))
                // The tokenizer's vocab.json and special-token files.
                for file in ["vocab.json", "special_tokens_map.json", "tokenizer_config.json"] {
                    all.append(HostileCase(family: "deep-json", name: "tokenizer \(file) \(tag)", make: { folder in
                        let tokenizer = try Inputs.copy(Inputs.demoTokenizer, to: folder, as: "tok")
                        try nested(shape, depth: depth).write(toFile: tokenizer + "/" + file, atomically: true, encoding: .utf8)
                        return ["tokenize", "--tokenizer", tokenizer, "hello"]
                    }, mentions: ["tok/\(file)", limit]))
                }
                // A Hugging Face folder's config.json and sharded index; the safetensors header.
                all.append(HostileCase(family: "deep-json", name: "hf config.json \(tag)", make: { folder in
                    let hf = try Inputs.copy(Inputs.hfFolder, to: folder, as: "hf")
                    try nested(shape, depth: depth).write(toFile: hf + "/config.json", atomically: true, encoding: .utf8)
                    return ["import-hf", hf, "out.h5"]
                }, mentions: ["hf/config.json"]))
                all.append(HostileCase(family: "deep-json", name: "safetensors index \(tag)", make: { folder in
                    let hf = try Inputs.copy(HFFixtures.path("preln/fp32-sharded"), to: folder, as: "hf")
                    try nested(shape, depth: depth).write(toFile: hf + "/model.safetensors.index.json", atomically: true, encoding: .utf8)
                    return ["import-hf", hf, "out.h5"]
                }, mentions: ["hf/model.safetensors.index.json"]))
                all.append(HostileCase(family: "deep-json", name: "safetensors header \(tag)", make: { folder in
                    let hf = try Inputs.copy(Inputs.hfFolder, to: folder, as: "hf")
                    var header = Array("{\"__metadata__\": \(nested(shape, depth: depth))}".utf8)
                    header += [UInt8](repeating: 0x20, count: (8 - header.count % 8) % 8)
                    var bytes = withUnsafeBytes(of: UInt64(header.count).littleEndian) { Array($0) }
                    bytes += header
                    try Data(bytes).write(to: URL(fileURLWithPath: hf + "/model.safetensors"))
                    return ["import-hf", hf, "out.h5"]
                }, mentions: ["hf/model.safetensors", "header"]))
                // The files a job names, read by its preflight (validate, prepare, train, eval).
                all.append(HostileCase(family: "deep-json", name: "job's tokenizer vocab.json \(tag)", make: { folder in
                    let tokenizer = try Inputs.copy(Inputs.demoTokenizer, to: folder, as: "tok")
                    try nested(shape, depth: depth).write(toFile: tokenizer + "/vocab.json", atomically: true, encoding: .utf8)
                    let job = try Inputs.job(in: folder, train: Inputs.demoTrain)
                    try String(contentsOfFile: job, encoding: .utf8).replacingOccurrences(of: Inputs.demoTokenizer, with: tokenizer)
                        .write(toFile: job, atomically: true, encoding: .utf8)
                    return ["validate", job]
                }, mentions: ["tokenizer.path", "tok/vocab.json"]))
                all.append(HostileCase(family: "deep-json", name: "job's model.init hf config.json \(tag)", make: { folder in
                    let hf = try Inputs.copy(Inputs.hfFolder, to: folder, as: "hf")
                    try nested(shape, depth: depth).write(toFile: hf + "/config.json", atomically: true, encoding: .utf8)
                    let job = try Inputs.job(in: folder, train: Inputs.demoTrain)
                    try String(contentsOfFile: job, encoding: .utf8)
                        .replacingOccurrences(of: "{init: random, config: {preset: tiny, vocab_size: 4096, max_position_embeddings: 1024}}",
                                              with: "{init: hf, path: \(hf)}")
                        .write(toFile: job, atomically: true, encoding: .utf8)
                    return ["validate", job]
                }, mentions: ["model.path", "hf/config.json"]))
                // A query file and a toolenv tool file, as generate --query reads them (with the small run's
                // checkpoint, whose tokenizer is the demo's).
                all.append(HostileCase(family: "deep-json", name: "query file \(tag)", make: { folder in
                    let query = folder.appendingPathComponent("q.json")
                    try nested(shape, depth: depth).write(to: query, atomically: true, encoding: .utf8)
                    return ["generate", try SmallRun.checkpoint(), "--query", query.path, "--tokenizer", Inputs.demoTokenizer]
                }, mentions: ["q.json:1:", limit]))
                all.append(HostileCase(family: "deep-json", name: "toolenv tool file \(tag)", make: { folder in
                    let tools = try Inputs.copy(Inputs.project.appendingPathComponent("demo/data/toolenv/tools").path, to: folder, as: "tools")
                    try nested(shape, depth: depth).write(toFile: tools + "/Travel/flight_status.json", atomically: true, encoding: .utf8)
                    return ["generate", try SmallRun.checkpoint(), "--query", Inputs.project.appendingPathComponent("demo/data/queries/G1_query.json").path,
                            "--toolenv", tools, "--tokenizer", Inputs.demoTokenizer, "--max-new-tokens", "1", "--max-steps", "1"]
                }, mentions: ["tools/Travel/flight_status.json:1:", limit]))
                // The job file itself (YAML flow sequences and mappings).
                all.append(HostileCase(family: "deep-json", name: "job yaml \(tag)", make: { folder in
                    let job = folder.appendingPathComponent("job.yaml")
                    try ("name: x\nmodel: " + nested(shape, depth: depth) + "\n").write(to: job, atomically: true, encoding: .utf8)
                    return ["validate", job.path]
                }, mentions: ["job.yaml"]))
            }
        }
        return all
    }
}
