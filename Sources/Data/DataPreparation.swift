import Foundation
import Job
import Kernels
import Reporting
import Storage
import ToolBench

/// `tooltune prepare`: a job's ToolBench data → fitted, tokenized, packed examples → prepared dataset
/// files (`<checkpoint.dir>/data/train.h5`, `eval.h5`) and a summary (`data/summary.json`). The glue
/// between the ToolBench module (formats, template, fitting, packing) and Storage (the file format).
///
/// Files are read and fitted on `Kernels.Parallel` threads and kept in path order, so the output does
/// not depend on the thread count; only the token ids and masks of kept examples stay in memory.
public struct DataPreparation: Sendable {
    public let job: JobSpec
    public let encoder: any TokenEncoder
    public let tokenizerSHA256: String

    public init(job: JobSpec, encoder: any TokenEncoder, tokenizerSHA256: String) {
        self.job = job
        self.encoder = encoder
        self.tokenizerSHA256 = tokenizerSHA256
    }

    public enum Split: String, Sendable, CaseIterable, Codable { case train, eval }

    /// The prepared dataset the trainer reads for a split: `data.train`/`data.eval` itself when it is
    /// already a prepared `.h5`, else `<checkpoint.dir>/data/<split>.h5`; nil when the job has no such data.
    public static func datasetPath(_ split: Split, job: JobSpec) -> String? {
        guard let input = split == .train ? job.data.train : job.data.eval else { return nil }
        if input.hasSuffix(".h5") { return input }
        return RunDirectory(job.checkpoint.dir).preparedDataset(split.rawValue).path
    }

    /// The packing a prepared dataset records for `data.packing`.
    var packingName: String { job.data.packing ? "best-fit-decreasing" : "none" }

    /// The prefix sharing a prepared dataset records for `data.share_prefixes`.
    var prefixSharingName: String { job.data.sharePrefixes ? "token-prefix" : "none" }

    var policy: FitPolicy {
        FitPolicy(maxSeqLen: job.data.maxSeqLen, mode: job.data.fit, loss: job.data.lossTurns)
    }

    /// One kept example: its tokens and mask, and what fitting did.
    public struct Example: Sendable {
        public var source: ExampleSource
        public var tokenized: TokenizedExample
        public var originalLength: Int
        public var actions: FitActions
    }

    /// The examples of one split after filtering and fitting, their chains, and the report of what happened.
    public struct PreparedSplit: Sendable {
        public var examples: [Example]
        /// Indices into `examples`, each chain from its shortest member to its longest (`PrefixSharing`);
        /// one example per chain without `data.share_prefixes`.
        public var chains: [[Int]]
        public var summary: SplitSummary
    }

    /// Conversations fitted per parallel batch.
    static let batchSize = 256

    /// Where reading a split has got to: files read of all, examples read so far.
    public typealias ProgressHandler = (_ split: Split, _ filesRead: Int, _ files: Int, _ examplesRead: Int) -> Void

    /// A progress handler that draws a `ProgressBar` per split on standard error.
    public static func progressBars() -> ProgressHandler {
        var bar: ProgressBar?
        return { split, read, files, examples in
            if read == 1 || bar == nil { bar = ProgressBar(label: "prepare \(split.rawValue)") }
            bar?.update(done: read, total: files, detail: "\(examples.formatted()) examples")
            if read == files { bar?.finish() }
        }
    }

