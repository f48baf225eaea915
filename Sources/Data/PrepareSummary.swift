import Foundation
import Reporting
import ToolBench

/// What `tooltune prepare` did, printed and written as `summary.json` beside the datasets.
public struct PrepareSummary: Codable, Sendable {
    public var job: String
    public var tokenizerSHA256: String
    public var template: String
    public var lossTurns: String
    public var maxSeqLen: Int
    public var fit: String
    public var packing: String
    public var prefixSharing: String
    public var keepThoughts: Bool
    public var splits: [SplitSummary]

    /// Pretty, key-sorted JSON (the same bytes for the same data).
    public func json() throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
        encoder.keyEncodingStrategy = .convertToSnakeCase
        return try encoder.encode(self) + Data("\n".utf8)
    }

    static func compactJSON<T: Encodable>(_ value: T) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        encoder.keyEncodingStrategy = .convertToSnakeCase
        return String(decoding: try encoder.encode(value), as: UTF8.self)
    }

    /// The human-readable report.
    public func lines() -> [String] {
        var out = ["template \(template), loss on \(lossTurns), max_seq_len \(maxSeqLen), fit \(fit), packing \(packing), "
                   + "prefix sharing \(prefixSharing)" + (keepThoughts ? ", thoughts kept" : ""), "tokenizer sha256 \(tokenizerSHA256)"]
        for split in splits { out += split.lines(maxSeqLen: maxSeqLen) }
        return out
    }
}

public struct TestIDCounts: Codable, Sendable, Equatable {
    /// Ids in the test-id files.
    public var idsListed = 0
    public var droppedExamples = 0
    /// The query ids whose examples were dropped.
    public var droppedQueries: [String] = []
    /// Examples whose input names no query id, so they could not be checked.
    public var examplesWithoutQueryID = 0

    // Spelled out: convertToSnakeCase would write "ID" as "_i_d".
    enum CodingKeys: String, CodingKey {
        case idsListed = "ids_listed", droppedExamples = "dropped_examples", droppedQueries = "dropped_queries"
        case examplesWithoutQueryID = "examples_without_query_id"
    }
}

public struct FitCounts: Codable, Sendable, Equatable {
    /// Examples that fit without any change.
    public var asIs = 0
    /// Examples with observations shortened or turns dropped.
    public var trimmed = 0
    public var examplesWithObservationsShortened = 0
    public var observationsShortened = 0
    public var examplesWithTurnsDropped = 0
    public var turnsDropped = 0
    /// trim-chain: examples that keep less history than trim-history would give them, and how many history
    /// tokens they give up in all.
    public var examplesWithHistoryGivenUp = 0
    public var historyTokensGivenUp = 0
    /// Examples whose function list was compacted, by compaction level.
    public var compacted: [String: Int] = [:]
    /// Examples that fit nowhere (or, with `fit: drop`, did not fit), dropped.
    public var droppedTooLong = 0
    /// The first few dropped examples and why.
    public var droppedExamples: [String] = []

    mutating func record(_ actions: FitActions) {
        if !actions.trimmed && !actions.compacted { asIs += 1 }
        if actions.trimmed { trimmed += 1 }
        if actions.observationsShortened > 0 { examplesWithObservationsShortened += 1 }
        observationsShortened += actions.observationsShortened
        if actions.turnsDropped > 0 { examplesWithTurnsDropped += 1 }
        turnsDropped += actions.turnsDropped
        if let compaction = actions.compaction { compacted[compaction.description, default: 0] += 1 }
        if actions.historyGivenUp > 0 { examplesWithHistoryGivenUp += 1 }
        historyTokensGivenUp += actions.historyGivenUp
    }

    public var compactedTotal: Int { compacted.values.reduce(0, +) }
}

public struct LengthStats: Codable, Sendable, Equatable {
    public var min: Int
    public var median: Double
    public var p90: Int
    public var max: Int
    public var mean: Double

