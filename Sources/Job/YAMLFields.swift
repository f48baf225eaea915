import Foundation
import Yams

/// One problem found in a job file: where it is and what was wrong.
public struct JobIssue: Sendable, Equatable, CustomStringConvertible {
    /// Dotted key path, e.g. "train.optimizer.lr"; empty for the document itself.
    public let keyPath: String
    /// 1-based line and column Yams reported, when it did.
    public let line: Int?
    public let column: Int?
    public let message: String

    public init(keyPath: String, line: Int?, column: Int?, message: String) {
        self.keyPath = keyPath
        self.line = line
        self.column = column
        self.message = message
    }

    public var description: String {
        let place = line.map { ":\($0)" + (column.map { ":\($0)" } ?? "") } ?? ""
        return "\(place): \(keyPath.isEmpty ? "(document)" : keyPath): \(message)"
    }
}

/// Every problem in one job file, reported together.
public struct JobSpecError: Error, CustomStringConvertible {
    public let file: String
    public let issues: [JobIssue]

    public init(file: String, issues: [JobIssue]) {
        self.file = file
        self.issues = issues
    }

    public var description: String {
        let count = issues.count == 1 ? "1 problem" : "\(issues.count) problems"
        return "\(file): \(count):\n" + issues.map { "  \(file)\($0.description)" }.joined(separator: "\n")
    }
}

/// A path a job names, for the preflight to check: what must be there, and where the job says so.
public struct NamedPath: Sendable, Equatable {
    public enum Kind: Sendable, Equatable {
        /// A file or folder that must be readable.
        case readable
        /// A tokenizer folder: vocab.json and merges.txt, its ids below the model's vocab_size (when known).
        case tokenizer(vocabSize: Int?)
    }

    public let path: String
    public let kind: Kind
    /// Where the job names it.
    public let keyPath: String
    public let line: Int?
    public let column: Int?

    /// A problem with the path, placed where the job names it.
    public func issue(_ message: String) -> JobIssue {
        JobIssue(keyPath: keyPath, line: line, column: column, message: message)
    }
}

/// A YAML mapping being read field by field, with its key path and position.
final class YAMLTable {
    let path: String
    let mark: Mark?
    private(set) var entries: [String: Node] = [:]

    init(path: String, mark: Mark?, entries: [String: Node]) {
        self.path = path
        self.mark = mark
        self.entries = entries
    }

    func keyPath(_ key: String) -> String { path.isEmpty ? key : "\(path).\(key)" }
    func has(_ key: String) -> Bool { entries[key] != nil }
}

/// Reads typed values out of a Yams node tree, collecting every problem instead of stopping at
/// the first. Numbers and booleans must be plain scalars: a quoted "0.1" is a string, which is
/// almost always a mistake in a job file.
final class YAMLFields {
    private(set) var issues: [JobIssue] = []
    private(set) var paths: [NamedPath] = []

    func report(_ keyPath: String, _ mark: Mark?, _ message: String) {
        issues.append(JobIssue(keyPath: keyPath, line: mark?.line, column: mark?.column, message: message))
    }

    /// Records a path the job names (reading touches no file; the preflight checks them).
    func name(_ path: String, _ kind: NamedPath.Kind, keyPath: String, mark: Mark?) {
        paths.append(NamedPath(path: path, kind: kind, keyPath: keyPath, line: mark?.line, column: mark?.column))
    }

    /// What a node is, for "found ..." in messages.
    static func describe(_ node: Node) -> String {
        switch node {
        case .scalar(let s):
            if s.style == .plain { return s.string.isEmpty ? "nothing" : s.string }
            return "the string \"\(s.string)\""
        case .mapping: return "a mapping"
        case .sequence: return "a list"
        case .alias: return "an alias"
        }
    }

    static func isNull(_ node: Node) -> Bool {
        guard case .scalar(let s) = node, s.style == .plain else { return false }
        return ["", "~", "null", "Null", "NULL"].contains(s.string)
    }