    /// Reads, filters, fits and chains one split without writing anything. `limit` stops after that many
    /// chains (for previews). Throws every bad input file at once (`DataErrors`). `progress` is told
    /// after every file.
    public func prepare(_ split: Split, limit: Int? = nil, progress: ProgressHandler? = nil) throws -> PreparedSplit {
        guard let input = split == .train ? job.data.train : job.data.eval else {
            throw PrepareError("the job has no data.\(split.rawValue)")
        }
        if input.hasSuffix(".h5") {
            throw PrepareError("data.\(split.rawValue) is already a prepared dataset (\(input)); there is nothing to prepare")
        }
        let testIDs = split == .train && !job.data.testQueryIDs.isEmpty ? try TestQueryIDs.load(job.data.testQueryIDs) : nil
        let (files, ignored) = try DataSource.files(at: input)
        var counts = LoadedData()
        counts.ignoredFiles = ignored
        var summary = SplitSummary(split: split.rawValue, input: input)
        summary.testQueries.idsListed = testIDs?.count ?? 0
        var droppedQueries = Set<String>()
        var errors: [DataError] = []
        if files.isEmpty { errors.append(DataError(file: input, message: "no .json or .jsonl files")) }
        var kept: [Example] = []
        // trim-chain fits a file's steps together: one entry per file; otherwise one per conversation, so
        // that a file of many conversations (ToolLLaMA's, chat JSONL) is fitted in parallel.
        var batch: [[Conversation]] = []
        var batchCount = 0
        var previewChains = 0

        func flush() {
            for result in fitInParallel(batch) {
                switch result {
                case .fitted(let example):
                    kept.append(Example(source: example.source, tokenized: example.tokenized,
                                        originalLength: example.originalLength, actions: example.actions))
                    summary.fit.record(example.actions)
                    summary.straddlingTokens += example.tokenized.straddlingTokens
                case .tooLong(let source, let tokens, let reason):
                    summary.fit.droppedTooLong += 1
                    if summary.fit.droppedExamples.count < SplitSummary.listLimit {
                        summary.fit.droppedExamples.append("\(source): \(tokens) tokens: \(reason)")
                    }
                case .noTrainableTokens(let source, let reason):
                    summary.errorCount += 1
                    if summary.errors.count < SplitSummary.listLimit { summary.errors.append("\(source): \(reason)") }
                }
            }
            batch.removeAll(keepingCapacity: true)
            batchCount = 0
        }

        // Files are read in parallel a chunk at a time and handled in path order (one at a time for a
        // preview, which stops early).
        let chunk = limit == nil ? max(1, Parallel.threadCount * 8) : 1
        var read: [Result<FileContents, DataError>] = []
        for index in files.indices {
            if let limit, previewChains >= limit { break }
            defer { progress?(split, index + 1, files.count, summary.examplesRead) }
            if index % chunk == 0 { read = self.read(files[index..<min(index + chunk, files.count)]) }
            let contents: FileContents
            switch read[index % chunk] {
            case .success(let c): contents = c
            case .failure(let error):
                errors.append(error)
                continue
            }
            counts.add(contents, keepConversations: false)
            summary.examplesRead += contents.conversations.count
            // Once a file is bad, the rest are only read, to report every bad file in one run.
            guard errors.isEmpty else { continue }
            var conversations: [Conversation] = []
            for conversation in contents.conversations {
                // Never train on test queries: drop (and count) training examples whose query id is listed.
                if let testIDs {
                    if let id = conversation.queryID {
                        if testIDs.contains(id) {
                            droppedQueries.insert(id)
                            summary.testQueries.droppedExamples += 1
                            continue
                        }
                    } else {
                        summary.testQueries.examplesWithoutQueryID += 1
                    }
                }
                conversations.append(conversation)
            }
            if job.data.fit == .trimChain { batch.append(conversations) } else { batch += conversations.map { [$0] } }
            batchCount += conversations.count
            if limit != nil {
                let before = kept.count
                flush()
                previewChains += chains(of: kept[before...]).count
            } else if batchCount >= Self.batchSize {
                flush()
            }
        }
        if !errors.isEmpty { throw DataErrors(errors: errors) }
        flush()
        var chains = chains(of: kept[...])
        if let limit { chains = Array(chains.prefix(limit)) }
        summary.files = counts.filesByFormat
        summary.ignoredFiles = counts.ignoredFiles
        summary.invalidAnswerFiles = counts.invalidAnswerFiles
        summary.entriesWithoutExample = counts.entriesWithoutExample
        summary.testQueries.droppedQueries = droppedQueries.sorted { $0.count != $1.count ? $0.count < $1.count : $0 < $1 }
        return PreparedSplit(examples: kept, chains: chains, summary: summary)
    }

