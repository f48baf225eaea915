import Foundation
import JSON

/// The input formats `data.format` names.
public enum InputFormat: String, Sendable, CaseIterable, Codable {
    /// Decide per file: `.jsonl` is chat messages; a `.json` object with `answer_generation` is a raw
    /// answer file; a `.json` list is ToolLLaMA conversations.
    case auto
    case toolbenchAnswers = "toolbench-answers"
    case toolllama
    case messages
}

/// Every problem found in the input files (one per file), reported together.
public struct DataErrors: Error, CustomStringConvertible, Sendable {
    public let errors: [DataError]

    public init(errors: [DataError]) { self.errors = errors }

    public var description: String {
        let shown = errors.prefix(20).map(\.description)
        let more = errors.count > 20 ? ["... and \(errors.count - 20) more files with errors"] : []
        return (shown + more).joined(separator: "\n")
    }
}

/// The conversations read from one data file.
public struct FileContents: Sendable {
    public var conversations: [Conversation] = []
    /// The format the file was read as.
    public var format: InputFormat
    /// A raw answer file with `valid_data: false` (skipped, as ToolBench does).
    public var invalidAnswerFile = false
    /// train_messages entries that give no example (last message content-only or not an assistant).
    public var entriesWithoutExample = 0
}

/// The conversations read from a file or folder, with counts for the report.
public struct LoadedData: Sendable {
    public var conversations: [Conversation] = []
    /// Files read, by the format they were read as.
    public var filesByFormat: [String: Int] = [:]
    public var invalidAnswerFiles = 0
    public var entriesWithoutExample = 0
    /// Files in the folder that are not .json or .jsonl.
    public var ignoredFiles = 0

    public init() {}

    /// Adds one file's counts (and, unless `keepConversations` is false, its conversations).
    public mutating func add(_ contents: FileContents, keepConversations: Bool = true) {
        if keepConversations { conversations += contents.conversations }
        filesByFormat[contents.format.rawValue, default: 0] += 1
        if contents.invalidAnswerFile { invalidAnswerFiles += 1 }
        entriesWithoutExample += contents.entriesWithoutExample
    }
}

public enum DataSource {
    /// The data files under `path` (itself, if it is a file), sorted by path so every run reads them in
    /// the same order; hidden files are left out. Returns the files and how many others were ignored.
    public static func files(at path: String) throws(DataError) -> (files: [String], ignored: Int) {
        var isFolder: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isFolder) else {
            throw DataError(file: path, message: "no such file or folder")
        }
        guard isFolder.boolValue else { return ([path], 0) }
        guard let walker = FileManager.default.enumerator(atPath: path) else {
            throw DataError(file: path, message: "cannot list the folder")
        }
        var found: [String] = []
        var ignored = 0
        while let relative = walker.nextObject() as? String {
            let name = (relative as NSString).lastPathComponent
            if name.hasPrefix(".") {
                walker.skipDescendants()
                continue
            }
            let full = (path as NSString).appendingPathComponent(relative)
            var sub: ObjCBool = false
            guard FileManager.default.fileExists(atPath: full, isDirectory: &sub), !sub.boolValue else { continue }
            if name.hasSuffix(".json") || name.hasSuffix(".jsonl") { found.append(full) } else { ignored += 1 }
        }
        found.sort { $0.utf8.lexicographicallyPrecedes($1.utf8) }
        return (found, ignored)
    }

    /// Reads every data file under `path`. Bad files do not stop the reading: all their errors are
    /// thrown together at the end, so one run shows every problem.
    public static func load(_ path: String, format: InputFormat, keepThoughts: Bool) throws -> LoadedData {
        let (files, ignored) = try files(at: path)
        var data = LoadedData()
        data.ignoredFiles = ignored
        var errors: [DataError] = []
        if files.isEmpty { errors.append(DataError(file: path, message: "no .json or .jsonl files")) }
        for file in files {
            do throws(DataError) {
                data.add(try read(file, format: format, keepThoughts: keepThoughts))
            } catch {
                errors.append(error)
            }
        }
        if !errors.isEmpty { throw DataErrors(errors: errors) }
        return data
    }

    /// Reads one data file as `format` (`auto`: decided from the extension and the top-level value).
    public static func read(_ file: String, format: InputFormat, keepThoughts: Bool) throws(DataError) -> FileContents {
        var format = format
        if format == .auto && file.hasSuffix(".jsonl") { format = .messages }
        if format == .messages {
            return FileContents(conversations: try ChatMessagesJSONL.read(file: file), format: .messages)
        }
        let root = JSONField(try JSONParser.parse(contentsOf: file), file: file)
        if format == .auto {
            switch root.value {
            case .object(let o) where o["answer_generation"] != nil: format = .toolbenchAnswers
            case .array: format = .toolllama
            default:
                throw root.error("cannot tell the format: expected a ToolBench answer file (an object with \"answer_generation\") or a ToolLLaMA conversation list, found \(root.value.kindDescription); set data.format")
            }
        }
        switch format {
        case .toolbenchAnswers:
            return try ToolBenchAnswers.convert(root, queryID: ToolBenchAnswers.queryID(fileName: file), keepThoughts: keepThoughts)
        case .toolllama:
            return FileContents(conversations: try ToolLLaMAConversations.convert(root), format: format)
        case .auto, .messages:
            preconditionFailure("resolved above")
        }
    }
}

/// Query ids that must never be trained on, from StableToolBench-style files `{"<qid>": 0, ...}`.
public enum TestQueryIDs {
    /// Reads id files; a folder stands for every .json file inside it. Ids are matched as strings, in
    /// every group: ToolBench numbers queries per group (G1, G2, G3), so a train query of another group
    /// with the same number is dropped too, which errs on the safe side.
    public static func load(_ paths: [String]) throws -> Set<String> {
        var ids = Set<String>()
        var errors: [DataError] = []
        for path in paths {
            do throws(DataError) {
                for file in try DataSource.files(at: path).files {
                    let root = JSONField(try JSONParser.parse(contentsOf: file), file: file)
                    guard case .object(let object) = root.value else {
                        throw root.error("expected an object of query ids ({\"<qid>\": 0, ...}), found \(root.value.kindDescription)")
                    }
                    ids.formUnion(object.keys)
                }
            } catch {
                errors.append(error)
            }
        }
        if !errors.isEmpty { throw DataErrors(errors: errors) }
        return ids
    }
}
