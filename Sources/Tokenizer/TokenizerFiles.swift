import Foundation
import JSON

/// The Hugging Face tokenizer files of a folder, read and checked: vocab.json (token -> id), merges.txt
/// (one merge per line, rank = order) and the optional special-token files (special_tokens_map.json,
/// tokenizer_config.json). Every problem names the file and the line or key.
struct TokenizerFiles {
    /// vocab.json in file order.
    var vocab: [(token: String, id: Int32)] = []
    var idsByToken: [String: Int32] = [:]
    /// Merges in file order with their line numbers (for error messages).
    var merges: [(left: String, right: String, line: Int)] = []
    /// The special tokens: the declared roles (bos, eos, ...) and every token Hugging Face would split out
    /// of a text before pre-tokenization (the declared special tokens and the added tokens).
    var bos: String
    var eos: String
    var pad: String?
    var textSpecials: [String] = []
    /// SHA-256 of the bytes of vocab.json followed by the bytes of merges.txt.
    var sha256: String

    static let specialRoles = ["bos_token", "eos_token", "unk_token", "pad_token", "sep_token", "cls_token", "mask_token"]
    /// What OPT declares (facebook/opt-350m's tokenizer_config.json): used when a folder has no
    /// special-token files.
    static let optDefaults: [String: String] = ["bos_token": "</s>", "eos_token": "</s>", "unk_token": "</s>", "pad_token": "<pad>"]

    init(folder: String) throws(TokenizerError) {
        let vocabPath = (folder as NSString).appendingPathComponent("vocab.json")
        let mergesPath = (folder as NSString).appendingPathComponent("merges.txt")
        let vocabBytes = try Self.read(vocabPath)
        let mergesBytes = try Self.read(mergesPath)
        var hasher = SHA256()
        hasher.update(vocabBytes)
        hasher.update(mergesBytes)
        sha256 = hasher.finalize().hexString
        bos = ""
        eos = ""
        try readVocab(vocabBytes, path: vocabPath)
        try readMerges(mergesBytes, path: mergesPath)
        try readSpecials(folder: folder, vocabPath: vocabPath)
    }