    /// The chains of `examples` (a slice of a split's kept examples, indices as in the split): with
    /// `data.share_prefixes`, `PrefixSharing` over the examples of each source file, files in parallel;
    /// else one chain per example.
    func chains(of examples: ArraySlice<Example>) -> [[Int]] {
        guard job.data.sharePrefixes else { return examples.indices.map { [$0] } }
        var groups: [Range<Int>] = []
        var start = examples.startIndex
        for i in examples.indices where i > start && examples[i].source.file != examples[i - 1].source.file {
            groups.append(start..<i)
            start = i
        }
        if start < examples.endIndex { groups.append(start..<examples.endIndex) }
        let eos = encoder.eosID
        return Self.gather(groups.count) { results in
            Parallel.forEachItem(groups.count, slots: Parallel.threadCount) { g, _ in
                let group = groups[g]
                results[g] = PrefixSharing.chains(examples[group].map(\.tokenized), eosID: eos)
                    .map { $0.map { group.lowerBound + $0 } }
            }
        }.flatMap { $0 }
    }

    /// Reads and converts files on all `Kernels.Parallel` threads (the largest parse costs most, so files
    /// are handed out one by one); results in file order.
    func read(_ files: ArraySlice<String>) -> [Result<FileContents, DataError>] {
        let paths = Array(files), format = job.data.format, keepThoughts = job.data.keepThoughts
        return Self.gather(paths.count) { results in
            Parallel.forEachItem(paths.count, slots: Parallel.threadCount) { i, _ in
                do throws(DataError) {
                    results[i] = .success(try DataSource.read(paths[i], format: format, keepThoughts: keepThoughts))
                } catch {
                    results[i] = .failure(error)
                }
            }
        }
    }

    /// Fits groups of conversations (`ExampleFitter.fit(file:)`: trim-chain fits a file's steps together)
    /// on all `Kernels.Parallel` threads, one fitter per contiguous chunk (so the steps of one answer file
    /// share the fitter's cached system-prompt length); results in input order.
    func fitInParallel(_ groups: [[Conversation]]) -> [FitResult] {
        let policy = self.policy
        let encoder = self.encoder
        return Self.gather(groups.count) { results in
            Parallel.forEach(groups.count, minimumChunk: job.data.fit == .trimChain ? 2 : 8) { range in
                let fitter = ExampleFitter(policy: policy, encoder: encoder)
                for i in range { results[i] = fitter.fit(file: groups[i]) }
            }
        }.flatMap { $0 }
    }

    /// The `count` results that `fill` writes from worker threads (each slot once), in slot order.
    static func gather<T>(_ count: Int, _ fill: (UnsafeMutableBufferPointer<T?>) -> Void) -> [T] {
        let results = UnsafeMutableBufferPointer<T?>.allocate(capacity: count)
        results.initialize(repeating: nil)
        defer {
            // The slots hold references (strings, arrays): deallocating without deinitializing leaks them.
            results.deinitialize()
            results.deallocate()
        }
        fill(results)
        return results.map { $0! }
    }

