import Foundation
import Storage

/// One number of the report, read from an evaluation for a group (nil: all cases).
struct Metric: Sendable {
    enum Section: String, Sendable { case steps, queries, bfcl }
    let key: String
    let title: String
    let section: Section
    let format: Format
    let value: @Sendable (CheckpointEvaluation, String?) -> Double?

    enum Format: Sendable { case percent, number, count }

    func text(_ v: Double?) -> String {
        guard let v else { return "n/a" }
        switch format {
        case .percent: return String(format: "%.1f%%", v * 100)
        case .number: return String(format: "%.3f", v)
        case .count: return String(format: "%.0f", v)
        }
    }

    static func tf(_ key: String, _ title: String, _ format: Format, _ pick: @escaping @Sendable (TeacherForcedSummary) -> Double?) -> Metric {
        Metric(key: key, title: title, section: .steps, format: format) { e, g in
            e.teacherForced?.summary(g).flatMap(pick)
        }
    }

    static func step(_ key: String, _ title: String, _ format: Format, _ pick: @escaping @Sendable (StepSummary) -> Double?) -> Metric {
        Metric(key: key, title: title, section: .steps, format: format) { e, g in
            e.steps?.summary(g).flatMap(pick)
        }
    }

    static func query(_ key: String, _ title: String, _ format: Format, _ pick: @escaping @Sendable (QuerySummary) -> Double?) -> Metric {
        Metric(key: key, title: title, section: .queries, format: format) { e, g in
            e.queries?.summary(g).flatMap(pick)
        }
    }

    static func judged(_ key: String, _ title: String, _ pick: @escaping @Sendable (SoPRSummary) -> Double?) -> Metric {
        Metric(key: key, title: title, section: .queries, format: .percent) { e, g in
            e.judged?.summary(g).flatMap(pick)
        }
    }

    static func bfcl(_ key: String, _ title: String, _ format: Format, _ pick: @escaping @Sendable (BFCLSummary) -> Double?) -> Metric {
        Metric(key: key, title: title, section: .bfcl, format: format) { e, g in
            e.bfcl?.summary(g).flatMap(pick)
        }
    }

    /// The title as printed: judged metrics name their judge.
    func title(in all: [CheckpointEvaluation]) -> String {
        guard key.hasPrefix("sopr"), let judge = all.last(where: { $0.settings.judge != nil })?.settings.judge else { return title }
        return "\(title), judged by \(judge.model)"
    }

    /// Every metric, in report order.
    static let all: [Metric] = [
        tf("examples", "held-out steps", .count) { Double($0.examples) },
        tf("loss", "target loss (teacher-forced)", .number) { $0.loss },
        tf("perplexity", "target perplexity", .number) { $0.perplexity },
        tf("token_accuracy", "target token accuracy", .percent) { $0.tokenAccuracy },
        step("format_valid", "format valid", .percent) { $0.formatValidRate },
        step("action_exact_match", "action exact match", .percent) { $0.actionExactMatch },
        step("hallucinated_function", "hallucinated function", .percent) { $0.hallucinationRate },
        step("action_input_json", "Action Input valid JSON", .percent) { $0.actionInputJSONRate },
        step("argument_key_f1", "argument key F1 (API steps)", .percent) { $0.argumentKeyF1 },
        step("argument_exact_match", "arguments exact match (API steps)", .percent) { $0.argumentExactMatch },
        step("finish_decision", "Finish decision accuracy", .percent) { $0.finishDecisionAccuracy },
        step("return_type", "return_type accuracy (Finish steps)", .percent) { $0.returnTypeAccuracy },
        step("generated_tokens", "mean generated tokens", .number) { $0.meanGeneratedTokens },
        query("queries", "queries", .count) { Double($0.queries) },
        query("first_call_relevant", "first call hits a relevant API", .percent) { $0.firstCallRelevant },
        query("relevant_recall", "relevant-API recall", .percent) { $0.relevantRecall },
        query("relevant_precision", "relevant-API precision", .percent) { $0.relevantPrecision },
        query("finish_rate", "Finish rate", .percent) { $0.finishRate },
        query("give_answer_rate", "give_answer rate", .percent) { $0.giveAnswerRate },
        query("give_up_rate", "give-up rate", .percent) { $0.giveUpRate },
        query("non_empty_answer", "non-empty final answer", .percent) { $0.nonEmptyAnswerRate },
        query("hallucination_free", "hallucination-free", .percent) { $0.hallucinationFreeRate },
        query("valid_call_rate", "API calls with valid arguments", .percent) { $0.validCallRate },
        query("proxy_pass", "proxy pass (not a pass rate)", .percent) { $0.proxyPassRate },
        judged("sopr", "SoPR") { $0.sopr },
        judged("sopr_std", "SoPR standard deviation") { $0.standardDeviation },
        query("mean_steps", "mean steps", .number) { $0.meanSteps },
        query("context_exhausted", "ended: context exhausted", .percent) { $0.contextExhaustedRate },
        bfcl("bfcl_entries", "BFCL entries", .count) { Double($0.entries) },
        bfcl("bfcl_accuracy", "BFCL accuracy", .percent) { $0.accuracy },
        bfcl("bfcl_mean_calls", "mean calls", .number) { $0.meanCalls },
        bfcl("bfcl_no_call", "no call made", .percent) { $0.noCallRate },
        bfcl("bfcl_context_exhausted", "ended: context exhausted", .percent) { $0.contextExhaustedRate },
    ]
}

