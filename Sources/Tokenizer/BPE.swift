import Synchronization

/// The merges of merges.txt keyed by the pair of token ids they join: rank (line order, 0 = first merge)
/// and the id of the joined token. Open addressing with linear probing; filled by the tokenizer's init,
/// read-only afterwards (so sharing it between threads is safe).
final class MergeTable: @unchecked Sendable {
    static let none = UInt64.max
    private let keys: UnsafeMutablePointer<UInt64>
    private let values: UnsafeMutablePointer<UInt64>
    private let mask: Int
    private let shift: UInt64

    init(capacityFor count: Int) {
        var slots = 16
        while slots < 2 * count { slots *= 2 }
        keys = .allocate(capacity: slots)
        keys.initialize(repeating: Self.none, count: slots)
        values = .allocate(capacity: slots)
        values.initialize(repeating: 0, count: slots)
        mask = slots - 1
        shift = UInt64(64 - slots.trailingZeroBitCount)
    }

    deinit {
        keys.deallocate()
        values.deallocate()
    }

    @inline(__always) private func slot(_ key: UInt64) -> Int { Int(truncatingIfNeeded: (key &* 0x9E37_79B9_7F4A_7C15) >> shift) }

    /// A later merge of the same pair replaces the earlier one, as in Hugging Face `tokenizers`.
    func insert(_ a: Int32, _ b: Int32, rank: Int32, merged: Int32) {
        let key = UInt64(UInt32(bitPattern: a)) << 32 | UInt64(UInt32(bitPattern: b))
        var i = slot(key)
        while keys[i] != Self.none && keys[i] != key { i = (i + 1) & mask }
        keys[i] = key
        values[i] = UInt64(UInt32(bitPattern: rank)) << 32 | UInt64(UInt32(bitPattern: merged))
    }

    /// `rank << 32 | merged id`, or `MergeTable.none` when the pair does not merge.
    @inline(__always)
    func lookup(_ a: Int32, _ b: Int32) -> UInt64 {
        let key = UInt64(UInt32(bitPattern: a)) << 32 | UInt64(UInt32(bitPattern: b))
        var i = slot(key)
        while true {
            let k = keys[i]
            if k == key { return values[i] }
            if k == Self.none { return Self.none }
            i = (i + 1) & mask
        }
    }
}

/// A growable buffer of trivial values with no bounds checks (callers stay in range).
struct RawBuffer<Element: BitwiseCopyable> {
    private(set) var base: UnsafeMutablePointer<Element>
    private(set) var capacity: Int
    var count = 0

    init(capacity: Int) {
        self.capacity = max(capacity, 16)
        base = .allocate(capacity: self.capacity)
    }

    func free() { base.deallocate() }

    mutating func reserve(_ total: Int) {
        guard total > capacity else { return }
        var newCapacity = capacity
        while newCapacity < total { newCapacity *= 2 }
        let grown = UnsafeMutablePointer<Element>.allocate(capacity: newCapacity)
        grown.update(from: base, count: count)
        base.deallocate()
        base = grown
        capacity = newCapacity
    }

    mutating func append(_ source: UnsafePointer<Element>, count n: Int) {
        reserve(count + n)
        (base + count).update(from: source, count: n)
        count += n
    }
}

/// Everything one encode call needs to itself: the piece cache (piece bytes -> token ids) and the
/// scratch buffers of the merge. The tokenizer keeps a pool of them, so concurrent encodes never share
/// one and a thread's later calls reuse a warm cache.
final class Workspace: @unchecked Sendable {
    // Merge scratch, one entry per symbol of the piece (symbol k starts as byte k).
    private var symbols = RawBuffer<Int32>(capacity: 256)
    private var next = RawBuffer<Int32>(capacity: 256)
    private var previous = RawBuffer<Int32>(capacity: 256)
    private var heap = RawBuffer<UInt64>(capacity: 768)
    private(set) var output = RawBuffer<Int32>(capacity: 256)

    // Piece cache: open addressing over entries; keys and ids live in two arenas.
    private struct Entry {
        var hash: UInt64
        var keyStart: Int32
        var keyLength: Int32
        var idStart: Int32
        var idCount: Int32
    }
    private static let slotCount = 1 << 16
    private static let maxEntries = slotCount / 2
    private static let maxCachedPiece = 256
    private let slots: UnsafeMutablePointer<Int32>
    private var entries = RawBuffer<Entry>(capacity: maxEntries)
    private var keyArena = RawBuffer<UInt8>(capacity: 1 << 18)
    private var idArena = RawBuffer<Int32>(capacity: 1 << 16)

    init() {
        slots = .allocate(capacity: Self.slotCount)
        slots.initialize(repeating: -1, count: Self.slotCount)
    }

    deinit {
        for buffer in [symbols, next, previous, output, idArena] { buffer.free() }
        heap.free()
        entries.free()
        keyArena.free()
        slots.deallocate()
    }

