/// The entries of a zip archive whose members are stored uncompressed, as `torch.save` writes them:
/// read from the central directory (zip64 records included), each entry's data located through its local
/// header. Every offset and size is checked against the file; compressed or encrypted entries are refused
/// (PyTorch never writes them, and reading them would need a decompressor and its own limits).
struct ZipArchive {
    struct Entry {
        let name: String
        /// The entry's bytes in the file.
        let data: Range<Int>
    }

    let file: MappedFile
    let entries: [Entry]
    private let index: [String: Int]

    private static let endSignature: UInt32 = 0x0605_4B50
    private static let zip64LocatorSignature: UInt32 = 0x0706_4B50
    private static let zip64EndSignature: UInt32 = 0x0606_4B50
    private static let centralSignature: UInt32 = 0x0201_4B50
    private static let localSignature: UInt32 = 0x0403_4B50

    init(_ file: MappedFile) throws {
        self.file = file
        func fail(_ object: String, _ message: String) -> TensorFileError {
            TensorFileError(file: file.path, object: object, message)
        }
        func u16(_ at: Int, _ what: String) throws -> Int { Int(try file.integer(at: at, as: UInt16.self, object: what)) }
        func u32(_ at: Int, _ what: String) throws -> Int { Int(try file.integer(at: at, as: UInt32.self, object: what)) }
        func u64(_ at: Int, _ what: String) throws -> Int {
            let value = try file.integer(at: at, as: UInt64.self, object: what)
            guard value <= UInt64(Int.max) else { throw fail(what, "size or offset \(value) is too large") }
            return Int(value)
        }

        // The end-of-central-directory record: 22 bytes plus a comment of up to 65535 bytes, at the very end.
        var end = -1
        var candidate = file.count - 22
        while candidate >= max(0, file.count - 22 - 0xFFFF) {
            if try file.integer(at: candidate, as: UInt32.self, object: "end of central directory") == ZipArchive.endSignature,
               try candidate + 22 + u16(candidate + 20, "end of central directory") == file.count {
                end = candidate
                break
            }
            candidate -= 1
        }
        guard end >= 0 else { throw fail("", "not a zip archive (no end-of-central-directory record)") }
        guard try u16(end + 4, "end of central directory") == 0, try u16(end + 6, "end of central directory") == 0 else {
            throw fail("", "multi-disk zip archives are not supported")
        }
        var count = try u16(end + 10, "end of central directory")
        var directorySize = try u32(end + 12, "end of central directory")
        var directoryOffset = try u32(end + 16, "end of central directory")
        // torch.save always adds the zip64 records; their counts replace the 16/32-bit ones.
        if end >= 20, try file.integer(at: end - 20, as: UInt32.self, object: "zip64 locator") == ZipArchive.zip64LocatorSignature {
            let record = try u64(end - 12, "zip64 locator")
            guard try file.integer(at: record, as: UInt32.self, object: "zip64 end of central directory") == ZipArchive.zip64EndSignature else {
                throw fail("zip64 end of central directory", "no record at offset \(record)")
            }
            count = try u64(record + 32, "zip64 end of central directory")
            directorySize = try u64(record + 40, "zip64 end of central directory")
            directoryOffset = try u64(record + 48, "zip64 end of central directory")
        }
        let (directoryEnd, overflow) = directoryOffset.addingReportingOverflow(directorySize)
        guard !overflow, directoryEnd <= file.count else {
            throw fail("central directory", "bytes \(directoryOffset)..<\(directoryOffset &+ directorySize) are outside the file (\(file.count) bytes)")
        }

        var entries: [Entry] = []
        var position = directoryOffset
        for _ in 0..<count {
            guard position + 46 <= directoryEnd,
                  try file.integer(at: position, as: UInt32.self, object: "central directory") == ZipArchive.centralSignature else {
                throw fail("central directory", "entry \(entries.count + 1) of \(count) is missing or damaged (offset \(position))")
            }
            let flags = try u16(position + 8, "central directory")
            let method = try u16(position + 10, "central directory")
            var compressedSize = try u32(position + 20, "central directory")
            var size = try u32(position + 24, "central directory")
            let nameLength = try u16(position + 28, "central directory")
            let extraLength = try u16(position + 30, "central directory")
            let commentLength = try u16(position + 32, "central directory")
            var localOffset = try u32(position + 42, "central directory")
            let next = position + 46 + nameLength + extraLength + commentLength
            guard next <= directoryEnd else { throw fail("central directory", "entry \(entries.count + 1) runs past the directory's end") }
            let name = String(decoding: try file.bytes((position + 46)..<(position + 46 + nameLength), object: "central directory"),
                              as: UTF8.self)
            // Zip64 extended information (id 1): 64-bit values for the fields saturated at 0xFFFFFFFF, in order.
            var extra = position + 46 + nameLength
            let extraEnd = extra + extraLength
            while extra + 4 <= extraEnd {
                let id = try u16(extra, name), length = try u16(extra + 2, name)
                guard extra + 4 + length <= extraEnd else { throw fail(name, "extra field runs past its entry") }
                if id == 1 {
                    var field = extra + 4
                    func next64() throws -> Int {
                        guard field + 8 <= extra + 4 + length else { throw fail(name, "zip64 extra field is too short") }
                        defer { field += 8 }
                        return try u64(field, name)
                    }
                    if size == 0xFFFF_FFFF { size = try next64() }
                    if compressedSize == 0xFFFF_FFFF { compressedSize = try next64() }
                    if localOffset == 0xFFFF_FFFF { localOffset = try next64() }
                }
                extra += 4 + length
            }
            if flags & 1 != 0 { throw fail(name, "entry is encrypted") }
            guard method == 0 else {
                throw fail(name, "entry is compressed (zip method \(method)\(method == 8 ? ", deflate" : "")); "
                           + "torch.save stores entries uncompressed, so this file was rewritten by another tool")
            }
            guard compressedSize == size else {
                throw fail(name, "stored entry has compressed size \(compressedSize) but size \(size)")
            }
            guard try file.integer(at: localOffset, as: UInt32.self, object: name) == ZipArchive.localSignature else {
                throw fail(name, "no local header at offset \(localOffset)")
            }
            let localName = try u16(localOffset + 26, name), localExtra = try u16(localOffset + 28, name)
            let nameBytes = try file.bytes((localOffset + 30)..<(localOffset + 30 + localName), object: name)
            guard String(decoding: nameBytes, as: UTF8.self) == name else {
                throw fail(name, "local header names a different entry")
            }
            let start = localOffset + 30 + localName + localExtra
            let (stop, over) = start.addingReportingOverflow(size)
            guard !over, stop <= directoryOffset else {
                throw fail(name, "data (\(size) bytes at offset \(start)) runs past the start of the central directory (\(directoryOffset))")
            }
            entries.append(Entry(name: name, data: start..<stop))
            position = next
        }
        var index: [String: Int] = [:]
        for (i, entry) in entries.enumerated() {
            guard index.updateValue(i, forKey: entry.name) == nil else { throw fail(entry.name, "entry appears twice") }
        }
        self.entries = entries
        self.index = index
    }

    subscript(name: String) -> Entry? { index[name].map { entries[$0] } }
}