/// The files of `tooltune eval` under `<checkpoint.dir>/eval/`: one JSON per checkpoint, `report.md`
/// comparing every evaluated checkpoint (a table per group), and `charts/*.svg`.
public enum EvalReport {
    /// Writes `evaluation` as `<folder>/<name>.json` (atomically), then the report and charts from every
    /// evaluation in the folder; `trainingLoss` (from the newest checkpoint) draws the loss curve.
    public static func write(_ evaluation: CheckpointEvaluation, name: String, folder: URL,
                             trainingLoss: [CheckpointInfo.TrainingPoint]) throws {
        try Folders.create(folder.appendingPathComponent("charts").path)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        try AtomicFile.write(try encoder.encode(evaluation), to: folder.appendingPathComponent(name + ".json").path)
        let all = try load(folder: folder)
        let charts = self.charts(all, trainingLoss: trainingLoss)
        for (file, svg) in charts {
            try AtomicFile.write(Data(svg.utf8), to: folder.appendingPathComponent("charts/" + file).path)
        }
        try AtomicFile.write(Data(markdown(all, charts: charts.map(\.file)).utf8), to: folder.appendingPathComponent("report.md").path)
    }

    /// Every evaluation JSON in `folder`, by step (files without a step last, by name).
    public static func load(folder: URL) throws -> [CheckpointEvaluation] {
        let decoder = JSONDecoder()
        decoder.nonConformingFloatDecodingStrategy = .convertFromString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        let names = (try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? []
        var found: [CheckpointEvaluation] = []
        for name in names.sorted() where name.hasSuffix(".json") && !name.hasPrefix(".") {
            let path = folder.appendingPathComponent(name).path
            guard let data = FileManager.default.contents(atPath: path) else { continue }
            struct Header: Decodable { var format: String?; var formatVersion: Int? }
            if let header = try? decoder.decode(Header.self, from: data), header.format == CheckpointEvaluation.formatName,
               let version = header.formatVersion, version != CheckpointEvaluation.currentFormatVersion {
                throw EvalError("\(path): written by another version of tooltune eval (format_version \(version), this one writes \(CheckpointEvaluation.currentFormatVersion)); move it away or score its checkpoint again")
            }
            do {
                found.append(try decoder.decode(CheckpointEvaluation.self, from: data))
            } catch {
                throw EvalError("\(path): not an evaluation written by this version of tooltune eval (\(error))")
            }
        }
        return found.sorted { ($0.step ?? Int.max, $0.checkpoint) < ($1.step ?? Int.max, $1.checkpoint) }
    }

    static func label(_ e: CheckpointEvaluation) -> String {
        e.step.map { "step \($0)" } ?? ((e.checkpoint as NSString).lastPathComponent as NSString).deletingPathExtension
    }

    /// The checkpoints a table shows: all up to six, else the first and the last five.
    static func columns(_ all: [CheckpointEvaluation]) -> [CheckpointEvaluation] {
        all.count <= 6 ? all : [all[0]] + all.suffix(5)
    }

    static func groups(_ all: [CheckpointEvaluation], _ section: Metric.Section) -> [String] {
        var names = Set<String>()
        for e in all {
            switch section {
            case .steps:
                names.formUnion(e.teacherForced?.groups.keys ?? [:].keys)
                names.formUnion(e.steps?.groups.keys ?? [:].keys)
            case .queries:
                names.formUnion(e.queries?.groups.keys ?? [:].keys)
            case .bfcl:
                names.formUnion(e.bfcl?.groups.keys ?? [:].keys)
            }
        }
        return names.sorted()
    }

    /// A Markdown table: one row per metric of `section`, one column per checkpoint.
    static func table(_ all: [CheckpointEvaluation], section: Metric.Section, group: String?) -> String {
        let shown = columns(all)
        var lines = ["| metric | " + shown.map(label).joined(separator: " | ") + " |",
                     "| --- |" + String(repeating: " ---: |", count: shown.count)]
        for metric in Metric.all where metric.section == section {
            let values = shown.map { metric.value($0, group) }
            if values.allSatisfy({ $0 == nil }) { continue }
            lines.append("| \(metric.title(in: all)) | " + values.map(metric.text).joined(separator: " | ") + " |")
        }
        return lines.joined(separator: "\n")
    }

    static func markdown(_ all: [CheckpointEvaluation], charts: [String]) -> String {
        guard let newest = all.last else { return "# Evaluation\n\nNo evaluations yet.\n" }
        var md = "# Evaluation of \(newest.job)\n\n"
        md += "Written by `tooltune eval`; every number and every generated case is in the JSON file of each checkpoint "
        md += "beside this report. Definitions: README.md, \"Evaluation\".\n\n"
        md += "| checkpoint | file | evaluated (UTC) | ranks | seconds | generated tokens | generated tokens/s |\n"
        md += "| --- | --- | --- | ---: | ---: | ---: | ---: |\n"
        for e in all {
            let rate = e.timing.generatedTokensPerSecond.map { String(format: "%.1f", $0) } ?? "n/a"
            md += "| \(label(e)) | `\(e.checkpoint)` | \(e.createdUTC) | \(e.timing.ranks) | \(String(format: "%.1f", e.timing.seconds)) | \(e.timing.generatedTokens) | \(rate) |\n"
        }
        let s = newest.settings
        md += "\nSettings (newest): max_new_tokens \(s.generation.maxNewTokens), temperature \(s.generation.temperature)"
        md += ", top_p \(s.generation.topP), max_steps \(s.maxSteps), max_seq_len \(s.maxSeqLen), fit \(s.fit)"
        md += s.limit.map { ", limit \($0)" } ?? ""
        md += s.generation.stop.isEmpty ? "" : ", stop \(s.generation.stop)"
        md += ".\n"
        for note in newest.notes { md += "\n- \(note)" }
        if !newest.notes.isEmpty { md += "\n" }
        if charts.contains("training-loss.svg") { md += "\n## Training loss\n\n![training loss](charts/training-loss.svg)\n" }
        let stepGroups = groups(all, .steps), queryGroups = groups(all, .queries)
        if !stepGroups.isEmpty {
            md += "\n## Held-out steps\n\nTeacher-forced loss on the trained target span, and one generated step per held-out "
            md += "example, parsed as ToolBench's react_parser does and compared with the gold step.\n"
            for group in [nil] + stepGroups.map(Optional.some) {
                md += "\n### \(group ?? "all groups")\n\n" + table(all, section: .steps, group: group) + "\n"
            }
        }
        if !queryGroups.isEmpty {
            md += "\n## Queries\n\nClosed-loop rollouts (up to \(s.maxSteps) steps) "
            md += s.toolServer.map { "whose calls the tool server \($0) answered. " }
                ?? "against canned observations shaped like each API's template_response. "
            md += "The proxies are judge-free, and none of them is ToolBench's pass rate. Proxy pass = Finish with give_answer and "
            md += "a non-empty final answer, no hallucinated function, and at least one relevant API called with valid arguments.\n"
            if let judge = s.judge {
                md += "\nSoPR is StableToolBench's solvable pass rate, judged by \(judge.model) (\(judge.baseURL)), "
                md += "\(judge.evaluateTimes) judgements per query: the mean over judgement runs of (Solved + 0.5 x Unsure) / queries, "
                md += "with the standard deviation over runs. The rollouts in StableToolBench's converted format are in "
                md += "`stabletoolbench/<checkpoint>/<group>.json`.\n"
            }
            for group in [nil] + queryGroups.map(Optional.some) {
                md += "\n### \(group ?? "all groups")\n\n" + table(all, section: .queries, group: group) + "\n"
            }
        }
        let bfclGroups = groups(all, .bfcl)
        if !bfclGroups.isEmpty {
            md += "\n## BFCL\n\nThe Berkeley Function Calling Leaderboard's single-turn categories (\(s.bfcl.map { "`\($0)`" } ?? "")), "
            md += "rolled out in ToolBench's format (up to \(s.maxSteps) steps for parallel categories) and checked without a judge: "
            md += "AST categories by bfcl's rules (function name, parameters, types, allowed values; parallel calls in any order), "
            md += "irrelevance by making no call. \"all categories\" pools the entries.\n\n"
            md += bfclTable(all, categories: bfclGroups) + "\n"
            for group in [nil] + bfclGroups.map(Optional.some) {
                md += "\n### \(group ?? "all categories")\n\n" + table(all, section: .bfcl, group: group) + "\n"
            }
        }
        let metricCharts = charts.filter { $0 != "training-loss.svg" }
        if !metricCharts.isEmpty {
            md += "\n## Across checkpoints\n\n"
            for file in metricCharts { md += "![\(file)](charts/\(file))\n" }
        }
        return md
    }

    /// BFCL accuracy: a row per category (and all pooled), a column per checkpoint.
    static func bfclTable(_ all: [CheckpointEvaluation], categories: [String]) -> String {
        let shown = columns(all)
        var lines = ["| category | entries | " + shown.map(label).joined(separator: " | ") + " |",
                     "| --- | ---: |" + String(repeating: " ---: |", count: shown.count)]
        for group in categories.map(Optional.some) + [nil] {
            let entries = shown.last?.bfcl?.summary(group)?.entries ?? 0
            let values = shown.map { $0.bfcl?.summary(group)?.accuracy }
            lines.append("| \(group ?? "all categories") | \(entries) | " + values.map { $0.map { String(format: "%.1f%%", $0 * 100) } ?? "n/a" }
                .joined(separator: " | ") + " |")
        }
        return lines.joined(separator: "\n")
    }

    /// (file name, SVG) of the training-loss curve and of every metric across checkpoints (a line per group).
    static func charts(_ all: [CheckpointEvaluation], trainingLoss: [CheckpointInfo.TrainingPoint]) -> [(file: String, svg: String)] {
        var out: [(String, String)] = []
        if !trainingLoss.isEmpty {
            let chart = SVGChart(title: "Training loss", xLabel: "optimizer step", yLabel: "loss",
                                 series: [SVGChart.Series(name: "train loss", points: trainingLoss.map { (Double($0.step), $0.loss) })])
            out.append(("training-loss.svg", chart.render()))
        }
        for metric in Metric.all where metric.format != .count {
            let groupNames = groups(all, metric.section)
            var series: [SVGChart.Series] = []
            for group in [nil] + groupNames.map(Optional.some) {
                let points = all.enumerated().compactMap { i, e -> (x: Double, y: Double)? in
                    metric.value(e, group).map { (Double(e.step ?? i), $0) }
                }
                if !points.isEmpty { series.append(SVGChart.Series(name: group ?? "all", points: points)) }
            }
            guard !series.isEmpty else { continue }
            let chart = SVGChart(title: metric.title, xLabel: "checkpoint step", yLabel: metric.format == .percent ? "%" : metric.title,
                                 series: series, percent: metric.format == .percent)
            out.append((metric.section.rawValue + "-" + metric.key + ".svg", chart.render()))
        }
        return out
    }

    /// The overall numbers of evaluations side by side (with the change from the first to the last), for
    /// the terminal.
    public static func comparison(_ evaluations: [CheckpointEvaluation]) -> String {
        var rows: [[String]] = [["metric"] + evaluations.map(label) + (evaluations.count > 1 ? ["change"] : [])]
        for metric in Metric.all {
            let values = evaluations.map { metric.value($0, nil) }
            if values.allSatisfy({ $0 == nil }) { continue }
            var row = [metric.title(in: evaluations)] + values.map(metric.text)
            if evaluations.count > 1 {
                if let first = values.first!, let last = values.last! {
                    let delta = last - first
                    row.append(metric.format == .percent ? String(format: "%+.1f pts", delta * 100) : String(format: "%+.3f", delta))
                } else {
                    row.append("")
                }
            }
            rows.append(row)
        }
        // BFCL accuracy per category, after the pooled one.
        for category in groups(evaluations, .bfcl) {
            let values = evaluations.map { $0.bfcl?.summary(category)?.accuracy }
            var row = ["BFCL accuracy, \(category)"] + values.map { $0.map { String(format: "%.1f%%", $0 * 100) } ?? "n/a" }
            if evaluations.count > 1 {
                row.append(values.first!.flatMap { first in values.last!.map { String(format: "%+.1f pts", ($0 - first) * 100) } } ?? "")
            }
            rows.append(row)
        }
        let widths = rows[0].indices.map { c in rows.map { $0[c].count }.max()! }
        return rows.map { row in
            row.enumerated().map { c, cell in c == 0 ? cell.padding(toLength: widths[c], withPad: " ", startingAt: 0)
                : String(repeating: " ", count: widths[c] - cell.count) + cell }.joined(separator: "  ")
        }.joined(separator: "\n")
    }
}
