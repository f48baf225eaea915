/// A storage record of a torch.save pickle: the zip entry `data/<key>` holds `count` elements of `dtype`.
struct PickledStorage: Equatable {
    let key: String
    let dtype: TensorDType
    let count: Int
}

/// A tensor of a torch.save pickle: `_rebuild_tensor_v2(storage, offset, shape, strides, ...)`.
struct PickledTensor {
    let storage: PickledStorage
    let offset: Int
    let shape: [Int]
    let strides: [Int]
}

/// Reads the pickle of a PyTorch state dict (`torch.save(model.state_dict())`, pickle protocol 2) without
/// running anything: it is a small stack machine that knows only the opcodes such a pickle uses, and the
/// only globals it accepts are `collections.OrderedDict`, `torch._utils._rebuild_tensor_v2` and the
/// Float/Half/BFloat16 storage classes, which it interprets itself rather than calling. Any other global
/// (`posix.system`, `builtins.eval`, ...) or opcode is an error naming it and its byte offset. Every read is
/// bounded by the pickle's bytes.
///
/// Values nest at most `maximumDepth` levels (a state dict needs 3: the root dict, a tensor's arguments,
/// its shape), so no pickle can make the recursive release of a deep value overflow the stack. A dict
/// placed inside a tuple or another dict is complete from then on (pickle writes a container's items
/// before using it), so a depth, once computed, never changes and no value can contain itself.
struct RestrictedUnpickler {
    let bytes: UnsafeRawBufferPointer
    /// The checkpoint file and the zip entry, for errors.
    let file: String
    let entry: String

    private enum Global {
        case orderedDict, rebuildTensor, storage(TensorDType)
    }

    private static let allowedGlobals: [String: Global] = [
        "collections.OrderedDict": .orderedDict,
        "torch._utils._rebuild_tensor_v2": .rebuildTensor,
        "torch.FloatStorage": .storage(.float32),
        "torch.HalfStorage": .storage(.float16),
        "torch.BFloat16Storage": .storage(.bfloat16),
    ]

    /// Far above what a state dict needs (3), far below what could overflow a stack.
    static let maximumDepth = 32

    /// A dictionary is shared by reference, as in Python: the memo and the stack see the same one.
    private final class Dictionary {
        var items: [(key: String, value: Value)] = []
        /// 1 + the deepest item's depth.
        var depth = 1
        /// Placed inside a tuple or dict: no more items.
        var sealed = false
    }

    private indirect enum Value {
        case none, bool(Bool), int(Int), string(String), tuple([Value], depth: Int), dict(Dictionary), global(Global)
        case storage(PickledStorage), tensor(PickledTensor)

        /// Levels of tuples and dicts (a scalar has 0).
        var depth: Int {
            switch self {
            case .tuple(_, let depth): depth
            case .dict(let d): d.depth
            default: 0
            }
        }

        var kind: String {
            switch self {
            case .none: "None"
            case .bool: "a bool"
            case .int: "an int"
            case .string: "a string"
            case .tuple: "a tuple"
            case .dict: "a dict"
            case .global: "a class or function"
            case .storage: "a storage"
            case .tensor: "a tensor"
            }
        }
    }

