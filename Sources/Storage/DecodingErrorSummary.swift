extension DecodingError {
    /// One line for a user: the JSON path of the problem and what was wrong there (Swift's own description
    /// prints coding-key structs).
    public var summary: String {
        func at(_ context: DecodingError.Context) -> String {
            let path = context.codingPath.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }.joined(separator: ".")
            return path.isEmpty ? context.debugDescription : "\(path): \(context.debugDescription)"
        }
        switch self {
        case .typeMismatch(_, let c), .valueNotFound(_, let c), .dataCorrupted(let c): return at(c)
        case .keyNotFound(let key, let c): return "\(at(c)) (missing \"\(key.stringValue)\")"
        @unknown default: return "\(self)"
        }
    }
}
