import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Writes files so that a reader sees either the old file or the complete new one, never a part:
/// the content goes to a temporary name in the same folder, is fsynced, renamed over the target, and
/// the folder is fsynced so the rename itself survives a crash.
public enum AtomicFile {
    public struct Failure: Error, CustomStringConvertible {
        public let path: String
        public let message: String
        public var description: String { "\(path): \(message)" }
    }

    /// The temporary names this process uses start with "." + the target's name + this marker.
    public static let temporaryMarker = ".tmp-"

    /// Calls `body` with a temporary path to write the file at, then publishes it at `path`. If `body`
    /// throws, the temporary file is removed and `path` is untouched.
    public static func write(to path: String, _ body: (_ temporaryPath: String) throws -> Void) throws {
        let url = URL(fileURLWithPath: path)
        let folder = url.deletingLastPathComponent().path
        let temporary = folder + "/." + url.lastPathComponent + temporaryMarker
            + "\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        do {
            try body(temporary)
            try fsync(path: temporary, directory: false)
            guard rename(temporary, path) == 0 else { throw failure(path, "rename from \(temporary)") }
            try fsync(path: folder, directory: true)
        } catch {
            unlink(temporary)
            throw error
        }
    }

    /// Atomically replaces `path` with `data`.
    public static func write(_ data: Data, to path: String) throws {
        try write(to: path) { temporary in
            guard FileManager.default.createFile(atPath: temporary, contents: data) else {
                throw failure(temporary, "create")
            }
        }
    }

    static func fsync(path: String, directory: Bool) throws {
        let fd = open(path, directory ? O_RDONLY | O_DIRECTORY : O_RDONLY)
        guard fd >= 0 else { throw failure(path, "open for fsync") }
        defer { close(fd) }
        guard Glibc.fsync(fd) == 0 else { throw failure(path, "fsync") }
    }

    static func failure(_ path: String, _ what: String) -> Failure {
        Failure(path: path, message: "\(what) failed: \(String(cString: strerror(errno)))")
    }
}
