/// A torch.save-style zip archive with stored entries, built byte by byte, optionally with zip64 records
/// and zip64 extra fields in place of every size and offset (as PyTorch writes archives over 4 GB).
public struct ZipBuilder {
    public var entries: [(name: String, data: [UInt8])]
    public var zip64 = false
    public var flags: UInt16 = 0
    public var method: UInt16 = 0

    public init(entries: [(name: String, data: [UInt8])], zip64: Bool = false, flags: UInt16 = 0, method: UInt16 = 0) {
        self.entries = entries
        self.zip64 = zip64
        self.flags = flags
        self.method = method
    }

    public func build() -> [UInt8] {
        var out: [UInt8] = [], central: [UInt8] = []
        func le<T: FixedWidthInteger>(_ value: T, into bytes: inout [UInt8]) {
            withUnsafeBytes(of: value.littleEndian) { bytes += $0 }
        }
        let saturated: UInt32 = 0xFFFF_FFFF
        for (name, data) in entries {
            let offset = out.count
            for v in [UInt32(0x0403_4B50)] { le(v, into: &out) }
            for v: UInt16 in [20, flags, method, 0, 0] { le(v, into: &out) }
            for v: UInt32 in [0, UInt32(data.count), UInt32(data.count)] { le(v, into: &out) }
            for v: UInt16 in [UInt16(name.utf8.count), 0] { le(v, into: &out) }
            out += Array(name.utf8) + data

            le(UInt32(0x0201_4B50), into: &central)
            for v: UInt16 in [45, 45, flags, method, 0, 0] { le(v, into: &central) }
            le(UInt32(0), into: &central)  // crc (not checked)
            for v in [UInt32(data.count), UInt32(data.count)] { le(zip64 ? saturated : v, into: &central) }
            for v: UInt16 in [UInt16(name.utf8.count), zip64 ? 28 : 0, 0, 0, 0] { le(v, into: &central) }
            le(UInt32(0), into: &central)
            le(zip64 ? saturated : UInt32(offset), into: &central)
            central += Array(name.utf8)
            if zip64 {
                for v: UInt16 in [1, 24] { le(v, into: &central) }
                for v in [UInt64(data.count), UInt64(data.count), UInt64(offset)] { le(v, into: &central) }
            }
        }
        let directoryOffset = out.count
        out += central
        if zip64 {
            let record = out.count
            le(UInt32(0x0606_4B50), into: &out)
            le(UInt64(44), into: &out)
            for v: UInt16 in [45, 45] { le(v, into: &out) }
            for v: UInt32 in [0, 0] { le(v, into: &out) }
            for v in [UInt64(entries.count), UInt64(entries.count), UInt64(central.count), UInt64(directoryOffset)] { le(v, into: &out) }
            le(UInt32(0x0706_4B50), into: &out)
            le(UInt32(0), into: &out)
            le(UInt64(record), into: &out)
            le(UInt32(1), into: &out)
        }
        le(UInt32(0x0605_4B50), into: &out)
        for v: UInt16 in [0, 0, UInt16(entries.count), UInt16(entries.count)] { le(v, into: &out) }
        le(zip64 ? saturated : UInt32(central.count), into: &out)
        le(zip64 ? saturated : UInt32(directoryOffset), into: &out)
        le(UInt16(0), into: &out)
        return out
    }
}
