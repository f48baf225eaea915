import Foundation
import OPT
import Yams

extension JobSpec {
    /// The job with every default filled in, as YAML in the file's own key order and names.
    public func resolvedYAML() throws -> String {
        func map(_ pairs: [(String, Node?)]) -> Node {
            .mapping(Node.Mapping(pairs.compactMap { key, value in value.map { (Node(key), $0) } }))
        }
        func value(_ v: some NodeRepresentable) -> Node? { try? v.represented() }
        func value(_ v: Double) -> Node? { yamlNumber(v) }

        var modelPairs: [(String, Node?)] = [("init", value(model.initialization.rawValue))]
        if let path = model.path { modelPairs.append(("path", value(path))) }
        modelPairs.append(("config", try model.config.yamlNode(preset: model.preset)))

        let resume: String = switch checkpoint.resume {
        case .auto: "auto"
        case .never: "never"
        case .from(let path): path
        }
        var schedule: [(String, Node?)] = [("name", value(train.schedule.name.rawValue))]
        if let steps = train.schedule.warmupSteps {
            schedule.append(("warmup_steps", value(steps)))
        } else {
            schedule.append(("warmup_ratio", value(train.schedule.warmupRatio)))
        }
        let root = map([
            ("name", value(name)),
            ("seed", value(seed)),
            ("model", map(modelPairs)),
            ("tokenizer", map([("path", value(tokenizer.path))])),
            ("data", map([
                ("train", value(data.train)), ("eval", data.eval.flatMap { value($0) }),
                ("format", value(data.format.rawValue)), ("max_seq_len", value(data.maxSeqLen)),
                ("fit", value(data.fit.rawValue)), ("packing", value(data.packing)),
                ("share_prefixes", value(data.sharePrefixes)),
                ("keep_thoughts", value(data.keepThoughts)), ("loss_turns", value(data.lossTurns.rawValue)),
                ("test_query_ids", data.testQueryIDs.isEmpty ? nil : .sequence(Node.Sequence(data.testQueryIDs.map { Node($0) }))),
            ])),
            ("train", map([
                ("epochs", value(train.epochs)), ("max_steps", train.maxSteps.flatMap { value($0) }),
                ("micro_batch_tokens", value(train.microBatchTokens)),
                ("global_batch_tokens", value(train.globalBatchTokens)),
                ("optimizer", map([
                    ("name", value(train.optimizer.name)), ("lr", value(train.optimizer.lr)),
                    ("betas", .sequence(Node.Sequence([value(train.optimizer.betas.0)!, value(train.optimizer.betas.1)!],
                                                      .implicit, .flow))),
                    ("eps", value(train.optimizer.eps)), ("weight_decay", value(train.optimizer.weightDecay)),
                ])),
                ("schedule", map(schedule)),
                ("max_grad_norm", value(train.maxGradNorm)), ("dropout", value(train.dropout)),
                ("skip_nonfinite", value(train.skipNonfinite)), ("precision", value(train.precision.rawValue)),
            ])),
            ("checkpoint", map([
                ("dir", value(checkpoint.dir)), ("every_steps", value(checkpoint.everySteps)),
                ("keep_last", value(checkpoint.keepLast)), ("resume", value(resume)),
            ])),
            ("distributed", map([
                ("ranks", distributed.ranks.flatMap { value($0) }), ("threads_per_rank", value(distributed.threadsPerRank)),
                ("bucket_mb", value(distributed.bucketMB)), ("allreduce", value(distributed.reduction.topology.rawValue)),
                ("allreduce_dtype", value(distributed.reduction.wire.rawValue)),
            ])),
            ("eval", map([
                ("max_new_tokens", value(eval.maxNewTokens)), ("every_checkpoint", value(eval.everyCheckpoint)),
                ("queries", eval.queries.isEmpty ? nil : .sequence(Node.Sequence(eval.queries.map { Node($0) }))),
                ("toolenv", eval.toolenv.flatMap { value($0) }), ("max_steps", value(eval.maxSteps)),
                ("temperature", value(eval.temperature)), ("top_p", value(eval.topP)),
                ("stop", eval.stop.isEmpty ? nil : .sequence(Node.Sequence(eval.stop.map { Node($0) }))),
                ("precision", value(eval.precision.rawValue)),
                ("toolserver", eval.toolServer.map { server in map([
                    ("url", value(server.url)), ("key_env", server.keyEnv.flatMap { value($0) }),
                    ("timeout_s", value(server.timeoutSeconds)), ("retries", value(server.retries)),
                ]) }),
                ("judge", eval.judge.map { judge in map([
                    ("base_url", value(judge.baseURL)), ("model", value(judge.model)), ("key_env", judge.keyEnv.flatMap { value($0) }),
                    ("evaluate_times", value(judge.evaluateTimes)), ("timeout_s", value(judge.timeoutSeconds)),
                    ("retries", value(judge.retries)),
                ]) }),
            ])),
            ("compute", map([("gemm", value(compute.gemm?.rawValue ?? "auto"))])),
        ])
        return try Yams.serialize(node: root, sortKeys: false)
    }
}

/// A float as YAML 1.1 readers (PyYAML included) parse it back: "0.001", "2.0e-05", "25.0".
func yamlNumber(_ v: Double) -> Node {
    var text = "\(v)"
    if let e = text.firstIndex(of: "e"), !text[..<e].contains(".") { text.insert(contentsOf: ".0", at: e) }
    return Node(text, .implicit, .plain)
}

/// One config.json value, keeping JSON's distinction between booleans, integers and floats.
private enum ConfigValue: Decodable {
    case bool(Bool), int(Int), double(Double), string(String)

    init(from decoder: Decoder) throws {
        let c = try decoder.singleValueContainer()
        if let b = try? c.decode(Bool.self) { self = .bool(b) }
        else if let i = try? c.decode(Int.self) { self = .int(i) }
        else if let d = try? c.decode(Double.self) { self = .double(d) }
        else { self = .string(try c.decode(String.self)) }
    }

    var node: Node {
        switch self {
        case .bool(let b): Node(b ? "true" : "false", .implicit, .plain)
        case .int(let i): Node(String(i), .implicit, .plain)
        case .double(let d): yamlNumber(d)
        case .string(let s): (try? s.represented()) ?? Node(s)
        }
    }
}

extension OPTConfig {
    /// The config as a YAML mapping of its Hugging Face keys (preset first when it came from one).
    func yamlNode(preset: String?) throws -> Node {
        let values = try JSONDecoder().decode([String: ConfigValue].self, from: JSONEncoder().encode(self))
        var pairs: [(Node, Node)] = []
        if let preset { pairs.append((Node("preset"), try preset.represented())) }
        for key in CodingKeys.allCases {
            if let v = values[key.rawValue] { pairs.append((Node(key.rawValue), v.node)) }
        }
        return .mapping(Node.Mapping(pairs))
    }
}