    /// The state dict's entries in pickle order.
    func stateDict() throws -> [(name: String, tensor: PickledTensor)] {
        var position = 0
        var opcodeStart = 0
        var stack: [Value] = []
        var marks: [Int] = []
        var memo: [Int: Value] = [:]
        var storages: [String: PickledStorage] = [:]

        func fail(_ message: String) -> TensorFileError {
            TensorFileError(file: file, object: entry, "byte \(opcodeStart): \(message)")
        }
        func take(_ n: Int) throws -> UnsafeRawBufferPointer {
            guard n >= 0, n <= bytes.count - position else { throw fail("the pickle ends inside an opcode's argument") }
            defer { position += n }
            return UnsafeRawBufferPointer(rebasing: bytes[position..<(position + n)])
        }
        func unsigned(_ n: Int) throws -> Int {
            try take(n).reversed().reduce(0) { $0 << 8 | Int($1) }
        }
        func line() throws -> String {
            let limit = min(bytes.count, position + 256)
            guard let end = bytes[position..<limit].firstIndex(of: UInt8(ascii: "\n")) else {
                throw fail("GLOBAL name is not terminated within 256 bytes")
            }
            let text = String(decoding: try take(end - position), as: UTF8.self)
            position += 1
            return text
        }
        func pop() throws -> Value {
            guard let value = stack.popLast(), stack.count >= (marks.last ?? 0) else { throw fail("stack underflow") }
            return value
        }
        /// The depth of a container holding `items`, which are sealed from now on.
        func nest(_ items: [Value]) throws -> Int {
            let depth = 1 + (items.map(\.depth).max() ?? 0)
            guard depth <= RestrictedUnpickler.maximumDepth else {
                throw fail("tuples and dicts nested more than \(RestrictedUnpickler.maximumDepth) levels deep (a state dict needs 3)")
            }
            for case .dict(let d) in items { d.sealed = true }
            return depth
        }
        func tuple(_ items: [Value]) throws -> Value { .tuple(items, depth: try nest(items)) }
        func insert(_ items: [(key: String, value: Value)], into d: Dictionary, _ opcode: String) throws {
            guard !d.sealed else { throw fail("\(opcode) into a dict that is already inside another value") }
            d.depth = max(d.depth, try nest(items.map(\.value)))
            guard !d.sealed else { throw fail("\(opcode) puts a dict inside itself") }
            d.items += items
        }
        func popToMark() throws -> [Value] {
            guard let mark = marks.popLast() else { throw fail("no MARK to pop to") }
            defer { stack.removeSubrange(mark...) }
            return Array(stack[mark...])
        }
        func topDictionary(_ opcode: String) throws -> Dictionary {
            guard case .dict(let d)? = stack.last, stack.count > (marks.last ?? 0) else { throw fail("\(opcode) needs a dict below it") }
            return d
        }
        func key(_ value: Value) throws -> String {
            guard case .string(let s) = value else { throw fail("dictionary key is \(value.kind), not a string") }
            return s
        }
        func ints(_ value: Value, _ what: String) throws -> [Int] {
            guard case .tuple(let items, _) = value else { throw fail("\(what) is \(value.kind), not a tuple of ints") }
            return try items.map {
                guard case .int(let i) = $0 else { throw fail("\(what) holds \($0.kind), not an int") }
                return i
            }
        }

        while true {
            opcodeStart = position
            let opcode = try take(1)[0]
            switch opcode {
            case 0x80:  // PROTO
                let version = try take(1)[0]
                guard version <= 5 else { throw fail("pickle protocol \(version) is unknown") }
            case UInt8(ascii: "c"):  // GLOBAL
                let name = "\(try line()).\(try line())"
                guard let global = RestrictedUnpickler.allowedGlobals[name] else {
                    throw fail("global '\(name)' is not allowed: a state dict needs only "
                               + RestrictedUnpickler.allowedGlobals.keys.sorted().joined(separator: ", "))
                }
                stack.append(.global(global))
            case UInt8(ascii: "q"), UInt8(ascii: "r"):  // BINPUT, LONG_BINPUT
                let index = try unsigned(opcode == UInt8(ascii: "q") ? 1 : 4)
                guard let top = stack.last else { throw fail("BINPUT on an empty stack") }
                memo[index] = top
            case UInt8(ascii: "h"), UInt8(ascii: "j"):  // BINGET, LONG_BINGET
                let index = try unsigned(opcode == UInt8(ascii: "h") ? 1 : 4)
                guard let value = memo[index] else { throw fail("memo entry \(index) was never stored") }
                stack.append(value)
            case UInt8(ascii: "("): marks.append(stack.count)  // MARK
            case UInt8(ascii: ")"): stack.append(try tuple([]))  // EMPTY_TUPLE
            case UInt8(ascii: "t"): stack.append(try tuple(try popToMark()))  // TUPLE
            case 0x85, 0x86, 0x87:  // TUPLE1, TUPLE2, TUPLE3
                var items: [Value] = []
                for _ in 0..<Int(opcode - 0x84) { items.insert(try pop(), at: 0) }
                stack.append(try tuple(items))
            case UInt8(ascii: "X"):  // BINUNICODE
                let raw = try take(try unsigned(4))
                guard let text = String(validating: raw, as: UTF8.self) else { throw fail("string is not UTF-8") }
                stack.append(.string(text))
            case UInt8(ascii: "K"): stack.append(.int(try unsigned(1)))  // BININT1
            case UInt8(ascii: "M"): stack.append(.int(try unsigned(2)))  // BININT2
            case UInt8(ascii: "J"): stack.append(.int(Int(Int32(truncatingIfNeeded: try unsigned(4)))))  // BININT
            case 0x8A:  // LONG1: n little-endian two's complement bytes
                let n = Int(try take(1)[0])
                guard n <= 8 else { throw fail("integer of \(n) bytes is too large") }
                let raw = try take(n)
                var value = UInt64(0)
                for (i, byte) in raw.enumerated() { value |= UInt64(byte) << (8 * UInt64(i)) }
                if n > 0, n < 8, raw[n - 1] & 0x80 != 0 { value |= ~UInt64(0) << (8 * UInt64(n)) }
                stack.append(.int(Int(Int64(bitPattern: value))))
            case UInt8(ascii: "N"): stack.append(.none)
            case 0x88: stack.append(.bool(true))  // NEWTRUE
            case 0x89: stack.append(.bool(false))  // NEWFALSE
            case UInt8(ascii: "}"): stack.append(.dict(Dictionary()))  // EMPTY_DICT
            case UInt8(ascii: "s"):  // SETITEM
                let value = try pop(), k = try key(try pop())
                try insert([(k, value)], into: try topDictionary("SETITEM"), "SETITEM")
            case UInt8(ascii: "u"):  // SETITEMS
                let items = try popToMark()
                guard items.count % 2 == 0 else { throw fail("SETITEMS with an odd number of items") }
                let pairs = try stride(from: 0, to: items.count, by: 2).map { (key: try key(items[$0]), value: items[$0 + 1]) }
                try insert(pairs, into: try topDictionary("SETITEMS"), "SETITEMS")
            case UInt8(ascii: "b"):  // BUILD: OrderedDict's attributes (the state dict's _metadata); not needed
                let state = try pop()
                guard case .dict = state else { throw fail("BUILD with \(state.kind) as the state") }
                _ = try topDictionary("BUILD")
            case UInt8(ascii: "Q"):  // BINPERSID: ('storage', storage class, key, location, element count)
                let id = try pop()
                guard case .tuple(let fields, _) = id, fields.count == 5, case .string("storage") = fields[0],
                      case .global(.storage(let dtype)) = fields[1], case .string(let storageKey) = fields[2],
                      case .string = fields[3], case .int(let count) = fields[4], count >= 0 else {
                    throw fail("persistent id is not ('storage', <Float|Half|BFloat16>Storage, key, location, count)")
                }
                let storage = PickledStorage(key: storageKey, dtype: dtype, count: count)
                if let earlier = storages.updateValue(storage, forKey: storageKey), earlier != storage {
                    throw fail("storage '\(storageKey)' is described twice, differently")
                }
                stack.append(.storage(storage))
            case UInt8(ascii: "R"):  // REDUCE: only the two allowed callables, interpreted here
                let arguments = try pop(), callable = try pop()
                guard case .tuple(let args, _) = arguments else { throw fail("REDUCE arguments are \(arguments.kind)") }
                switch callable {
                case .global(.orderedDict) where args.isEmpty:
                    stack.append(.dict(Dictionary()))
                case .global(.rebuildTensor):
                    guard args.count == 6, case .storage(let storage) = args[0], case .int(let offset) = args[1],
                          case .bool = args[4], case .dict(let hooks) = args[5], hooks.items.isEmpty else {
                        throw fail("_rebuild_tensor_v2 arguments are not (storage, offset, size, stride, requires_grad, "
                                   + "empty backward hooks)")
                    }
                    stack.append(.tensor(PickledTensor(storage: storage, offset: offset, shape: try ints(args[2], "size"),
                                                       strides: try ints(args[3], "stride"))))
                default:
                    throw fail("REDUCE of \(callable.kind) with \(args.count) arguments is not allowed")
                }
            case UInt8(ascii: "."):  // STOP
                guard case .dict(let root) = try pop() else { throw fail("the pickle is not a dict") }
                var seen = Set<String>()
                return try root.items.map { item in
                    guard seen.insert(item.key).inserted else { throw fail("'\(item.key)' appears twice") }
                    guard case .tensor(let tensor) = item.value else {
                        throw fail("'\(item.key)' is \(item.value.kind), not a tensor")
                    }
                    return (item.key, tensor)
                }
            default:
                let name = RestrictedUnpickler.opcodeNames[opcode].map { "\($0) " } ?? ""
                throw fail("opcode \(name)(0x\(String(opcode, radix: 16, uppercase: true))) is not allowed in a state dict")
            }
        }
    }

