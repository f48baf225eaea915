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

    /// The temporary names of a target start with "." + the target's name + this marker, followed by
    /// `<host>-<pid>-<random>` of the process writing it.
    public static let temporaryMarker = ".tmp-"

    /// Calls `body` with a temporary path to write the file at, then publishes it at `path`. If `body`
    /// throws, the temporary file is removed and `path` is untouched.
    public static func write(to path: String, _ body: (_ temporaryPath: String) throws -> Void) throws {
        try stage(to: path, body).publish()
    }

    /// Atomically replaces `path` with `data`.
    public static func write(_ data: Data, to path: String) throws {
        try write(to: path) { try write(data, toNew: $0) }
    }

    /// Writes `data` to a file that must not exist yet (a temporary name), reporting the system's error.
    public static func write(_ data: Data, toNew path: String) throws {
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw failure(path, "create") }
        defer { close(fd) }
        try data.withUnsafeBytes { bytes in
            var done = 0
            while done < bytes.count {
                let n = Glibc.write(fd, bytes.baseAddress! + done, bytes.count - done)
                if n < 0 && errno == EINTR { continue }
                guard n > 0 else { throw failure(path, "write") }
                done += n
            }
        }
    }

    /// Writes the file under its temporary name and fsyncs it, but does not publish it yet: several
    /// files staged first and published together appear all or (when one fails to stage) none. Stale
    /// temporary files of the same target, left by a process that was killed, are removed first.
    public static func stage(to path: String, _ body: (_ temporaryPath: String) throws -> Void) throws -> StagedFile {
        let url = URL(fileURLWithPath: path)
        let folder = url.deletingLastPathComponent().path
        removeStaleTemporaries(of: url.lastPathComponent, in: folder)
        let staged = StagedFile(path: path, temporary: temporaryPath(for: path))
        do {
            try body(staged.temporary)
            try fsync(path: staged.temporary, directory: false)
        } catch {
            throw WriteError.naming(path, in: error, for: staged.temporary)
        }
        return staged
    }

    /// A failure while writing the temporary file, worded with the name the user knows: the target's.
    public struct WriteError: Error, CustomStringConvertible {
        public let description: String
        /// What was thrown.
        public let underlying: any Error

        static func naming(_ path: String, in error: any Error, for temporary: String) -> any Error {
            let text = String(describing: error)
            guard text.contains(temporary) else { return error }
            return WriteError(description: text.replacingOccurrences(of: temporary, with: path), underlying: error)
        }
    }

    /// `<folder>/.<name>.tmp-<host>-<pid>-<random>`: the host and process say whose it is.
    static func temporaryPath(for path: String) -> String {
        let url = URL(fileURLWithPath: path)
        return url.deletingLastPathComponent().path + "/." + url.lastPathComponent + temporaryMarker
            + "\(hostName)-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
    }

    /// This host's name, as temporary names carry it.
    public static let hostName: String = {
        var buffer = [CChar](repeating: 0, count: 256)
        guard gethostname(&buffer, buffer.count - 1) == 0 else { return "localhost" }
        let name = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return name.isEmpty ? "localhost" : name
    }()

    /// Removes the temporary files (and folders, see `AtomicFolder`) of `name` in `folder` whose writer
    /// is gone: written on this host by a process that no longer exists. Another host's are left alone
    /// (the folder may be shared); so is anything that cannot be removed. Returns the paths removed.
    @discardableResult
    public static func removeStaleTemporaries(of name: String, in folder: String) -> [String] {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: folder) else { return [] }
        var removed: [String] = []
        for entry in names {
            guard let owner = owner(ofTemporary: entry, of: name), owner.host == hostName,
                  kill(owner.pid, 0) != 0, errno == ESRCH else { continue }
            let path = folder + "/" + entry
            if (try? FileManager.default.removeItem(atPath: path)) != nil { removed.append(path) }
        }
        return removed
    }

    /// The host and process in a temporary name of `name` (`.old-` names of `AtomicFolder` too).
    static func owner(ofTemporary entry: String, of name: String) -> (host: String, pid: pid_t)? {
        var tag: Substring?
        for marker in [temporaryMarker, AtomicFolder.oldMarker] where entry.hasPrefix("." + name + marker) {
            tag = entry.dropFirst(1 + name.count + marker.count)
        }
        guard let parts = tag?.split(separator: "-", omittingEmptySubsequences: false), parts.count >= 3,
              let pid = pid_t(parts[parts.count - 2]), UInt32(parts[parts.count - 1]) != nil else { return nil }
        return (parts.dropLast(2).joined(separator: "-"), pid)
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

/// A complete, fsynced file under its temporary name (`AtomicFile.stage`). `publish()` renames it to
/// its target; if it is never published, it is removed when this object goes.
public final class StagedFile {
    public let path: String
    public let temporary: String
    private var settled = false

    init(path: String, temporary: String) {
        self.path = path
        self.temporary = temporary
    }

    /// Renames the file to its target and fsyncs the folder.
    public func publish() throws {
        precondition(!settled, "StagedFile \(path) published twice")
        settled = true
        guard rename(temporary, path) == 0 else {
            let failure = AtomicFile.failure(path, "rename from \(temporary)")
            unlink(temporary)
            throw failure
        }
        try AtomicFile.fsync(path: URL(fileURLWithPath: path).deletingLastPathComponent().path, directory: true)
    }

    deinit {
        if !settled { unlink(temporary) }
    }
}

/// Publishes staged files one after another.
public func publish(_ files: [StagedFile]) throws {
    for file in files { try file.publish() }
}