    /// The token ids of one pre-tokenized piece (at least two bytes), cached. Valid until the next call.
    @inline(__always)
    func tokens(of piece: UnsafePointer<UInt8>, count n: Int, byteIDs: UnsafePointer<Int32>,
                merges: MergeTable) -> UnsafeBufferPointer<Int32> {
        guard n <= Self.maxCachedPiece else {
            merge(piece, count: n, byteIDs: byteIDs, merges: merges)
            return UnsafeBufferPointer(start: output.base, count: output.count)
        }
        // FNV-1a, then a multiplicative mix for the slot index.
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for i in 0..<n { hash = (hash ^ UInt64(piece[i])) &* 0x100_0000_01b3 }
        let mask = Self.slotCount - 1
        var slot = Int(truncatingIfNeeded: (hash &* 0x9E37_79B9_7F4A_7C15) >> 48) & mask
        while true {
            let index = Int(slots[slot])
            if index < 0 { break }
            let e = entries.base[index]
            if e.hash == hash && Int(e.keyLength) == n && equalBytes(keyArena.base + Int(e.keyStart), piece, n) {
                return UnsafeBufferPointer(start: idArena.base + Int(e.idStart), count: Int(e.idCount))
            }
            slot = (slot + 1) & mask
        }
        merge(piece, count: n, byteIDs: byteIDs, merges: merges)
        if entries.count == Self.maxEntries {
            // Full: start over rather than track recency (pieces repeat within a document, and a
            // document's pieces refill the cache quickly).
            slots.update(repeating: -1, count: Self.slotCount)
            entries.count = 0
            keyArena.count = 0
            idArena.count = 0
            slot = Int(truncatingIfNeeded: (hash &* 0x9E37_79B9_7F4A_7C15) >> 48) & mask
            while slots[slot] >= 0 { slot = (slot + 1) & mask }
        }
        var entry = Entry(hash: hash, keyStart: Int32(keyArena.count), keyLength: Int32(n),
                          idStart: Int32(idArena.count), idCount: Int32(output.count))
        keyArena.append(piece, count: n)
        idArena.append(output.base, count: output.count)
        withUnsafeMutablePointer(to: &entry) { entries.append($0, count: 1) }
        slots[slot] = Int32(entries.count - 1)
        return UnsafeBufferPointer(start: idArena.base + Int(entry.idStart), count: Int(entry.idCount))
    }

    @inline(__always)
    private func equalBytes(_ a: UnsafePointer<UInt8>, _ b: UnsafePointer<UInt8>, _ n: Int) -> Bool {
        for i in 0..<n where a[i] != b[i] { return false }
        return true
    }

    /// Byte-pair merging of one piece into `output`, in O(n log n): the symbols form a linked list and a
    /// min-heap holds the candidate pairs keyed by (rank, position), so the lowest-ranked pair is merged
    /// first and, among equal ranks, the leftmost (the order of Hugging Face `tokenizers`; it equals
    /// GPT-2's "merge every occurrence of the best pair" loop for merges.txt files, whose merged tokens
    /// only take part in later merges). Stale heap entries (a side already merged away) are skipped.
    private func merge(_ piece: UnsafePointer<UInt8>, count n: Int, byteIDs: UnsafePointer<Int32>, merges: MergeTable) {
        symbols.reserve(n)
        next.reserve(n)
        previous.reserve(n)
        heap.reserve(3 * n)
        let sym = symbols.base, nxt = next.base, prv = previous.base
        for k in 0..<n {
            sym[k] = byteIDs[Int(piece[k])]
            nxt[k] = Int32(k + 1)
            prv[k] = Int32(k - 1)
        }
        nxt[n - 1] = -1
        heap.count = 0
        for k in 0..<(n - 1) {
            let m = merges.lookup(sym[k], sym[k + 1])
            if m != MergeTable.none { push(m & 0xFFFF_FFFF_0000_0000 | UInt64(k)) }
        }
        while heap.count > 0 {
            let top = pop()
            let pos = Int(top & 0xFFFF_FFFF)
            let right = Int(nxt[pos])
            if sym[pos] < 0 || right < 0 { continue }
            let m = merges.lookup(sym[pos], sym[right])
            if m == MergeTable.none || m >> 32 != top >> 32 { continue }
            sym[pos] = Int32(truncatingIfNeeded: m)
            sym[right] = -1
            let after = nxt[right]
            nxt[pos] = after
            if after >= 0 { prv[Int(after)] = Int32(pos) }
            let before = prv[pos]
            if before >= 0 {
                let left = merges.lookup(sym[Int(before)], sym[pos])
                if left != MergeTable.none { push(left & 0xFFFF_FFFF_0000_0000 | UInt64(before)) }
            }
            if after >= 0 {
                let rightPair = merges.lookup(sym[pos], sym[Int(after)])
                if rightPair != MergeTable.none { push(rightPair & 0xFFFF_FFFF_0000_0000 | UInt64(pos)) }
            }
        }
        output.reserve(n)
        output.count = 0
        var k: Int32 = 0
        while k >= 0 {
            output.base[output.count] = sym[Int(k)]
            output.count += 1
            k = nxt[Int(k)]
        }
    }

    @inline(__always)
    private func push(_ key: UInt64) {
        let h = heap.base
        var i = heap.count
        heap.count += 1
        while i > 0 {
            let parent = (i - 1) / 2
            if h[parent] <= key { break }
            h[i] = h[parent]
            i = parent
        }
        h[i] = key
    }

    @inline(__always)
    private func pop() -> UInt64 {
        let h = heap.base
        let top = h[0]
        heap.count -= 1
        let last = h[heap.count]
        let count = heap.count
        var i = 0
        while true {
            var child = 2 * i + 1
            if child >= count { break }
            if child + 1 < count && h[child + 1] < h[child] { child += 1 }
            if last <= h[child] { break }
            h[i] = h[child]
            i = child
        }
        if count > 0 { h[i] = last }
        return top
    }
}

/// Workspaces waiting for an encode call. A call takes one (or makes one) and gives it back, so the lock
/// is taken twice per call, never per piece.
final class WorkspacePool: Sendable {
    private let idle = Mutex<[Workspace]>([])
    private static let maxIdle = 64

    func take() -> Workspace {
        idle.withLock { $0.popLast() } ?? Workspace()
    }

    func give(_ workspace: Workspace) {
        idle.withLock { if $0.count < Self.maxIdle { $0.append(workspace) } }
    }
}
