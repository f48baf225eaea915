import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A file mapped read-only into memory. Pages are read from disk when first touched, so opening a large
/// checkpoint costs nothing until its tensors are read, and reading one costs no second copy. Every access
/// goes through `bytes(_:)`, which checks the range against the file's size.
///
/// The file must not be truncated while it is mapped (the kernel would then signal a bus error on access);
/// the loaders open, read and release a checkpoint in one go.
public final class MappedFile: @unchecked Sendable {
    public let path: String
    /// The file's size in bytes.
    public let count: Int
    private let base: UnsafeRawPointer?

    public init(_ path: String) throws {
        self.path = path
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw TensorFileError(file: path, "cannot open: \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw TensorFileError(file: path, "cannot stat: \(String(cString: strerror(errno)))") }
        guard (info.st_mode & S_IFMT) == S_IFREG else { throw TensorFileError(file: path, "not a regular file") }
        count = Int(info.st_size)
        if count == 0 {
            base = nil  // mmap refuses zero bytes; an empty file is reported by the format's own checks
            return
        }
        guard let address = mmap(nil, count, PROT_READ, MAP_PRIVATE, fd, 0), address != MAP_FAILED else {
            throw TensorFileError(file: path, "cannot map \(count) bytes: \(String(cString: strerror(errno)))")
        }
        base = UnsafeRawPointer(address)
    }

    deinit {
        if let base { munmap(UnsafeMutableRawPointer(mutating: base), count) }
    }

    /// The bytes in `range`, or an error naming `object` when the range is not inside the file.
    public func bytes(_ range: Range<Int>, object: String) throws -> UnsafeRawBufferPointer {
        guard range.lowerBound >= 0, range.upperBound <= count else {
            throw TensorFileError(file: path, object: object,
                                  "bytes \(range.lowerBound)..<\(range.upperBound) are outside the file (\(count) bytes)")
        }
        guard let base else { return UnsafeRawBufferPointer(start: nil, count: 0) }
        return UnsafeRawBufferPointer(start: base + range.lowerBound, count: range.count)
    }

    /// The little-endian integer at byte `offset`, checked against the file's size.
    public func integer<T: FixedWidthInteger>(at offset: Int, as type: T.Type, object: String) throws -> T {
        let size = MemoryLayout<T>.size
        guard offset >= 0, offset <= count - size else {
            throw TensorFileError(file: path, object: object, "\(size) bytes at offset \(offset) are outside the file (\(count) bytes)")
        }
        return T(littleEndian: try bytes(offset..<(offset + size), object: object).loadUnaligned(as: T.self))
    }

    /// Lets the kernel drop the pages of `range` from this process's resident memory (they are re-read from
    /// the page cache or disk if touched again), so reading a checkpoint tensor by tensor keeps only the
    /// destination buffers resident, not the whole file as well.
    public func release(_ range: Range<Int>) {
        guard let base, range.lowerBound >= 0, range.upperBound <= count else { return }
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        // Only whole pages inside the range: a page shared with a neighbouring tensor stays.
        let start = (range.lowerBound + page - 1) / page * page
        let end = range.upperBound / page * page
        guard end > start else { return }
        madvise(UnsafeMutableRawPointer(mutating: base + start), end - start, MADV_DONTNEED)
    }
}
