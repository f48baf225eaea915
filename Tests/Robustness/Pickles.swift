import Foundation
import TestSupport
import Testing

/// Hostile `pytorch_model.bin` pickles: nesting made by every opcode that builds a container, through
/// the memo (a DAG, chains of dicts filled after they were placed), a dict put inside itself. None may
/// crash (a 200,000-deep tuple once overflowed the stack when it was freed) or run anything.
enum HostilePickles {
    static func u32(_ v: Int) -> [UInt8] { withUnsafeBytes(of: UInt32(v).littleEndian) { Array($0) } }
    static func string(_ s: String) -> [UInt8] { [UInt8(ascii: "X")] + u32(s.utf8.count) + Array(s.utf8) }
    static func put(_ i: Int) -> [UInt8] { [UInt8(ascii: "r")] + u32(i) }
    static func get(_ i: Int) -> [UInt8] { [UInt8(ascii: "j")] + u32(i) }
    static let proto: [UInt8] = [0x80, 0x02]
    static let stop = UInt8(ascii: ".")

    /// Each pickle and what it exercises.
    static func pickles() -> [(name: String, bytes: [UInt8])] {
        var all: [(String, [UInt8])] = []
        for depth in [33, 1_000, 200_000] {
            all.append(("TUPLE1 chain x\(depth)", proto + [UInt8(ascii: "N")] + [UInt8](repeating: 0x85, count: depth) + [stop]))
            // Each level holds the previous one twice through the memo: a DAG of depth `depth`.
            var dag = proto + [UInt8(ascii: "N")] + put(0)
            for _ in 0..<depth { dag += get(0) + get(0) + [0x86] + put(0) }
            all.append(("TUPLE2 DAG through the memo x\(depth)", dag + [stop]))
            all.append(("MARK/TUPLE nesting x\(depth)", proto + [UInt8](repeating: UInt8(ascii: "("), count: depth) + [UInt8(ascii: "N")]
                        + [UInt8](repeating: UInt8(ascii: "t"), count: depth) + [stop]))
            // {"a": {"a": ...}} as pickle writes nested dicts: every dict opened, then SETITEMs inside out.
            var dicts = proto + [UInt8(ascii: "}")]
            for _ in 0..<depth { dicts += string("a") + [UInt8(ascii: "}")] }
            dicts += [UInt8](repeating: UInt8(ascii: "s"), count: depth)
            all.append(("nested dicts by SETITEM x\(depth)", dicts + [stop]))
            // The same with MARK ... SETITEMS.
            var marked = proto + [UInt8(ascii: "}")]
            for _ in 0..<depth { marked += [UInt8(ascii: "(")] + string("a") + [UInt8(ascii: "}")] }
            marked += [UInt8](repeating: UInt8(ascii: "u"), count: depth)
            all.append(("nested dicts by SETITEMS x\(depth)", marked + [stop]))
            // Memoized empty dicts chained after the fact: d[i]["a"] = d[i+1], each still empty when placed.
            var chain = proto
            for i in 0...depth { chain += [UInt8(ascii: "}")] + put(i) }
            for i in 0..<depth { chain += get(i) + string("a") + get(i + 1) + [UInt8(ascii: "s")] }
            all.append(("memo dict chain filled after placing x\(depth)", chain + [stop]))
        }
        all.append(("dict inside itself", proto + [UInt8(ascii: "}")] + put(0) + string("a") + get(0) + [UInt8(ascii: "s"), stop]))
        all.append(("dict inside a tuple inside itself", proto + [UInt8(ascii: "}")] + put(0) + string("a") + get(0) + [0x85]
                    + [UInt8(ascii: "s"), stop]))
        // A state dict whose tensor's shape is a deep tuple.
        var shape = proto + [UInt8(ascii: "}")] + string("model.decoder.embed_tokens.weight") + [UInt8(ascii: "K"), 1]
        shape += [UInt8](repeating: 0x85, count: 100_000) + [UInt8(ascii: "s"), stop]
        all.append(("deep value in a state dict", shape))
        all.append(("BUILD with a deep state", proto + [UInt8(ascii: "}"), UInt8(ascii: "}")] + string("a")
                    + [UInt8(ascii: "N")] + [UInt8](repeating: 0x85, count: 50_000) + [UInt8(ascii: "s"), UInt8(ascii: "b"), stop]))
        all.append(("a million MARKs", proto + [UInt8](repeating: UInt8(ascii: "("), count: 1_000_000) + [stop]))
        all.append(("a million empty tuples", proto + [UInt8](repeating: UInt8(ascii: ")"), count: 1_000_000) + [stop]))
        return all
    }

    static func cases() -> [HostileCase] {
        pickles().map { pickle in
            HostileCase(family: "deep-pickle", name: pickle.name, make: { folder in
                let hf = folder.appendingPathComponent("hf")
                try FileManager.default.createDirectory(at: hf, withIntermediateDirectories: true)
                try FileManager.default.copyItem(atPath: Inputs.hfBinFolder + "/config.json", toPath: hf.appendingPathComponent("config.json").path)
                let zip = ZipBuilder(entries: [("archive/data.pkl", pickle.bytes), ("archive/byteorder", Array("little".utf8))])
                try Data(zip.build()).write(to: hf.appendingPathComponent("pytorch_model.bin"))
                return ["import-hf", hf.path, "out.h5"]
            }, mentions: ["hf/pytorch_model.bin: archive/data.pkl: byte "])
        }
    }
}
