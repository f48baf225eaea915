import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Tokenized examples (token ids and a loss mask each) kept on disk instead of in memory while a
/// dataset is prepared: appended in input order, read back by index in any order. The file has no
/// name (O_TMPFILE, or unlinked as soon as it is made), so nothing is left behind however the process
/// ends. Reads and writes go through the page cache with pread/pwrite, not a mapping, so the examples
/// never count in the process's memory.
public final class ExampleSpill {
    /// The folder the file lives in (for errors; it takes as much space as the prepared dataset).
    public let folder: String
    private let fd: Int32
    /// Byte offset of each example; example i is tokens (4 bytes each) then mask (1 byte each).
    private var offsets: [Int64] = [0]
    private var lengths: [Int32] = []
    private var buffer: [UInt8] = []
    /// Bytes in the file (the buffer goes after them).
    private var flushed: Int64 = 0
    private static let bufferSize = 1 << 20
    /// Linux's O_TMPFILE (__O_TMPFILE | O_DIRECTORY), a macro Swift does not import.
    private static let temporaryFile: Int32 = 0o20000000 | O_DIRECTORY

    public var count: Int { lengths.count }

    /// An empty spill in `folder` (which must exist).
    public init(folder: String) throws {
        self.folder = folder
        var fd = open(folder, O_RDWR | Self.temporaryFile | O_CLOEXEC, 0o600)
        if fd < 0 {
            // File systems without O_TMPFILE: a named file, unlinked at once.
            let path = folder + "/.spill-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
            fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
            if fd >= 0 { unlink(path) }
        }
        guard fd >= 0 else { throw Self.failure(folder, "cannot make a temporary file for the examples") }
        self.fd = fd
    }

    deinit { close(fd) }

    /// Appends an example; returns its index.
    @discardableResult
    public func append(tokens: [Int32], lossMask: [UInt8]) throws -> Int {
        precondition(tokens.count == lossMask.count, "ExampleSpill: \(tokens.count) tokens, \(lossMask.count) mask values")
        tokens.withUnsafeBytes { buffer.append(contentsOf: $0) }
        buffer.append(contentsOf: lossMask)
        offsets.append(offsets.last! + Int64(tokens.count * 5))
        lengths.append(Int32(tokens.count))
        if buffer.count >= Self.bufferSize { try flush() }
        return lengths.count - 1
    }

    /// Tokens of example `index`.
    public func length(_ index: Int) -> Int { Int(lengths[index]) }

    /// Example `index` as it was appended.
    public func read(_ index: Int) throws -> (tokens: [Int32], lossMask: [UInt8]) {
        if !buffer.isEmpty { try flush() }
        let n = Int(lengths[index])
        var tokens = [Int32](repeating: 0, count: n)
        var mask = [UInt8](repeating: 0, count: n)
        try tokens.withUnsafeMutableBytes { try readFully($0, at: offsets[index]) }
        try mask.withUnsafeMutableBytes { try readFully($0, at: offsets[index] + Int64(4 * n)) }
        return (tokens, mask)
    }

    private func flush() throws {
        try buffer.withUnsafeBytes { bytes in
            var done = 0
            while done < bytes.count {
                let n = pwrite(fd, bytes.baseAddress! + done, bytes.count - done, off_t(flushed) + off_t(done))
                if n < 0 && errno == EINTR { continue }
                guard n > 0 else { throw Self.failure(folder, "cannot write the temporary examples file") }
                done += n
            }
        }
        flushed += Int64(buffer.count)
        buffer.removeAll(keepingCapacity: true)
    }

    private func readFully(_ bytes: UnsafeMutableRawBufferPointer, at offset: Int64) throws {
        var done = 0
        while done < bytes.count {
            let n = pread(fd, bytes.baseAddress! + done, bytes.count - done, off_t(offset) + off_t(done))
            if n < 0 && errno == EINTR { continue }
            if n == 0 { errno = EIO }
            guard n > 0 else { throw Self.failure(folder, "cannot read the temporary examples file back") }
            done += n
        }
    }

    static func failure(_ folder: String, _ what: String) -> AtomicFile.Failure {
        AtomicFile.Failure(path: folder, message: "\(what): \(String(cString: strerror(errno)))")
    }
}
