import JSON

/// Why a tokenizer could not be loaded, or an id could not be decoded.
public enum TokenizerError: Error, Equatable, Sendable, CustomStringConvertible {
    /// A file is missing or unreadable.
    case unreadableFile(path: String, reason: String)
    /// A file is there but wrong; `location` points at the place.
    case malformedFile(path: String, location: Location, message: String)
    /// `decode` was given an id that names no token (ids past the vocabulary, e.g. OPT's unused
    /// embedding rows 50265...50271, or negative ids).
    case unknownID(Int32)

    public enum Location: Equatable, Sendable {
        case file
        case line(Int)
        case lineColumn(Int, Int)
        /// A key of a JSON object, e.g. a token of vocab.json or "bos_token".
        case key(String)
    }

    public var description: String {
        switch self {
        case .unreadableFile(let path, let reason):
            return "\(path): \(reason)"
        case .malformedFile(let path, let location, let message):
            switch location {
            case .file: return "\(path): \(message)"
            case .line(let line): return "\(path):\(line): \(message)"
            case .lineColumn(let line, let column): return "\(path):\(line):\(column): \(message)"
            case .key(let key): return "\(path): key \(JSONValue.quoted(key)): \(message)"
            }
        case .unknownID(let id):
            return "token id \(id) is not in the vocabulary"
        }
    }
}
