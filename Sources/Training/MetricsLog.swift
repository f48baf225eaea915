import Foundation
import Storage

/// One optimizer step, as written to metrics.jsonl and stored in checkpoints.
public struct StepMetrics: Codable, Equatable, Sendable {
    /// 1-based global optimizer step.
    public var step: Int
    public var epoch: Int
    /// Mean cross-entropy over the step's target tokens (all ranks).
    public var loss: Double
    public var lr: Double
    /// Global gradient norm before clipping.
    public var gradNorm: Double
    /// Tokens processed in the step (all ranks), and how many of them were targets.
    public var tokens: Int
    public var targetTokens: Int
    /// The tokens the step's examples have on their own: `tokens` plus the prefixes shared prefixes
    /// saved (`data.share_prefixes`), so throughput compares with unshared runs.
    public var exampleTokens: Int
    public var tokensPerSecond: Double
    /// Example tokens per second: the unshared tokens the step's work stands for.
    public var exampleTokensPerSecond: Double
    /// Wall-clock seconds of the step, split into forward/backward, waiting for allreduces, optimizer.
    public var seconds: Double
    public var computeSeconds: Double
    public var communicationSeconds: Double
    public var waitSeconds: Double
    /// True if the step was skipped because its loss or gradient was not finite.
    public var skipped: Bool

    enum CodingKeys: String, CodingKey {
        case step, epoch, loss, lr, tokens, skipped, seconds
        case gradNorm = "grad_norm"
        case targetTokens = "target_tokens"
        case exampleTokens = "example_tokens"
        case tokensPerSecond = "tokens_per_s"
        case exampleTokensPerSecond = "example_tokens_per_s"
        case computeSeconds = "compute_s"
        case communicationSeconds = "comm_s"
        case waitSeconds = "wait_s"
    }

    /// One column of the metrics table: a field and its JSON key, which is also its dataset name in a
    /// checkpoint's `/trainer/metrics`.
    enum Column {
        case integer(CodingKeys, WritableKeyPath<StepMetrics, Int>)
        case real(CodingKeys, WritableKeyPath<StepMetrics, Double>)
        case flag(CodingKeys, WritableKeyPath<StepMetrics, Bool>)
    }

    /// Every field, in the table's order.
    static var columns: [Column] {
        [.integer(.step, \.step), .integer(.epoch, \.epoch), .real(.loss, \.loss), .real(.lr, \.lr),
         .real(.gradNorm, \.gradNorm), .integer(.tokens, \.tokens), .integer(.targetTokens, \.targetTokens),
         .integer(.exampleTokens, \.exampleTokens), .real(.tokensPerSecond, \.tokensPerSecond),
         .real(.exampleTokensPerSecond, \.exampleTokensPerSecond), .real(.seconds, \.seconds), .real(.computeSeconds, \.computeSeconds),
         .real(.communicationSeconds, \.communicationSeconds), .real(.waitSeconds, \.waitSeconds), .flag(.skipped, \.skipped)]
    }

    /// All zero: the start of a row read column by column.
    /// Columns added after the first checkpoints were written, and the column they equal in those (runs
    /// without shared prefixes): an older checkpoint still resumes.
    static let addedColumns: [CodingKeys: CodingKeys] = [.exampleTokens: .tokens, .exampleTokensPerSecond: .tokensPerSecond]

    static let zero = StepMetrics(step: 0, epoch: 0, loss: 0, lr: 0, gradNorm: 0, tokens: 0, targetTokens: 0, exampleTokens: 0,
                                  tokensPerSecond: 0, exampleTokensPerSecond: 0,
                                  seconds: 0, computeSeconds: 0, communicationSeconds: 0, waitSeconds: 0, skipped: false)
}

extension StepMetrics {
    /// Reads a metrics record; a record written before a column was added reads it as the column it
    /// equals there (`addedColumns`).
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        step = try c.decode(Int.self, forKey: .step)
        epoch = try c.decode(Int.self, forKey: .epoch)
        loss = try c.decode(Double.self, forKey: .loss)
        lr = try c.decode(Double.self, forKey: .lr)
        gradNorm = try c.decode(Double.self, forKey: .gradNorm)
        tokens = try c.decode(Int.self, forKey: .tokens)
        targetTokens = try c.decode(Int.self, forKey: .targetTokens)
        exampleTokens = try c.decodeIfPresent(Int.self, forKey: .exampleTokens) ?? tokens
        tokensPerSecond = try c.decode(Double.self, forKey: .tokensPerSecond)
        exampleTokensPerSecond = try c.decodeIfPresent(Double.self, forKey: .exampleTokensPerSecond) ?? tokensPerSecond
        seconds = try c.decode(Double.self, forKey: .seconds)
        computeSeconds = try c.decode(Double.self, forKey: .computeSeconds)
        communicationSeconds = try c.decode(Double.self, forKey: .communicationSeconds)
        waitSeconds = try c.decode(Double.self, forKey: .waitSeconds)
        skipped = try c.decode(Bool.self, forKey: .skipped)
    }
}

/// metrics.jsonl: one JSON object per line, appended as steps finish.
public struct MetricsLog {
    public let url: URL

    public init(url: URL) { self.url = url }

    static let encoder: JSONEncoder = {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys]
        e.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        return e
    }()

    /// Appends one record (a whole line in one write; on a full disk an error naming the file).
    public func append(_ metrics: StepMetrics) throws {
        var line = try MetricsLog.encoder.encode(metrics)
        line.append(0x0A)
        let fd = open(url.path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw failure("cannot open to append step \(metrics.step)") }
        defer { close(fd) }
        let written = line.withUnsafeBytes { write(fd, $0.baseAddress!, $0.count) }
        guard written == line.count else {
            // A short write leaves a partial line; the next restart rewrites the log anyway.
            throw failure("cannot append step \(metrics.step)")
        }
    }

    private func failure(_ what: String) -> RunDirectoryError {
        RunDirectoryError(path: url.path, message: "\(what): \(String(cString: strerror(errno)))")
    }

    /// The records in the file, in order.
    public func read() throws -> [StepMetrics] {
        guard let data = FileManager.default.contents(atPath: url.path) else { return [] }
        let decoder = JSONDecoder()
        decoder.nonConformingFloatDecodingStrategy = .convertFromString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        return try data.split(separator: 0x0A).enumerated().map { index, line in
            do {
                return try decoder.decode(StepMetrics.self, from: Data(line))
            } catch {
                throw RunDirectoryError(path: url.path, message: "line \(index + 1) is not a metrics record: \(error)")
            }
        }
    }

    /// Replaces the log with `records`, the metrics of the checkpoint a run resumes from (none for a
    /// fresh run): steps a killed run logged past its last checkpoint are not counted twice, and a line
    /// it left half-written is gone. The log is not read, so a damaged one cannot stop the run.
    public func restart(from records: [StepMetrics]) throws {
        var data = Data()
        for record in records {
            data.append(try MetricsLog.encoder.encode(record))
            data.append(0x0A)
        }
        try AtomicFile.write(data, to: url.path)
    }
}