    /// Prepares every split the job has, writes the datasets and the summary, and returns the summary.
    /// Nothing is written unless every split succeeds.
    public func run(progress: ProgressHandler? = nil) throws -> PrepareSummary {
        var prepared: [(path: String, split: PreparedSplit, plan: [[Int]])] = []
        for split in Split.allCases {
            // A split given as a prepared .h5 is used as it is.
            guard let input = split == .train ? job.data.train : job.data.eval, !input.hasSuffix(".h5"),
                  let path = Self.datasetPath(split, job: job) else { continue }
            var result = try prepare(split, progress: progress)
            guard !result.examples.isEmpty else {
                throw PrepareError("data.\(split.rawValue): no example left to write (\(result.summary.examplesRead) read)")
            }
            let plan = pack(result.chains.map { result.examples[$0.last!].tokenized.tokens.count })
            let unsharedPlan = job.data.sharePrefixes ? pack(result.examples.map(\.tokenized.tokens.count)) : plan
            result.summary.describe(result.examples, chains: result.chains, plan: plan, unsharedSequences: unsharedPlan.count,
                                    maxSeqLen: job.data.maxSeqLen, sharePrefixes: job.data.sharePrefixes,
                                    eosID: encoder.eosID)
            result.summary.output = path
            prepared.append((path, result, plan))
        }
        if prepared.isEmpty {
            throw PrepareError("data.train\(job.data.eval == nil ? " is a prepared dataset" : " and data.eval are prepared datasets") already; there is nothing to prepare")
        }
        let summary = PrepareSummary(job: job.file, tokenizerSHA256: tokenizerSHA256, template: ToolLlamaTemplate.name,
                                     lossTurns: job.data.lossTurns.rawValue, maxSeqLen: job.data.maxSeqLen,
                                     fit: job.data.fit.rawValue, packing: packingName, prefixSharing: prefixSharingName,
                                     keepThoughts: job.data.keepThoughts, splits: prepared.map(\.split.summary))
        let run = RunDirectory(job.checkpoint.dir)
        try FileManager.default.createDirectory(at: run.dataFolder, withIntermediateDirectories: true)
        for (path, split, plan) in prepared {
            try write(split, plan: plan, to: path, packing: summary.packing)
        }
        try AtomicFile.write(try summary.json(), to: run.prepareSummaryFile.path)
        return summary
    }

    /// Sequences of chains of the given lengths in tokens: `data.packing`'s plan.
    func pack(_ lengths: [Int]) -> [[Int]] {
        job.data.packing ? Packing.bestFitDecreasing(lengths: lengths, capacity: job.data.maxSeqLen)
            : Packing.onePerSequence(count: lengths.count)
    }

    /// Writes a split whose `plan` lists each sequence's chains (indices into `prepared.chains`).
    func write(_ prepared: PreparedSplit, plan: [[Int]], to path: String, packing: String) throws {
        let eos = encoder.eosID
        let sequences = plan.map { chains in
            chains.flatMap { c -> [PreparedExample] in
                let members = prepared.chains[c]
                let chain = SharedChain(members: members.map { prepared.examples[$0].tokenized }, eosID: eos)
                return members.indices.map { k in
                    let range = (k == 0 ? 0 : chain.ends[k - 1])..<chain.ends[k]
                    return PreparedExample(tokens: Array(chain.tokens[range]), lossMask: Array(chain.lossMask[range]),
                                           inputIndex: members[k], extendsChain: k > 0, eosLabel: chain.eosLabels[k])
                }
            }
        }
        let split = prepared.summary
        let sources = SourcesDescription(input: split.input, files: split.files, format: job.data.format.rawValue,
                                         keepThoughts: job.data.keepThoughts,
                                         testQueryIDs: split.split == Split.train.rawValue ? job.data.testQueryIDs : [])
        let metadata = PreparedDatasetMetadata(
            tokenizerSHA256: tokenizerSHA256, template: ToolLlamaTemplate.name, lossTurns: job.data.lossTurns.rawValue,
            maxSeqLen: job.data.maxSeqLen, bosID: Int(encoder.bosID), eosID: Int(encoder.eosID), packing: packing,
            prefixSharing: prefixSharingName,
            sourcesJSON: try PrepareSummary.compactJSON(sources), countsJSON: try PrepareSummary.compactJSON(split.counts),
            fitJSON: try PrepareSummary.compactJSON(FitDescription(policy)))
        try PreparedDatasetWriter.write(to: path, sequences: sequences, metadata: metadata)
    }
}

public struct PrepareError: Error, CustomStringConvertible {
    public let description: String
    init(_ description: String) { self.description = description }
}
