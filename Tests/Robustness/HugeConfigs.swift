import Foundation
import Storage
import TestSupport
import Testing

/// Model configurations read from files (a Hugging Face config.json, a model file's model_config
/// attribute) with sizes no model can have: each must be refused naming the file and the field before
/// anything is sized by it (vocab_size 2147483647 x hidden_size 1048576 once trapped in FloatBuffer).
enum HugeConfigs {
    static let sizeFields = ["vocab_size", "hidden_size", "num_hidden_layers", "ffn_dim", "num_attention_heads",
                             "max_position_embeddings", "word_embed_proj_dim"]
    /// JSON texts of bad values for a size.
    static let badSizes = ["0", "-1", "-9223372036854775808", "2147483647", "9223372036854775807", "18446744073709551616",
                           "1e30", "4097.5", "\"12\"", "null", "true", "[64]", "{}"]

    /// A copy of the fixture's config.json with `edits` applied (JSON texts; nil removes the key).
    static func config(_ edits: [String: String?]) throws -> String {
        let text = try String(contentsOfFile: Inputs.hfFolder + "/config.json", encoding: .utf8)
        var object = try JSONSerialization.jsonObject(with: Data(text.utf8)) as! [String: Any]
        for (key, value) in edits {
            object[key] = value.map { try! JSONSerialization.jsonObject(with: Data("[\($0)]".utf8)) as! [Any] }?.first
        }
        // Keep the literal texts (18446744073709551616 and 1e30 do not survive JSONSerialization).
        var out = String(decoding: try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]), as: UTF8.self)
        for (key, value) in edits {
            guard let value else { continue }
            if let range = out.range(of: "\"\(key)\":[^,}]*", options: .regularExpression), !value.hasPrefix("["), !value.hasPrefix("{") {
                out.replaceSubrange(range, with: "\"\(key)\":\(value)")
            }
        }
        return out
    }

    static func cases() -> [HostileCase] {
        var all: [HostileCase] = []
        // `field` is what the message must name: the key, or for a configuration within the limits, what
        // refused it (the weights' shapes are checked against it before memory is sized by it; the model
        // files of the other commands are sized first and refused for memory).
        var configs: [(name: String, edits: [String: String?], field: String)] = []
        for field in sizeFields {
            for value in badSizes { configs.append(("\(field) = \(value)", [field: value], field)) }
        }
        configs += [
            ("vocab 2147483647 x hidden 1048576", ["vocab_size": "2147483647", "hidden_size": "1048576", "word_embed_proj_dim": "1048576"], "vocab_size"),
            ("within every limit but 1 TB of weights", ["vocab_size": "4194304", "hidden_size": "65536", "word_embed_proj_dim": "65536",
                                                         "num_attention_heads": "1"], "parameters"),
            ("1024 layers of ffn 262144", ["num_hidden_layers": "1024", "ffn_dim": "262144"], "parameters"),
            ("positions 1048576 x hidden 65536", ["max_position_embeddings": "1048576", "hidden_size": "65536",
                                                 "word_embed_proj_dim": "65536", "num_attention_heads": "1"], "parameters"),
            ("pad_token_id 2^62", ["pad_token_id": "4611686018427387904"], "pad_token_id"),
            ("eos_token_id -5", ["eos_token_id": "-5"], "eos_token_id"),
            ("dropout 7", ["dropout": "7"], "dropout"),
            ("heads not dividing hidden", ["num_attention_heads": "5"], "num_attention_heads"),
        ]
        for config in configs {
            all.append(HostileCase(family: "huge-config", name: "config.json \(config.name)", make: { folder in
                let hf = try Inputs.copy(Inputs.hfFolder, to: folder, as: "hf")
                try HugeConfigs.config(config.edits).write(toFile: hf + "/config.json", atomically: true, encoding: .utf8)
                return ["import-hf", hf, "out.h5"]
            }, mentions: config.field == "parameters" ? ["hf/model.safetensors", "has shape"] : ["hf/config.json", config.field]))
            // The same configuration as a model file's model_config attribute, met by three commands.
            for command in ["forward", "export-hf", "generate"] {
                all.append(HostileCase(family: "huge-config", name: "model_config \(config.name) (\(command))", make: { folder in
                    let model = try Inputs.copy(try modelFile.get(), to: folder, as: "model.h5")
                    let file = try HDF5File(model, mode: .readWrite)
                    try file.root.setAttribute("model_config", try HugeConfigs.config(config.edits))
                    try file.close()
                    switch command {
                    case "forward": return ["forward", model, "--ids", "2,5,7"]
                    case "export-hf": return ["export-hf", model, "out", "--no-tokenizer"]
                    default: return ["generate", model, "--prompt", "hi", "--tokenizer", Inputs.demoTokenizer]
                    }
                }, mentions: ["model.h5", "model_config", config.field]))
            }
        }
        // config.json cut short at several points, or not an object at all.
        let full = try! String(contentsOfFile: Inputs.hfFolder + "/config.json", encoding: .utf8)
        for length in [0, 1, 2, full.utf8.count / 3, full.utf8.count / 2, full.utf8.count - 2] {
            all.append(HostileCase(family: "huge-config", name: "config.json truncated to \(length) bytes", make: { folder in
                let hf = try Inputs.copy(Inputs.hfFolder, to: folder, as: "hf")
                try Data(full.utf8.prefix(length)).write(to: URL(fileURLWithPath: hf + "/config.json"))
                return ["import-hf", hf, "out.h5"]
            }, mentions: ["hf/config.json", length == 0 ? "empty" : "truncated"]))
        }
        for (name, text) in [("a list", "[1, 2]"), ("a string", "\"opt\""), ("NaN dropout", "{\"dropout\": NaN}"),
                             ("binary", "\u{0}\u{1}\u{2}"), ("model_type llama", "{\"model_type\": \"llama\"}")] {
            all.append(HostileCase(family: "huge-config", name: "config.json is \(name)", make: { folder in
                let hf = try Inputs.copy(Inputs.hfFolder, to: folder, as: "hf")
                try text.write(toFile: hf + "/config.json", atomically: true, encoding: .utf8)
                return ["import-hf", hf, "out.h5"]
            }, mentions: ["hf/config.json"]))
        }
        return all
    }
}