    init(_ values: [Int]) {
        let sorted = values.sorted()
        let n = sorted.count
        min = sorted[0]
        max = sorted[n - 1]
        median = sorted.map(Double.init).median
        p90 = sorted[Swift.min(n - 1, Int((Double(n) * 0.9).rounded(.up)) - 1)]
        mean = (Double(sorted.reduce(0, +)) / Double(n) * 10).rounded() / 10
    }
}

/// What shared prefixes (`data.share_prefixes`) did to a split: the examples as separate sequences
/// ("before") against their chains ("after"). Every example is trained either way.
public struct SharingCounts: Codable, Sendable, Equatable {
    /// `data.share_prefixes`.
    public var enabled = false
    public var examples = 0
    /// One per chain: the longest example of each chain, or an example that shares with none.
    public var chains = 0
    /// Labels that are EOS where the input token is not (an absorbed example's `</s>`).
    public var eosLabels = 0
    public var tokensBefore = 0
    public var tokensAfter = 0
    /// Packed sequences of the separate examples and of the chains.
    public var sequencesBefore = 0
    public var sequencesAfter = 0

    /// tokens before / tokens after, to 4 decimals.
    public var ratio = 0.0
}

public struct HistogramBin: Codable, Sendable, Equatable {
    /// Lengths in lower...upper tokens.
    public var lower: Int
    public var upper: Int
    public var count: Int
}

public struct SplitSummary: Codable, Sendable {
    /// How many dropped examples and errors summary.json lists, and the printed report.
    static let listLimit = 20
    static let printLimit = 5

    public var split: String
    public var input: String
    /// Files read, by format.
    public var files: [String: Int] = [:]
    public var ignoredFiles = 0
    public var invalidAnswerFiles = 0
    public var entriesWithoutExample = 0
    public var examplesRead = 0
    public var testQueries = TestIDCounts()
    public var fit = FitCounts()
    /// Examples before fitting that were longer than max_seq_len.
    public var overMaxSeqLen = 0
    /// Examples with nothing to train (errors in the data), left out.
    public var errorCount = 0
    public var errors: [String] = []
    /// Examples written.
    public var examples = 0
    /// Tokens of the examples as separate sequences (`sharing.tokensAfter` are stored).
    public var tokens = 0
    public var trainableTokens = 0
    /// Trained tokens that also cover untrained text.
    public var straddlingTokens = 0
    public var lengths: LengthStats?
    public var trainableLengths: LengthStats?
    public var histogram: [HistogramBin] = []
    public var sharing = SharingCounts()
    public var sequences = 0
    /// Stored tokens / (sequences × max_seq_len).
    public var packingEfficiency = 0.0
    public var output: String?

    init(split: String, input: String) {
        self.split = split
        self.input = input
    }

    /// The counts stored in the dataset's `counts` attribute.
    var counts: [String: Int] {
        ["examples_read": examplesRead, "examples": examples, "tokens": tokens, "trainable_tokens": trainableTokens,
         "sequences": sequences, "chains": sharing.chains, "stored_tokens": sharing.tokensAfter,
         "eos_labels": sharing.eosLabels, "dropped_test_ids": testQueries.droppedExamples, "dropped_too_long": fit.droppedTooLong,
         "errors": errorCount, "trimmed": fit.trimmed, "compacted": fit.compactedTotal, "as_is": fit.asIs,
         "observations_shortened": fit.observationsShortened, "turns_dropped": fit.turnsDropped,
         "over_max_seq_len": overMaxSeqLen]
    }

