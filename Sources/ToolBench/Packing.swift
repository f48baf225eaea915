/// Packs whole examples into sequences of at most `capacity` tokens.
public enum Packing {
    /// Best-fit decreasing: examples from the longest down (ties: input order) each go into the open
    /// sequence with the least room that still holds them, or start a new one. Returns the sequences in
    /// the order they were opened, each listing its examples in the order they were placed.
    /// Every length must be in 1...capacity.
    public static func bestFitDecreasing(lengths: [Int], capacity: Int) -> [[Int]] {
        precondition(capacity > 0)
        let order = lengths.indices.sorted { lengths[$0] != lengths[$1] ? lengths[$0] > lengths[$1] : $0 < $1 }
        var sequences: [[Int]] = []
        var room: [Int] = []
        // Open sequences by free room; a bitset over room values finds the smallest room >= n quickly.
        var byRoom = [[Int]](repeating: [], count: capacity + 1)
        var occupied = [UInt64](repeating: 0, count: capacity / 64 + 1)
        func mark(_ r: Int) {
            if byRoom[r].isEmpty { occupied[r >> 6] &= ~(1 << UInt64(r & 63)) } else { occupied[r >> 6] |= 1 << UInt64(r & 63) }
        }
        func smallestRoom(atLeast n: Int) -> Int? {
            var word = n >> 6
            var bits = occupied[word] & (~0 << UInt64(n & 63))
            while true {
                if bits != 0 { return word * 64 + bits.trailingZeroBitCount }
                word += 1
                if word == occupied.count { return nil }
                bits = occupied[word]
            }
        }
        for example in order {
            let n = lengths[example]
            precondition(n >= 1 && n <= capacity, "example \(example) has \(n) tokens; capacity \(capacity)")
            if let r = smallestRoom(atLeast: n) {
                // Among sequences with the same room, the one that reached it last (any fixed rule
                // keeps the plan deterministic; this one is O(1)).
                let s = byRoom[r].removeLast()
                mark(r)
                sequences[s].append(example)
                room[s] = r - n
                byRoom[r - n].append(s)
                mark(r - n)
            } else {
                sequences.append([example])
                room.append(capacity - n)
                byRoom[capacity - n].append(sequences.count - 1)
                mark(capacity - n)
            }
        }
        return sequences
    }

    /// No packing: one example per sequence, in input order.
    public static func onePerSequence(count: Int) -> [[Int]] {
        (0..<count).map { [$0] }
    }
}