    /// Opens `node` as a mapping whose keys must all be in `allowed`.
    func table(_ node: Node, path: String, allowed: [String]) -> YAMLTable? {
        guard case .mapping(let mapping) = node else {
            report(path, node.mark, "expected a mapping with keys \(allowed.joined(separator: ", ")), found \(YAMLFields.describe(node))")
            return nil
        }
        var entries: [String: Node] = [:]
        for (keyNode, value) in mapping {
            guard case .scalar(let key) = keyNode else {
                report(path, keyNode.mark, "keys must be plain names, found \(YAMLFields.describe(keyNode))")
                continue
            }
            let keyPath = path.isEmpty ? key.string : "\(path).\(key.string)"
            if !allowed.contains(key.string) {
                let hint = YAMLFields.closest(key.string, in: allowed).map { " (did you mean '\($0)'?)" } ?? ""
                report(keyPath, keyNode.mark, "unknown key\(hint); allowed here: \(allowed.joined(separator: ", "))")
            } else if entries[key.string] != nil {
                report(keyPath, keyNode.mark, "duplicate key")
            } else if !YAMLFields.isNull(value) {
                entries[key.string] = value
            }
        }
        return YAMLTable(path: path, mark: node.mark, entries: entries)
    }

    /// A nested mapping under `key`, or nil (reported) when it is required and missing.
    func table(_ t: YAMLTable, _ key: String, allowed: [String], required: Bool = false) -> YAMLTable? {
        guard let node = t.entries[key] else {
            if required { report(t.keyPath(key), t.mark, "missing; expected a mapping with keys \(allowed.joined(separator: ", "))") }
            return nil
        }
        return table(node, path: t.keyPath(key), allowed: allowed)
    }

    private func scalar(_ t: YAMLTable, _ key: String, expected: String, required: Bool) -> (String, Node.Scalar)? {
        guard let node = t.entries[key] else {
            if required { report(t.keyPath(key), t.mark, "missing; expected \(expected)") }
            return nil
        }
        guard case .scalar(let s) = node else {
            report(t.keyPath(key), node.mark, "expected \(expected), found \(YAMLFields.describe(node))")
            return nil
        }
        return (s.string, s)
    }

    func string(_ t: YAMLTable, _ key: String, required: Bool = false, allowed: String = "a string",
                check: ((String) -> Bool)? = nil) -> String? {
        guard let (text, s) = scalar(t, key, expected: allowed, required: required) else { return nil }
        if let check, !check(text) {
            report(t.keyPath(key), s.mark, "expected \(allowed), found \(YAMLFields.describe(.scalar(s)))")
            return nil
        }
        return text
    }

    /// A string or a list of strings (empty when the key is absent), each with its key path and position.
    func strings(_ t: YAMLTable, _ key: String, allowed: String) -> [(value: String, keyPath: String, mark: Mark?)] {
        guard let node = t.entries[key] else { return [] }
        let items: [(String, Node)]
        if case .sequence(let sequence) = node {
            items = sequence.enumerated().map { ("\(t.keyPath(key))[\($0)]", $1) }
        } else {
            items = [(t.keyPath(key), node)]
        }
        var values: [(String, String, Mark?)] = []
        for (keyPath, item) in items {
            guard case .scalar(let s) = item, !YAMLFields.isNull(item) else {
                report(keyPath, item.mark, "expected \(allowed), found \(YAMLFields.describe(item))")
                continue
            }
            values.append((s.string, keyPath, s.mark))
        }
        return values
    }

    /// One of a fixed set of words.
    func choice(_ t: YAMLTable, _ key: String, _ options: [String], required: Bool = false) -> String? {
        let allowed = "one of " + options.joined(separator: ", ")
        return string(t, key, required: required, allowed: allowed, check: { options.contains($0) })
    }

    func int(_ t: YAMLTable, _ key: String, required: Bool = false, range: ClosedRange<Int>, what: String? = nil) -> Int? {
        let allowed = what ?? YAMLFields.describe(range, integer: true)
        guard let (text, s) = scalar(t, key, expected: allowed, required: required) else { return nil }
        guard s.style == .plain, let v = Int(text.replacingOccurrences(of: "_", with: "")) else {
            report(t.keyPath(key), s.mark, "expected \(allowed), found \(YAMLFields.describe(.scalar(s)))")
            return nil
        }
        guard range.contains(v) else {
            report(t.keyPath(key), s.mark, "expected \(allowed), found \(v)")
            return nil
        }
        return v
    }