    static func read(_ path: String) throws(TokenizerError) -> [UInt8] {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw .unreadableFile(path: path, reason: "no such file")
        }
        guard !isDirectory.boolValue, let data = FileManager.default.contents(atPath: path) else {
            throw .unreadableFile(path: path, reason: isDirectory.boolValue ? "is a folder, not a file" : "cannot be read")
        }
        return [UInt8](data)
    }

    static func parseJSON(_ bytes: [UInt8], path: String) throws(TokenizerError) -> JSONValue {
        do {
            return try JSONParser.parse(bytes, options: .strict)
        } catch {
            let (position, message) = Self.describe(error)
            throw .malformedFile(path: path, location: .lineColumn(position.line, position.byteColumn), message: "invalid JSON: \(message)")
        }
    }

    /// A syntax error in the tokenizer's own words: columns count bytes, and an unterminated string or a
    /// bad escape is named where it starts.
    static func describe(_ error: JSONSyntaxError) -> (JSONPosition, String) {
        let byte: UInt8? = switch error.found {
        case .end: nil
        case .invalidByte(let b): b
        case .character(let c): String(c).utf8.first
        }
        func character(_ b: UInt8) -> String {
            b >= 0x20 && b < 0x7f ? "'\(Character(Unicode.Scalar(b)))'" : "byte 0x\(String(b, radix: 16))"
        }
        func unexpected(_ expected: String) -> String {
            "unexpected \(byte.map { "character \(character($0))" } ?? "end of file"), expected \(expected)"
        }
        let position = switch error.problem {
        case .unterminatedString(let start), .invalidEscape(let start): start
        default: error.position
        }
        let message = switch error.problem {
        case .empty, .unexpected(.value): unexpected("a value")
        case .unexpected(.literal(let word)): "invalid literal, expected \(word)"
        case .unexpected(.key): unexpected(byte == nil ? "a key" : "a key (a string)")
        case .unexpected(.colon): unexpected("':' after a key")
        case .unexpected(.commaOrObjectEnd): unexpected("',' or '}'")
        case .unexpected(.commaOrArrayEnd): unexpected("',' or ']'")
        case .unexpected(.digit): "invalid number"
        case .unexpected(.fractionDigit): "invalid number (no digits after '.')"
        case .unexpected(.exponentDigit): "invalid number (no digits in the exponent)"
        case .unexpected(.hexDigit): "invalid \\u escape (expected 4 hex digits)"
        case .extraData: "unexpected text after the JSON value"
        case .unterminatedString: "unterminated string"
        case .invalidEscape: "invalid escape \\\(Character(Unicode.Scalar(byte ?? 0)))"
        case .controlCharacter(let b): "control character \(character(b)) inside a string (must be escaped)"
        case .invalidUTF8: "string is not valid UTF-8"
        case .duplicateKey(let key): "duplicate key \(JSONValue.quoted(key))"
        case .leadingZero: "invalid number (leading zero)"
        case .loneSurrogate(let code): "lone surrogate \\u\(String(code, radix: 16)) in string"
        case .invalidSurrogatePair: "invalid surrogate pair in string"
        case .tooDeep: error.message
        }
        return (position, message)
    }

    /// One more than the largest token id accepted: the OPT model's limit on vocab_size (2^22).
    static let maximumID = 1 << 22

    private mutating func readVocab(_ bytes: [UInt8], path: String) throws(TokenizerError) {
        guard case .object(let members) = try Self.parseJSON(bytes, path: path) else {
            throw .malformedFile(path: path, location: .file, message: "expected a JSON object of token -> id")
        }
        if members.keys.isEmpty { throw .malformedFile(path: path, location: .file, message: "the vocabulary is empty") }
        var tokensByID: [Int32: String] = [:]
        vocab.reserveCapacity(members.count)
        idsByToken.reserveCapacity(members.count)
        for (token, value) in members.pairs {
            guard let id = value.intValue, id >= 0, id <= Int(Int32.max) else {
                throw .malformedFile(path: path, location: .key(token), message: "expected a token id (a whole number from 0), found \(Self.summary(value))")
            }
            // The tokenizer keeps a table indexed by id: an id from the file sizes memory.
            guard id < Self.maximumID else {
                throw .malformedFile(path: path, location: .key(token),
                                     message: "id \(id) is over the limit of \(Self.maximumID - 1) (vocabularies have up to a few hundred thousand ids)")
            }
            if let other = tokensByID[Int32(id)] {
                throw .malformedFile(path: path, location: .key(token), message: "id \(id) is also the id of \(JSONValue.quoted(other))")
            }
            tokensByID[Int32(id)] = token
            vocab.append((token, Int32(id)))
            idsByToken[token] = Int32(id)
        }
        for b in 0..<256 where idsByToken[String(ByteLevel.characters[b])] == nil {
            throw .malformedFile(path: path, location: .file, message: "no token for byte 0x\(String(b, radix: 16)) "
                + "(\(JSONValue.quoted(String(ByteLevel.characters[b])))): a byte-level BPE vocabulary has all 256 byte tokens")
        }
    }

    private mutating func readMerges(_ bytes: [UInt8], path: String) throws(TokenizerError) {
        let lines = bytes.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false)
        for (index, rawLine) in lines.enumerated() {
            let number = index + 1
            var line = rawLine
            if line.last == UInt8(ascii: "\r") { line = line.dropLast() }
            if line.isEmpty && index == lines.count - 1 { break }  // the newline that ends the file
            guard let text = String(validating: line, as: UTF8.self) else {
                throw .malformedFile(path: path, location: .line(number), message: "not valid UTF-8")
            }
            if text.hasPrefix("#version") { continue }
            let parts = text.split(separator: " ", omittingEmptySubsequences: false)
            guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty else {
                throw .malformedFile(path: path, location: .line(number),
                                     message: "expected two tokens separated by one space, found \(JSONValue.quoted(text))")
            }
            let left = String(parts[0]), right = String(parts[1])
            for token in [left, right, left + right] where idsByToken[token] == nil {
                let what = token == left + right ? "the merged token" : "token"
                throw .malformedFile(path: path, location: .line(number), message: "\(what) \(JSONValue.quoted(token)) is not in vocab.json")
            }
            merges.append((left, right, number))
        }
    }

    private mutating func readSpecials(folder: String, vocabPath: String) throws(TokenizerError) {
        var roles: [String: (content: String, path: String)] = [:]
        var extra: [(content: String, path: String, key: String)] = []
        var sawFile = false
        for name in ["special_tokens_map.json", "tokenizer_config.json"] {
            let path = (folder as NSString).appendingPathComponent(name)
            guard FileManager.default.fileExists(atPath: path) else { continue }
            sawFile = true
            guard case .object(let members) = try Self.parseJSON(try Self.read(path), path: path) else {
                throw .malformedFile(path: path, location: .file, message: "expected a JSON object")
            }
            for (key, value) in members.pairs {
                if Self.specialRoles.contains(key) {
                    if case .null = value { continue }
                    let content = try Self.tokenContent(value, path: path, key: key)
                    if let earlier = roles[key], earlier.content != content {
                        throw .malformedFile(path: path, location: .key(key), message: "\(JSONValue.quoted(content)) here but "
                            + "\(JSONValue.quoted(earlier.content)) in \(earlier.path)")
                    }
                    roles[key] = (content, path)
                } else if key == "additional_special_tokens" {
                    guard case .array(let items) = value else {
                        throw .malformedFile(path: path, location: .key(key), message: "expected an array of tokens, found \(Self.summary(value))")
                    }
                    for item in items { extra.append((try Self.tokenContent(item, path: path, key: key), path, key)) }
                } else if key == "added_tokens_decoder" {
                    guard case .object(let entries) = value else {
                        throw .malformedFile(path: path, location: .key(key), message: "expected an object of id -> token, found \(Self.summary(value))")
                    }
                    for (idText, entry) in entries.pairs {
                        let content = try Self.tokenContent(entry, path: path, key: "\(key).\(idText)")
                        guard let id = Int32(idText), idsByToken[content] == id else {
                            throw .malformedFile(path: path, location: .key("\(key).\(idText)"),
                                                 message: "\(JSONValue.quoted(content)) has id \(idsByToken[content].map(String.init) ?? "none") in vocab.json")
                        }
                        extra.append((content, path, "\(key).\(idText)"))
                    }
                }
            }
        }
        if !sawFile {
            for (role, content) in Self.optDefaults where idsByToken[content] != nil { roles[role] = (content, vocabPath) }
        }
        for role in ["bos_token", "eos_token"] where roles[role] == nil {
            let path = sawFile ? (folder as NSString).appendingPathComponent("tokenizer_config.json") : vocabPath
            throw .malformedFile(path: path, location: .file, message: sawFile
                ? "no \(role) in tokenizer_config.json or special_tokens_map.json"
                : "no special-token files and no \"</s>\" token for OPT's BOS/EOS")
        }
        let declared = Self.specialRoles.compactMap { role in roles[role].map { ($0.content, $0.path, role) } } + extra
        for (content, path, key) in declared {
            guard idsByToken[content] != nil else {
                throw .malformedFile(path: path, location: .key(key), message: "\(JSONValue.quoted(content)) is not in vocab.json")
            }
            if !textSpecials.contains(content) { textSpecials.append(content) }
        }
        bos = roles["bos_token"]!.content
        eos = roles["eos_token"]!.content
        pad = roles["pad_token"]?.content
    }

    /// A token written as a string or as an AddedToken object ({"content": ..., "lstrip": ..., ...}).
    /// Only plain matching is supported: lstrip, rstrip and single_word change how a token is found in
    /// text, and OPT sets none of them.
    static func tokenContent(_ value: JSONValue, path: String, key: String) throws(TokenizerError) -> String {
        let content: String
        switch value {
        case .string(let s):
            content = s
        case .object(let members):
            guard case .string(let s)? = members["content"] else {
                throw .malformedFile(path: path, location: .key(key), message: "expected a token object with a \"content\" string")
            }
            for flag in ["lstrip", "rstrip", "single_word"] {
                if case .bool(true)? = members[flag] {
                    throw .malformedFile(path: path, location: .key(key), message: "\(flag) = true is not supported")
                }
            }
            content = s
        default:
            throw .malformedFile(path: path, location: .key(key), message: "expected a token (a string or an object with \"content\"), found \(Self.summary(value))")
        }
        if content.isEmpty { throw .malformedFile(path: path, location: .key(key), message: "the token is empty") }
        return content
    }

    /// A value as the tokenizer's errors name it: strings with their text, arrays as arrays.
    static func summary(_ value: JSONValue) -> String {
        switch value {
        case .string(let s): "the string \(JSONValue.quoted(s))"
        case .array: "an array"
        default: value.kindDescription
        }
    }
}
