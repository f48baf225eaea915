import Foundation
import Job
import Storage
import ToolBench

extension DataPreparation {
    /// Why the prepared dataset at `path` no longer describes this job's `split` (empty when it does):
    /// prepared with another tokenizer or recipe (`data.*`), or older than its input files. Training or
    /// scoring on it would silently use other data than the job names.
    ///
    /// A `data.<split>` that is itself a prepared `.h5` has no recipe in the job: only its tokenizer and
    /// length are checked.
    public func staleness(of dataset: PreparedDataset, at path: String, split: Split) -> [String] {
        let meta = dataset.metadata
        var reasons: [String] = []
        func differ(_ key: String, prepared: String, job: String) {
            if prepared != job { reasons.append("\(key) was \(prepared) when it was prepared, the job says \(job)") }
        }
        if meta.tokenizerSHA256 != tokenizerSHA256 {
            reasons.append("tokenizer.path \(job.tokenizer.path) has sha256 \(tokenizerSHA256.prefix(12))…, "
                           + "the data was tokenized by \(meta.tokenizerSHA256.prefix(12))…")
        }
        guard let input = split == .train ? job.data.train : job.data.eval, !input.hasSuffix(".h5") else {
            if meta.maxSeqLen > job.data.maxSeqLen {
                reasons.append("its sequences reach \(meta.maxSeqLen) tokens, over data.max_seq_len \(job.data.maxSeqLen)")
            }
            return reasons
        }
        differ("data.max_seq_len", prepared: "\(meta.maxSeqLen)", job: "\(job.data.maxSeqLen)")
        differ("data.loss_turns", prepared: meta.lossTurns, job: job.data.lossTurns.rawValue)
        differ("data.packing", prepared: meta.packing, job: packingName)
        differ("data.share_prefixes", prepared: meta.prefixSharing, job: prefixSharingName)
        differ("the template", prepared: meta.template, job: ToolLlamaTemplate.name)
        let fit = FitDescription(policy)
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        if var prepared = try? decoder.decode(FitDescription.self, from: Data(meta.fitJSON.utf8)) {
            prepared.maxSeqLen = fit.maxSeqLen  // compared above
            differ("data.fit", prepared: prepared.mode, job: fit.mode)
            if prepared.mode == fit.mode, prepared != fit {
                reasons.append("this tooltune fits examples differently (compaction or observation limits) than the one that prepared it")
            }
        } else {
            reasons.append("another version of tooltune prepared it (its fit attribute has another form)")
        }
        guard let sources = try? JSONDecoder().decode(SourcesDescription.self, from: Data(meta.sourcesJSON.utf8)) else {
            return reasons + ["another version of tooltune prepared it (its sources attribute has another form)"]
        }
        let testQueryIDs = split == .train ? job.data.testQueryIDs : []
        differ("data.\(split.rawValue)", prepared: sources.input, job: input)
        differ("data.format", prepared: sources.format, job: job.data.format.rawValue)
        differ("data.keep_thoughts", prepared: "\(sources.keepThoughts)", job: "\(job.data.keepThoughts)")
        differ("data.test_query_ids", prepared: "\(sources.testQueryIDs)", job: "\(testQueryIDs)")
        guard reasons.isEmpty else { return reasons }

        // Same recipe: the inputs themselves must not have changed since.
        let listed = (try? DataSource.files(at: input).files) ?? []
        let preparedFiles = sources.files.values.reduce(0, +)
        if listed.count != preparedFiles {
            reasons.append("\(input) holds \(listed.count) data files, \(preparedFiles) when it was prepared")
        }
        let preparedAt = modificationDate(path) ?? .distantFuture
        if let newer = (listed + testQueryIDs).first(where: { (modificationDate($0) ?? .distantPast) > preparedAt }) {
            reasons.append("\(newer) changed after it was prepared")
        }
        return reasons
    }

    /// Throws when the prepared dataset at `path` is stale (`staleness`), listing every reason.
    public func checkUpToDate(_ dataset: PreparedDataset, at path: String, split: Split) throws {
        let reasons = staleness(of: dataset, at: path, split: split)
        guard !reasons.isEmpty else { return }
        throw PrepareError("\(path) is out of date for \(job.file): " + reasons.joined(separator: "; ")
                           + "; run `tooltune prepare \(job.file)` again")
    }
}

private func modificationDate(_ path: String) -> Date? {
    (try? FileManager.default.attributesOfItem(atPath: path))?[.modificationDate] as? Date
}