    /// Fills in the counts of the kept examples (`lengths`, `trainable` tokens, how many were `longer` than
    /// `maxSeqLen` before fitting), of their chains (`chainLengths`: the tokens each stores; `eosLabels`
    /// inside them) and of the packing `plan` of the chains (`unsharedSequences`: how many sequences the
    /// examples would have packed into on their own).
    mutating func describe(lengths: [Int], trainable: [Int], longer: Int, chainLengths: [Int], eosLabels: Int, plan: [[Int]],
                           unsharedSequences: Int, maxSeqLen: Int, sharePrefixes: Bool) {
        examples = lengths.count
        tokens = lengths.reduce(0, +)
        trainableTokens = trainable.reduce(0, +)
        overMaxSeqLen = longer + fit.droppedTooLong
        if !lengths.isEmpty {
            self.lengths = LengthStats(lengths)
            trainableLengths = LengthStats(trainable)
        }
        let width = Swift.max(1, (maxSeqLen + 7) / 8)
        histogram = stride(from: 0, to: maxSeqLen, by: width).map { lower in
            let upper = Swift.min(maxSeqLen, lower + width)
            return HistogramBin(lower: lower + 1, upper: upper, count: lengths.filter { $0 > lower && $0 <= upper }.count)
        }
        let stored = chainLengths.reduce(0, +)
        sharing = SharingCounts(enabled: sharePrefixes, examples: lengths.count, chains: chainLengths.count, eosLabels: eosLabels,
                                tokensBefore: tokens, tokensAfter: stored,
                                sequencesBefore: unsharedSequences, sequencesAfter: plan.count,
                                ratio: stored == 0 ? 0 : (Double(tokens) / Double(stored) * 10000).rounded() / 10000)
        sequences = plan.count
        packingEfficiency = plan.isEmpty ? 0 : (Double(stored) / Double(plan.count * maxSeqLen) * 10000).rounded() / 10000
    }

