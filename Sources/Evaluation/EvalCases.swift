import Data
import Foundation
import Job
import Storage
import Tokenizer
import ToolBench

/// A held-out gold step: the example as prepared (teacher-forced scores) and, when the raw data is at
/// hand, the conversation before its target (generation).
public struct StepCase: Sendable {
    public var index: Int
    /// The folder of the answer file under `data.eval` (e.g. "G1_answer"), or "eval".
    public var group: String
    public var source: String
    public var queryID: String?
    /// BOS + tokens and the loss mask, as in the prepared eval dataset.
    public var tokens: [Int32]
    public var lossMask: [UInt8]
    /// Every turn before the target (nil when `data.eval` is itself a prepared dataset: no text).
    public var context: Conversation?
    /// The target turn as trained.
    public var gold: String?
    /// The function names the system prompt lists, when it has a function list.
    public var functionNames: Set<String>?
}

/// One query to roll out.
public struct QueryCase: Sendable {
    public var index: Int
    /// The query file's name without extension (e.g. "G1_instruction").
    public var group: String
    public var prompt: QueryPrompt
}

/// Everything one evaluation scores, the same for every checkpoint.
public struct EvalCases: Sendable {
    public var steps: [StepCase] = []
    public var queries: [QueryCase] = []
    /// BFCL entries (`tooltune eval --bfcl`).
    public var bfcl: [BFCLEntry] = []
    /// What was left out and why, for the report.
    public var notes: [String] = []

    /// Loads the held-out steps of `data.eval` and the queries of `eval.queries`; `limit` keeps the first
    /// N steps and the first N queries of each query group.
    ///
    /// The steps are the examples of the prepared eval dataset (`tooltune prepare` writes it): when
    /// `data.eval` is raw ToolBench data it is read and fitted again exactly as `prepare` does, so each
    /// prepared example gets its conversation back; an example whose tokens differ means the prepared file
    /// is stale, which is an error.
    public static func load(job: JobSpec, tokenizer: Tokenizer, limit: Int?) throws -> EvalCases {
        var cases = EvalCases()
        try cases.loadSteps(job: job, tokenizer: tokenizer, limit: limit)
        try cases.loadQueries(job: job, limit: limit)
        return cases
    }

    mutating func loadSteps(job: JobSpec, tokenizer: Tokenizer, limit: Int?) throws {
        guard let input = job.data.eval, let path = DataPreparation.datasetPath(.eval, job: job) else {
            notes.append("no data.eval: no held-out step scores")
            return
        }
        guard FileManager.default.fileExists(atPath: path) else {
            throw EvalError("\(path): the prepared eval dataset is missing; run `tooltune prepare \(job.file)` first")
        }
        let dataset = try PreparedDataset(path: path)
        try DataPreparation(job: job, encoder: tokenizer, tokenizerSHA256: tokenizer.sha256)
            .checkUpToDate(dataset, at: path, split: .eval)
        try dataset.checkContents(vocabularySize: job.model.config.vocabSize)
        var exampleOfInput = [Int: Int]()
        for (e, k) in dataset.inputIndex.enumerated() { exampleOfInput[Int(k)] = e }
        let count = min(limit ?? dataset.exampleCount, dataset.exampleCount)
        if input.hasSuffix(".h5") {
            notes.append("data.eval is a prepared dataset (no text): teacher-forced scores only, no generated steps")
            for k in 0..<count {
                let (tokens, mask) = try dataset.readExample(exampleOfInput[k]!)
                steps.append(StepCase(index: k, group: "eval", source: "\(input) example \(k)", queryID: nil, tokens: tokens,
                                      lossMask: mask, context: nil, gold: nil, functionNames: nil))
            }
            return
        }
        let fitter = ExampleFitter(policy: FitPolicy(maxSeqLen: job.data.maxSeqLen, mode: job.data.fit, loss: job.data.lossTurns),
                                   encoder: tokenizer)
        let root = URL(fileURLWithPath: input).standardizedFileURL.path
        for file in try DataSource.files(at: input).files {
            if steps.count == count { break }
            let conversations = try DataSource.read(file, format: job.data.format, keepThoughts: job.data.keepThoughts).conversations
            // A file at a time, as prepare fits it (trim-chain fits a file's steps together).
            for (conversation, result) in zip(conversations, fitter.fit(file: conversations)) {
                if steps.count == count { break }
                guard case .fitted(let fitted) = result else { continue }
                let k = steps.count
                guard let e = exampleOfInput[k] else {
                    throw EvalError("\(path) has \(dataset.exampleCount) examples, but data.eval (\(input)) gives more; run `tooltune prepare \(job.file)` again")
                }
                let (tokens, mask) = try dataset.readExample(e)
                guard tokens == fitted.tokenized.tokens, mask == fitted.tokenized.lossMask else {
                    throw EvalError("\(path): example \(k) does not match \(conversation.source) as data.eval gives it now; run `tooltune prepare \(job.file)` again")
                }
                let names = conversation.functionList.map { list in
                    Set(list.functions.compactMap { function -> String? in
                        if case .object(let o) = function, case .string(let name)? = o["name"] { return name }
                        return nil
                    })
                }
                var context = conversation
                context.turns.removeLast()
                steps.append(StepCase(index: k, group: Self.group(of: file, under: root), source: conversation.source.description,
                                      queryID: conversation.queryID, tokens: tokens, lossMask: mask, context: context,
                                      gold: conversation.turns.last!.value, functionNames: names))
            }
        }
        if limit == nil, steps.count != dataset.exampleCount {
            throw EvalError("\(path) has \(dataset.exampleCount) examples, but data.eval (\(input)) gives \(steps.count); run `tooltune prepare \(job.file)` again")
        }
    }

    /// The top folder of `file` under `root` ("G1_answer" for root/G1_answer/10_x.json), or "eval".
    static func group(of file: String, under root: String) -> String {
        let path = URL(fileURLWithPath: file).standardizedFileURL.path
        guard path.hasPrefix(root + "/") else { return "eval" }
        let parts = path.dropFirst(root.count + 1).split(separator: "/")
        return parts.count >= 2 ? String(parts[0]) : "eval"
    }

    mutating func loadQueries(job: JobSpec, limit: Int?) throws {
        guard !job.eval.queries.isEmpty else {
            notes.append("no eval.queries: no query rollouts")
            return
        }
        let tools = try job.eval.toolenv.map { try ToolDescriptions(folder: $0) } ?? ToolDescriptions()
        if job.eval.toolenv == nil {
            notes.append("no eval.toolenv: tools in the system prompts are described as \"None\"")
        }
        var perGroup: [String: Int] = [:]
        for path in job.eval.queries {
            for file in try DataSource.files(at: path).files where file.hasSuffix(".json") {
                let group = ((file as NSString).lastPathComponent as NSString).deletingPathExtension
                for query in try QueryFiles.read(file: file) {
                    if let limit, perGroup[group, default: 0] >= limit { break }
                    perGroup[group, default: 0] += 1
                    queries.append(QueryCase(index: queries.count, group: group, prompt: QueryPrompt(query, tools: tools)))
                }
            }
        }
    }
}

/// An evaluation that cannot run, with the reason (naming the file involved).
public struct EvalError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}
