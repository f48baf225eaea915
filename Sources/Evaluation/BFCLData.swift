import Foundation
import JSON
import ToolBench

/// One BFCL test entry: a question, the functions offered, and (for the AST categories) the possible
/// answers.
public struct BFCLEntry: Sendable {
    public var id: String
    public var category: String
    /// The user message of the entry's single turn.
    public var question: String
    /// BFCL's function descriptions (`{"name", "description", "parameters": {"type": "dict", ...}}`).
    public var functions: [JSONValue]
    /// `ground_truth`: one `{name: {parameter: [allowed values]}}` per expected call; nil for irrelevance.
    public var groundTruth: [JSONValue]?

    /// Whether the category expects several calls (matched in any order).
    public var parallel: Bool { category.contains("parallel") }
    /// Whether a correct answer makes no call at all.
    public var irrelevance: Bool { category.contains("irrelevance") }
}

/// The BFCL data that the PyPI package `bfcl-eval` ships in `bfcl_eval/data`: one JSON object per line,
/// `BFCL_v<N>_<category>.json` with the entries and `possible_answer/BFCL_v<N>_<category>.json` with
/// their `ground_truth`, matched by `id`.
public enum BFCLData {
    /// The single-turn Python categories `tooltune eval --bfcl` runs: AST-checked, or irrelevance.
    public static let categories = ["simple_python", "multiple", "parallel", "parallel_multiple", "irrelevance"]

    /// The data folder: `folder` itself, or its `data/` when given the package folder (`bfcl_eval`).
    public static func dataFolder(_ folder: String) throws -> String {
        let data = (folder as NSString).appendingPathComponent("data")
        if (try? file(in: folder, category: categories[0])) == nil, (try? file(in: data, category: categories[0])) != nil { return data }
        return folder
    }

    /// The newest `BFCL_v<N>_<category>.json` of a folder.
    static func file(in folder: String, category: String) throws -> String {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: folder) else {
            throw EvalError("--bfcl \(folder): cannot list the folder; give bfcl-eval's data folder (pip install bfcl-eval; then <site-packages>/bfcl_eval/data)")
        }
        var best: (Int, String)?
        for name in names where name.hasPrefix("BFCL_v") && name.hasSuffix("_\(category).json") {
            let version = name.dropFirst("BFCL_v".count).dropLast("_\(category).json".count)
            if let n = Int(version), n >= (best?.0 ?? 0) { best = (n, name) }
        }
        guard let best else {
            throw EvalError("--bfcl \(folder): no BFCL_v<N>_\(category).json; give bfcl-eval's data folder (pip install bfcl-eval; then <site-packages>/bfcl_eval/data)")
        }
        return (folder as NSString).appendingPathComponent(best.1)
    }

    /// The entries of `categories` (each category's first `limit`, in file order).
    public static func load(folder given: String, categories: [String], limit: Int?) throws -> [BFCLEntry] {
        let folder = try dataFolder(given)
        var entries: [BFCLEntry] = []
        for category in categories {
            guard Self.categories.contains(category) else {
                throw EvalError("--categories: \(category) is not one of \(Self.categories.joined(separator: ", "))")
            }
            let path = try file(in: folder, category: category)
            var lines: [JSONField]
            do { lines = try JSONLines.records(file: path) } catch { throw EvalError(error.description) }
            if let limit { lines = Array(lines.prefix(limit)) }
            var truths: [String: [JSONValue]] = [:]
            let answers = category.contains("irrelevance") ? nil
                : try file(in: (folder as NSString).appendingPathComponent("possible_answer"), category: category)
            do throws(DataError) {
                if let answers {
                    for item in try JSONLines.records(file: answers) {
                        truths[try item.field("id").string()] = try item.field("ground_truth").items().map(\.value)
                    }
                }
                for item in lines {
                    let id = try item.field("id").string()
                    let turns = try item.field("question").items()
                    guard turns.count == 1 else { throw item.error("$.question: expected one turn, found \(turns.count)") }
                    var question: [String] = []
                    for message in try turns[0].items() {
                        let role = try message.field("role")
                        guard try role.string() == "user" else { throw role.error("expected a user message (single-turn categories only)") }
                        question.append(try message.field("content").string())
                    }
                    let functions = try item.field("function").items()
                    for function in functions {
                        _ = try function.field("name").string()
                        _ = try function.field("parameters").field("properties").object()
                    }
                    var entry = BFCLEntry(id: id, category: category, question: question.joined(separator: "\n"),
                                          functions: functions.map(\.value), groundTruth: nil)
                    if !category.contains("irrelevance") {
                        guard let truth = truths[id] else { throw item.error("no ground_truth for \(id) in possible_answer/") }
                        entry.groundTruth = truth
                    }
                    entries.append(entry)
                }
            } catch {
                throw EvalError(error.description)
            }
        }
        return entries
    }
}