    func double(_ t: YAMLTable, _ key: String, required: Bool = false, range: ClosedRange<Double>,
                openLower: Bool = false, openUpper: Bool = false, what: String? = nil) -> Double? {
        let allowed = what ?? YAMLFields.describe(range, openLower: openLower, openUpper: openUpper)
        guard let node = t.entries[key] else {
            if required { report(t.keyPath(key), t.mark, "missing; expected \(allowed)") }
            return nil
        }
        return number(node, keyPath: t.keyPath(key), range: range, openLower: openLower, openUpper: openUpper, allowed: allowed)
    }

    func number(_ node: Node, keyPath: String, range: ClosedRange<Double>, openLower: Bool, openUpper: Bool,
                allowed: String) -> Double? {
        guard case .scalar(let s) = node, s.style == .plain,
              let v = Double(s.string.replacingOccurrences(of: "_", with: "")), v.isFinite
        else {
            report(keyPath, node.mark, "expected \(allowed), found \(YAMLFields.describe(node))")
            return nil
        }
        let inside = range.contains(v) && !(openLower && v == range.lowerBound) && !(openUpper && v == range.upperBound)
        guard inside else {
            report(keyPath, node.mark, "expected \(allowed), found \(s.string)")
            return nil
        }
        return v
    }

    func bool(_ t: YAMLTable, _ key: String) -> Bool? {
        guard let (text, s) = scalar(t, key, expected: "true or false", required: false) else { return nil }
        guard s.style == .plain, ["true", "false", "True", "False"].contains(text) else {
            report(t.keyPath(key), s.mark, "expected true or false, found \(YAMLFields.describe(.scalar(s)))")
            return nil
        }
        return text.lowercased() == "true"
    }

    /// A list of numbers with an exact length.
    func numbers(_ t: YAMLTable, _ key: String, count: Int, range: ClosedRange<Double>, openUpper: Bool) -> [Double]? {
        let allowed = "a list of \(count) numbers, each \(YAMLFields.describe(range, openLower: false, openUpper: openUpper))"
        guard let node = t.entries[key] else { return nil }
        guard case .sequence(let items) = node, items.count == count else {
            report(t.keyPath(key), node.mark, "expected \(allowed), found \(YAMLFields.describe(node))")
            return nil
        }
        let values = items.enumerated().map { i, item in
            number(item, keyPath: "\(t.keyPath(key))[\(i)]", range: range, openLower: false, openUpper: openUpper,
                   allowed: YAMLFields.describe(range, openLower: false, openUpper: openUpper))
        }
        return values.contains(where: { $0 == nil }) ? nil : values.compactMap { $0 }
    }

    static func describe(_ range: ClosedRange<Int>, integer: Bool) -> String {
        if range.upperBound == .max { return "a whole number >= \(range.lowerBound)" }
        return "a whole number from \(range.lowerBound) to \(range.upperBound)"
    }

    static func describe(_ range: ClosedRange<Double>, openLower: Bool, openUpper: Bool) -> String {
        let lower = "\(openLower ? ">" : ">=") \(format(range.lowerBound))"
        if range.upperBound == .greatestFiniteMagnitude { return "a number \(lower)" }
        return "a number \(lower) and \(openUpper ? "<" : "<=") \(format(range.upperBound))"
    }

    static func format(_ v: Double) -> String {
        v == v.rounded() && abs(v) < 1e15 ? String(Int(v)) : String(v)
    }

    /// The allowed word nearest to a misspelt one (edit distance <= 2).
    static func closest(_ word: String, in options: [String]) -> String? {
        func distance(_ a: [Character], _ b: [Character]) -> Int {
            var previous = Array(0...b.count)
            for (i, ca) in a.enumerated() {
                var current = [i + 1] + Array(repeating: 0, count: b.count)
                for (j, cb) in b.enumerated() {
                    current[j + 1] = min(previous[j + 1] + 1, current[j] + 1, previous[j] + (ca == cb ? 0 : 1))
                }
                previous = current
            }
            return previous[b.count]
        }
        let scored = options.map { ($0, distance(Array(word), Array($0))) }.min { $0.1 < $1.1 }
        return scored.flatMap { $0.1 <= 2 ? $0.0 : nil }
    }
}