/// safetensors headers whose numbers are out of any range: offsets near 2^64, negative, a shape whose
/// product overflows, a header length past the file.
enum HostileSafetensors {
    static func file(header: String, data: Int = 0, length: UInt64? = nil) -> Data {
        var bytes = Array(header.utf8)
        bytes += [UInt8](repeating: 0x20, count: (8 - bytes.count % 8) % 8)
        var out = withUnsafeBytes(of: (length ?? UInt64(bytes.count)).littleEndian) { Array($0) }
        out += bytes + [UInt8](repeating: 0, count: data)
        return Data(out)
    }

    static func cases() -> [HostileCase] {
        let name = "model.decoder.embed_tokens.weight"
        func tensor(_ shape: String, _ offsets: String, dtype: String = "F32") -> String {
            "{\"\(name)\": {\"dtype\": \"\(dtype)\", \"shape\": \(shape), \"data_offsets\": \(offsets)}}"
        }
        let headers: [(String, String, Int, String)] = [
            ("end offset 2^64 - 1", tensor("[1]", "[0, 18446744073709551615]"), 4, "data_offsets"),
            ("end offset 2^64", tensor("[1]", "[0, 18446744073709551616]"), 4, "data_offsets"),
            ("begin offset 2^63", tensor("[1]", "[9223372036854775808, 9223372036854775812]"), 4, "data_offsets"),
            ("negative offsets", tensor("[1]", "[-4, 0]"), 4, "data_offsets"),
            ("float offsets", tensor("[1]", "[0.5, 4]"), 4, "data_offsets"),
            ("three offsets", tensor("[1]", "[0, 4, 8]"), 4, "data_offsets"),
            ("shape product overflows", tensor("[4294967296, 4294967296]", "[0, 4]"), 4, "shape"),
            ("shape 2^64", tensor("[18446744073709551616]", "[0, 4]"), 4, "shape"),
            ("negative shape", tensor("[-1]", "[0, 4]"), 4, "shape"),
            ("dtype F64", tensor("[1]", "[0, 8]", dtype: "F64"), 8, "dtype"),
            ("metadata not strings", "{\"__metadata__\": {\"format\": 5}}", 0, "__metadata__"),
            ("entry not an object", "{\"\(name)\": 5}", 0, name),
            ("missing data_offsets", "{\"\(name)\": {\"dtype\": \"F32\", \"shape\": [1]}}", 4, "data_offsets"),
        ]
        var all = headers.map { label, header, data, field in
            HostileCase(family: "safetensors", name: label, make: { folder in
                let hf = try Inputs.copy(Inputs.hfFolder, to: folder, as: "hf")
                try file(header: header, data: data).write(to: URL(fileURLWithPath: hf + "/model.safetensors"))
                return ["import-hf", hf, "out.h5"]
            }, mentions: ["hf/model.safetensors", field])
        }
        for (label, length) in [("header length 2^64 - 1", UInt64.max), ("header length 2^63", UInt64(1) << 63),
                                ("header length past the file", UInt64(1 << 20))] {
            all.append(HostileCase(family: "safetensors", name: label, make: { folder in
                let hf = try Inputs.copy(Inputs.hfFolder, to: folder, as: "hf")
                try file(header: "{}", length: length).write(to: URL(fileURLWithPath: hf + "/model.safetensors"))
                return ["import-hf", hf, "out.h5"]
            }, mentions: ["hf/model.safetensors", "header length"]))
        }
        return all
    }
}

/// Token ids in vocab.json that would size the tokenizer's id table (2^31 - 1000 once asked for 34 GB
/// and crashed), met by tokenize (the tokenizer) and prepare (the job's preflight, then the tokenizer).
enum HostileVocabularies {
    static func cases() -> [HostileCase] {
        ["4194304", "2147482647", "2147483647", "1099511627776", "-1", "4.5", "\"7\"", "null"].flatMap { id in
            ["tokenize", "prepare"].map { command in
                HostileCase(family: "vocabulary", name: "vocab.json id \(id) (\(command))", make: { folder in
                    let tokenizer = try Inputs.copy(Inputs.demoTokenizer, to: folder, as: "tok")
                    let vocab = try String(contentsOfFile: tokenizer + "/vocab.json", encoding: .utf8)
                    try vocab.replacingOccurrences(of: #""!":4,"#, with: "\"!\":\(id),")
                        .write(toFile: tokenizer + "/vocab.json", atomically: true, encoding: .utf8)
                    if command == "tokenize" { return ["tokenize", "--tokenizer", tokenizer, "hello"] }
                    let job = try Inputs.job(in: folder, train: Inputs.demoTrain)
                    try String(contentsOfFile: job, encoding: .utf8).replacingOccurrences(of: Inputs.demoTokenizer, with: tokenizer)
                        .write(toFile: job, atomically: true, encoding: .utf8)
                    return ["prepare", job]
                }, mentions: ["tok/vocab.json"])
            }
        }
    }
}