    func lines(maxSeqLen: Int) -> [String] {
        func n(_ v: Int) -> String { v.formatted() }
        func pct(_ part: Int, _ whole: Int) -> String {
            whole == 0 ? "0%" : String(format: "%.1f%%", 100 * Double(part) / Double(whole))
        }
        var out = ["", "== \(split): \(input)"]
        let formats = files.sorted { $0.key < $1.key }.map { "\($0.value) \($0.key)" }.joined(separator: ", ")
        var read = "files: \(formats.isEmpty ? "none" : formats)"
        if invalidAnswerFiles > 0 { read += "; \(invalidAnswerFiles) with valid_data false (skipped)" }
        if ignoredFiles > 0 { read += "; \(ignoredFiles) other files ignored" }
        out.append(read)
        var examplesLine = "examples read: \(n(examplesRead))"
        if entriesWithoutExample > 0 { examplesLine += " (\(entriesWithoutExample) train_messages entries give none: last message not an assistant call)" }
        out.append(examplesLine)
        if testQueries.idsListed > 0 {
            var line = "test query ids: \(n(testQueries.idsListed)) listed; dropped \(testQueries.droppedExamples) examples of \(testQueries.droppedQueries.count) queries"
            if !testQueries.droppedQueries.isEmpty { line += " (\(testQueries.droppedQueries.prefix(10).joined(separator: ", "))\(testQueries.droppedQueries.count > 10 ? ", ..." : ""))" }
            out.append(line)
            if testQueries.examplesWithoutQueryID > 0 {
                out.append("WARNING: \(testQueries.examplesWithoutQueryID) examples name no query id and could not be checked against the test ids")
            }
        }
        if errorCount > 0 {
            out.append("ERRORS: \(errorCount) examples have no trainable tokens and were left out:")
            out += errors.prefix(Self.printLimit).map { "  \(shorten($0))" }
            if errorCount > Self.printLimit { out.append("  ... and \(errorCount - Self.printLimit) more (summary.json lists \(errors.count))") }
        }
        let considered = examplesRead - testQueries.droppedExamples - errorCount
        out.append("fit (max_seq_len \(maxSeqLen)): \(n(overMaxSeqLen)) of \(n(considered)) examples were longer; "
                   + "\(n(fit.asIs)) kept as they were, \(n(fit.trimmed)) trimmed, \(n(fit.compactedTotal)) compacted, \(n(fit.droppedTooLong)) dropped")
        if fit.trimmed > 0 {
            out.append("  trimmed: observations shortened in \(fit.examplesWithObservationsShortened) examples (\(fit.observationsShortened) observations), "
                       + "oldest turns dropped in \(fit.examplesWithTurnsDropped) examples (\(fit.turnsDropped) turns)")
        }
        if fit.examplesWithHistoryGivenUp > 0 {
            out.append("  trim-chain: \(n(fit.examplesWithHistoryGivenUp)) examples keep less history than trim-history gives them "
                       + "(\(n(fit.historyTokensGivenUp)) history tokens in all), so that the steps of a window share one sequence")
        }
        if !fit.compacted.isEmpty {
            let levels = Compaction.ladder.compactMap { level in fit.compacted[level.description].map { "\($0) \(level)" } }
            out.append("  compacted function lists: \(levels.joined(separator: ", "))")
        }
        for dropped in fit.droppedExamples.prefix(Self.printLimit) { out.append("  dropped: \(shorten(dropped))") }
        if fit.droppedTooLong > Self.printLimit {
            out.append("  ... and \(fit.droppedTooLong - Self.printLimit) more dropped (summary.json lists \(fit.droppedExamples.count))")
        }
        out.append("examples: \(n(examples)); tokens: \(n(tokens)); trainable tokens: \(n(trainableTokens)) (\(pct(trainableTokens, tokens)))")
        if let l = lengths, let t = trainableLengths {
            out.append("length (tokens) min / median / p90 / max: \(l.min) / \(formatNumber(l.median)) / \(l.p90) / \(l.max); "
                       + "trainable per example: \(t.min) / \(formatNumber(t.median)) / \(t.p90) / \(t.max)")
        }
        if straddlingTokens > 0 { out.append("note: \(straddlingTokens) trained tokens also cover untrained text") }
        let biggest = histogram.map(\.count).max() ?? 0
        let width = String(maxSeqLen).count
        func padded(_ value: Int, _ width: Int) -> String {
            let text = String(value)
            return String(repeating: " ", count: Swift.max(0, width - text.count)) + text
        }
        for bin in histogram {
            let bar = String(repeating: "#", count: biggest == 0 ? 0 : Int((40 * Double(bin.count) / Double(biggest)).rounded(.up)))
            let range = padded(bin.lower, width) + "-" + String(bin.upper).padding(toLength: width, withPad: " ", startingAt: 0)
            out.append("  \(range) \(padded(bin.count, 6))" + (bar.isEmpty ? "" : " " + bar))
        }
        if !sharing.enabled {
            out.append("shared prefixes: off (data.share_prefixes: false)")
        } else {
            out.append("shared prefixes: \(n(sharing.examples)) examples in \(n(sharing.chains)) chains "
                       + "(\(n(sharing.examples - sharing.chains)) absorbed into a longer example, \(n(sharing.eosLabels)) EOS labels inside chains); "
                       + "tokens \(n(sharing.tokensBefore)) -> \(n(sharing.tokensAfter)) (" + String(format: "%.2fx", sharing.ratio) + "), "
                       + "sequences \(n(sharing.sequencesBefore)) -> \(n(sharing.sequencesAfter))")
        }
        out.append("packing: \(n(sequences)) sequences of <= \(maxSeqLen) tokens, efficiency \(String(format: "%.1f%%", packingEfficiency * 100)) (tokens / (sequences x max_seq_len))")
        if let output { out.append("written: \(output)") }
        return out
    }

    /// Example sources printed relative to the input folder.
    private func shorten(_ line: String) -> String {
        line.hasPrefix(input + "/") ? String(line.dropFirst(input.count + 1)) : line
    }

    private func formatNumber(_ v: Double) -> String { v == v.rounded() ? String(Int(v)) : String(v) }
}

/// The `sources` attribute of a prepared dataset.
struct SourcesDescription: Codable {
    var input: String
    var files: [String: Int]
    var format: String
    var keepThoughts: Bool
    var testQueryIDs: [String]

    // The job's key names; spelled out because convertToSnakeCase would write "IDs" as "_i_ds".
    enum CodingKeys: String, CodingKey {
        case input, files, format, keepThoughts = "keep_thoughts", testQueryIDs = "test_query_ids"
    }
}

/// The `fit` attribute of a prepared dataset.
struct FitDescription: Codable, Equatable {
    var mode: String
    var maxSeqLen: Int
    var compaction: [String]
    var observationLimits: [Int]

    init(_ policy: FitPolicy) {
        mode = policy.mode.rawValue
        maxSeqLen = policy.maxSeqLen
        compaction = Compaction.ladder.map(\.description)
        observationLimits = FitPolicy.observationLimits
    }
}