    /// Pickle's opcode names (Python's pickletools), for errors.
    private static let opcodeNames: [UInt8: String] = {
        let table: [(Character, String)] = [
            ("(", "MARK"), (".", "STOP"), ("0", "POP"), ("1", "POP_MARK"), ("2", "DUP"), ("F", "FLOAT"), ("I", "INT"),
            ("J", "BININT"), ("K", "BININT1"), ("L", "LONG"), ("M", "BININT2"), ("N", "NONE"), ("P", "PERSID"),
            ("Q", "BINPERSID"), ("R", "REDUCE"), ("S", "STRING"), ("T", "BINSTRING"), ("U", "SHORT_BINSTRING"),
            ("V", "UNICODE"), ("X", "BINUNICODE"), ("a", "APPEND"), ("b", "BUILD"), ("c", "GLOBAL"), ("d", "DICT"),
            ("}", "EMPTY_DICT"), ("e", "APPENDS"), ("g", "GET"), ("h", "BINGET"), ("i", "INST"), ("j", "LONG_BINGET"),
            ("l", "LIST"), ("]", "EMPTY_LIST"), ("o", "OBJ"), ("p", "PUT"), ("q", "BINPUT"), ("r", "LONG_BINPUT"),
            ("s", "SETITEM"), ("t", "TUPLE"), (")", "EMPTY_TUPLE"), ("u", "SETITEMS"), ("G", "BINFLOAT"),
            ("B", "BINBYTES"), ("C", "SHORT_BINBYTES"),
        ]
        var names = Swift.Dictionary(uniqueKeysWithValues: table.map { ($0.0.asciiValue!, $0.1) })
        let high = ["PROTO", "NEWOBJ", "EXT1", "EXT2", "EXT4", "TUPLE1", "TUPLE2", "TUPLE3", "NEWTRUE", "NEWFALSE",
                    "LONG1", "LONG4", "SHORT_BINUNICODE", "BINUNICODE8", "BINBYTES8", "EMPTY_SET", "ADDITEMS",
                    "FROZENSET", "NEWOBJ_EX", "STACK_GLOBAL", "MEMOIZE", "FRAME", "BYTEARRAY8", "NEXT_BUFFER",
                    "READONLY_BUFFER"]
        for (i, name) in high.enumerated() { names[0x80 + UInt8(i)] = name }
        return names
    }()
}
