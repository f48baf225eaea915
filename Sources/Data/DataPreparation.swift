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
/// not depend on the thread count. Chains of shared prefixes (`data.share_prefixes`) lie within one
/// source file, so each file's examples are chained as soon as the file is fitted. `run` streams: each
/// chain's members go to an unnamed spill file as they come (`Storage.ExampleSpill`), only lengths, input
/// indices and EOS labels stay in memory for packing, and the packed sequences are written a chunk at a
/// time, so memory does not grow with the data. SIGINT/SIGTERM stop it between files or sequences with
/// nothing published and no temporary left.
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
        var kept: [Example] = []
        var chains: [[Int]] = []
        let summary = try read(split, limit: limit, progress: progress) { examples, fileChains in
            let first = kept.count
            kept += examples.map {
                Example(source: $0.source, tokenized: $0.tokenized, originalLength: $0.originalLength, actions: $0.actions)
            }
            chains += fileChains.map { $0.map { first + $0 } }
        }
        if let limit { chains = Array(chains.prefix(limit)) }
        return PreparedSplit(examples: kept, chains: chains, summary: summary)
    }

    /// Reads, filters and fits one split, handing the kept examples of each source file to `keep` in
    /// input order with their chains (indices into those examples, `chainsByFile`), and returns what
    /// happened (the lengths, sharing and packing are described by the caller). `limit` stops after the
    /// file that brings the chains to that many.
    func read(_ split: Split, limit: Int?, progress: ProgressHandler?,
              keep: (_ examples: [FittedExample], _ chains: [[Int]]) throws -> Void) throws -> SplitSummary {
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
        var chainCount = 0
        // trim-chain fits a file's steps together: one entry per file; otherwise one per conversation, so
        // that a file of many conversations (ToolLLaMA's, chat JSONL) is fitted in parallel. A file's
        // conversations always go into one batch, so its examples are chained together.
        var batch: [[Conversation]] = []
        var batchCount = 0

        func flush() throws {
            var fitted: [FittedExample] = []
            for result in fitInParallel(batch) {
                switch result {
                case .fitted(let example):
                    fitted.append(example)
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
            for (examples, chains) in chainsByFile(fitted) {
                if let limit, chainCount >= limit { break }
                try keep(examples, chains)
                chainCount += chains.count
                for example in examples {
                    summary.fit.record(example.actions)
                    summary.straddlingTokens += example.tokenized.straddlingTokens
                }
            }
        }

        // Files are read in parallel a chunk at a time and handled in path order (one at a time for a
        // preview, which stops early).
        let chunk = limit == nil ? max(1, Parallel.threadCount * 8) : 1
        var read: [Result<FileContents, DataError>] = []
        for index in files.indices {
            if let limit, chainCount >= limit { break }
            try StopSignal.check("prepare data.\(split.rawValue) (\(index) of \(files.count) files read; nothing written)")
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
            if batchCount >= Self.batchSize || limit != nil { try flush() }
        }
        if !errors.isEmpty { throw DataErrors(errors: errors) }
        try flush()
        summary.files = counts.filesByFormat
        summary.ignoredFiles = counts.ignoredFiles
        summary.invalidAnswerFiles = counts.invalidAnswerFiles
        summary.entriesWithoutExample = counts.entriesWithoutExample
        summary.testQueries.droppedQueries = droppedQueries.sorted { $0.count != $1.count ? $0.count < $1.count : $0 < $1 }
        return summary
    }

    /// The kept examples of a batch (whole files, in input order) split by source file, each file's with
    /// its chains: with `data.share_prefixes`, `PrefixSharing` over the file's examples, files in
    /// parallel; else one chain per example.
    func chainsByFile(_ examples: [FittedExample]) -> [(examples: [FittedExample], chains: [[Int]])] {
        var files: [[FittedExample]] = []
        for example in examples {
            if let last = files.last?.last, last.source.file == example.source.file {
                files[files.count - 1].append(example)
            } else {
                files.append([example])
            }
        }
        guard job.data.sharePrefixes else { return files.map { ($0, $0.indices.map { [$0] }) } }
        let eos = encoder.eosID
        let chains: [[[Int]]] = Self.gather(files.count) { results in
            Parallel.forEachItem(files.count, slots: Parallel.threadCount) { f, _ in
                results[f] = PrefixSharing.chains(files[f].map(\.tokenized), eosID: eos)
            }
        }
        return Array(zip(files, chains))
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
    /// Nothing is published unless every split succeeds: the files are staged under temporary names and
    /// renamed together at the end; on any error or signal they are removed.
    public func run(progress: ProgressHandler? = nil) throws -> PrepareSummary {
        StopSignal.install()
        let run = RunDirectory(job.checkpoint.dir)
        let made: [String]
        do {
            made = try Folders.create(run.dataFolder.path)
        } catch {
            throw PrepareError("\(job.file): checkpoint.dir \(job.checkpoint.dir): \(error)")
        }
        do {
            var staged: [StagedFile] = []
            var splits: [SplitSummary] = []
            for split in Split.allCases {
                // A split given as a prepared .h5 is used as it is.
                guard let input = split == .train ? job.data.train : job.data.eval, !input.hasSuffix(".h5"),
                      let path = Self.datasetPath(split, job: job) else { continue }
                let (file, summary) = try stage(split, to: path, in: run.dataFolder.path, progress: progress)
                staged.append(file)
                splits.append(summary)
            }
            if staged.isEmpty {
                throw PrepareError("data.train\(job.data.eval == nil ? " is a prepared dataset" : " and data.eval are prepared datasets") already; there is nothing to prepare")
            }
            let summary = PrepareSummary(job: job.file, tokenizerSHA256: tokenizerSHA256, template: ToolLlamaTemplate.name,
                                         lossTurns: job.data.lossTurns.rawValue, maxSeqLen: job.data.maxSeqLen,
                                         fit: job.data.fit.rawValue, packing: packingName, prefixSharing: prefixSharingName,
                                         keepThoughts: job.data.keepThoughts, splits: splits)
            let json = try summary.json()
            staged.append(try AtomicFile.stage(to: run.prepareSummaryFile.path) { temporary in
                try AtomicFile.write(json, toNew: temporary)
            })
            try StopSignal.check("prepare (nothing written)")
            try publish(staged)
            return summary
        } catch {
            // Folders this run made and left empty go too.
            Folders.removeIfEmpty(made)
            throw error
        }
    }

    /// Reads one split into a spill file, packs its chains, and stages its dataset at `path`.
    func stage(_ split: Split, to path: String, in folder: String, progress: ProgressHandler?) throws -> (StagedFile, SplitSummary) {
        // The spill holds what the file stores of each example (`stored(chain:)`), chain after chain:
        // chain c is records chainStarts[c] ..< chainStarts[c + 1].
        let spill = try ExampleSpill(folder: folder)
        var chainStarts = [0], chainLengths: [Int] = []
        var inputIndex: [Int] = [], eosLabel: [Bool] = []
        // Each example on its own, for the counts before sharing.
        var lengths: [Int] = [], trainable: [Int] = []
        var longer = 0
        var summary = try read(split, limit: nil, progress: progress) { examples, chains in
            let first = lengths.count
            for example in examples {
                lengths.append(example.tokenized.tokens.count)
                trainable.append(example.tokenized.trainableCount)
                if example.originalLength > job.data.maxSeqLen { longer += 1 }
            }
            for members in chains {
                for example in stored(chain: members.map { examples[$0].tokenized }, inputIndices: members.map { first + $0 }) {
                    try spill.append(tokens: example.tokens, lossMask: example.lossMask)
                    inputIndex.append(example.inputIndex)
                    eosLabel.append(example.eosLabel)
                }
                chainStarts.append(spill.count)
                chainLengths.append(lengths[first + members.last!])
            }
        }
        guard spill.count > 0 else {
            throw PrepareError("data.\(split.rawValue): no example left to write (\(summary.examplesRead) read)")
        }
        let plan = pack(chainLengths)
        let unsharedSequences = job.data.sharePrefixes ? pack(lengths).count : plan.count
        summary.describe(lengths: lengths, trainable: trainable, longer: longer, chainLengths: chainLengths,
                         eosLabels: eosLabel.filter { $0 }.count, plan: plan, unsharedSequences: unsharedSequences,
                         maxSeqLen: job.data.maxSeqLen, sharePrefixes: job.data.sharePrefixes)
        summary.output = path

        let sources = SourcesDescription(input: summary.input, files: summary.files, format: job.data.format.rawValue,
                                         keepThoughts: job.data.keepThoughts,
                                         testQueryIDs: split == .train ? job.data.testQueryIDs : [])
        let metadata = PreparedDatasetMetadata(
            tokenizerSHA256: tokenizerSHA256, template: ToolLlamaTemplate.name, lossTurns: job.data.lossTurns.rawValue,
            maxSeqLen: job.data.maxSeqLen, bosID: Int(encoder.bosID), eosID: Int(encoder.eosID), packing: packingName,
            prefixSharing: prefixSharingName,
            sourcesJSON: try PrepareSummary.compactJSON(sources), countsJSON: try PrepareSummary.compactJSON(summary.counts),
            fitJSON: try PrepareSummary.compactJSON(FitDescription(policy)))
        let bar = progress == nil ? nil : ProgressBar(label: "write \(split.rawValue)")
        let file = try PreparedDatasetWriter.stage(to: path, sequenceCount: plan.count, tokenCount: summary.sharing.tokensAfter,
                                                   metadata: metadata) { s in
            try StopSignal.check("prepare data.\(split.rawValue) (\(s) of \(plan.count) sequences written; nothing published)")
            bar?.update(done: s + 1, total: plan.count, detail: "sequences")
            return try plan[s].flatMap { c in
                try (chainStarts[c]..<chainStarts[c + 1]).map { r in
                    let example = try spill.read(r)
                    return PreparedExample(tokens: example.tokens, lossMask: example.lossMask, inputIndex: inputIndex[r],
                                           extendsChain: r > chainStarts[c], eosLabel: eosLabel[r])
                }
            }
        }
        bar?.finish()
        return (file, summary)
    }

    /// Sequences of chains of the given lengths in tokens: `data.packing`'s plan.
    func pack(_ lengths: [Int]) -> [[Int]] {
        job.data.packing ? Packing.bestFitDecreasing(lengths: lengths, capacity: job.data.maxSeqLen)
            : Packing.onePerSequence(count: lengths.count)
    }

    /// What the dataset stores of a chain's members (shortest first, `inputIndices` their positions in
    /// input order): each member the tokens it adds to the one before, with its own targets.
    func stored(chain members: [TokenizedExample], inputIndices: [Int]) -> [PreparedExample] {
        let chain = SharedChain(members: members, eosID: encoder.eosID)
        return members.indices.map { k in
            let range = (k == 0 ? 0 : chain.ends[k - 1])..<chain.ends[k]
            return PreparedExample(tokens: Array(chain.tokens[range]), lossMask: Array(chain.lossMask[range]),
                                   inputIndex: inputIndices[k], extendsChain: k > 0, eosLabel: chain.eosLabels[k])
        }
    }
}

public struct PrepareError: Error, CustomStringConvertible {
    public let description: String
    init(_ description: String) { self.description = description }
}
