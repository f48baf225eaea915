import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Publishes a folder of files as one: they are written into a temporary folder beside the target, which
/// is then renamed to the target's name, so a reader finds no folder, the old one, or the complete new one.
public enum AtomicFolder {
    /// The name of a replaced folder while it is moved aside: "." + name + this + the writer's tag.
    static let oldMarker = ".old-"

    /// The target exists and holds files, and replacing it was not asked for.
    public struct NotEmpty: Error, CustomStringConvertible {
        public let path: String
        public let entries: [String]
        public var description: String {
            "\(path): the folder is not empty (\(entries.prefix(5).joined(separator: ", "))\(entries.count > 5 ? ", ..." : ""))"
        }
    }

    /// Calls `body` with a new, empty temporary folder to fill, then renames it to `path` (creating the
    /// parent folders). `path` must not exist or be an empty folder, unless `replacing`: then a folder with
    /// files is moved aside, the new one renamed in, and the old one removed. Everything is checked before
    /// `body` runs; if `body` throws, the temporary folder is removed and `path` is untouched.
    public static func write(to path: String, replacing: Bool, _ body: (_ temporaryFolder: String) throws -> Void) throws {
        let url = URL(fileURLWithPath: path)
        let parent = url.deletingLastPathComponent().path
        let name = url.lastPathComponent
        try checkTarget(path, replacing: replacing)
        try Folders.create(parent)
        AtomicFile.removeStaleTemporaries(of: name, in: parent)
        let tag = "\(AtomicFile.hostName)-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let temporary = "\(parent)/.\(name)\(AtomicFile.temporaryMarker)\(tag)"
        guard mkdir(temporary, 0o755) == 0 else { throw AtomicFile.failure(temporary, "mkdir") }
        do {
            try body(temporary)
            try AtomicFile.fsync(path: temporary, directory: true)
            if try checkTarget(path, replacing: replacing) {
                let old = "\(parent)/.\(name)\(oldMarker)\(tag)"
                guard rename(path, old) == 0 else { throw AtomicFile.failure(path, "rename to \(old)") }
                guard rename(temporary, path) == 0 else {
                    let failure = AtomicFile.failure(path, "rename from \(temporary)")
                    rename(old, path)
                    throw failure
                }
                try? FileManager.default.removeItem(atPath: old)
            } else {
                guard rename(temporary, path) == 0 else { throw AtomicFile.failure(path, "rename from \(temporary)") }
            }
            try AtomicFile.fsync(path: parent, directory: true)
        } catch {
            try? FileManager.default.removeItem(atPath: temporary)
            throw AtomicFile.WriteError.naming(path, in: error, for: temporary)
        }
    }

    /// Whether `path` is a folder with files that must be moved aside (only when `replacing`). A missing
    /// path or an empty folder can be renamed over directly.
    @discardableResult
    private static func checkTarget(_ path: String, replacing: Bool) throws -> Bool {
        var isFolder: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isFolder) else { return false }
        guard isFolder.boolValue else { throw AtomicFile.Failure(path: path, message: "exists and is not a folder") }
        let entries = try FileManager.default.contentsOfDirectory(atPath: path).sorted()
        if entries.isEmpty { return false }
        guard replacing else { throw NotEmpty(path: path, entries: entries) }
        return true
    }
}
