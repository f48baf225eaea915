import Foundation
import JSON

/// JSON values as Python holds them after `json.loads`, with the operations BFCL's checker applies to
/// them: `type()`, `==`, `in`, iteration and `len`/indexing. Python's rules differ from Swift's: 1 == 1.0
/// == True, strings compare by code point (no Unicode normalisation), `in` on a string is a substring
/// test, on a dict a key test. Operations Python refuses (`len(5)`) throw `PythonError`.
enum PythonValue {
    /// Python's `type(value).__name__` for a parsed JSON value.
    enum Kind: String, Sendable {
        case int, float, bool, str, list, dict, none = "NoneType"
    }

    static func kind(_ v: JSONValue) -> Kind {
        switch v {
        case .null: .none
        case .bool: .bool
        case .integer: .int
        case .float: .float
        case .string: .str
        case .array: .list
        case .object: .dict
        }
    }

    /// Python's `a == b`.
    static func equal(_ a: JSONValue, _ b: JSONValue) -> Bool {
        switch (a, b) {
        case (.null, .null): return true
        case (.string(let x), .string(let y)): return sameText(x, y)
        case (.array(let x), .array(let y)): return x.count == y.count && zip(x, y).allSatisfy { equal($0, $1) }
        case (.object(let x), .object(let y)):
            return x.count == y.count && x.pairs.allSatisfy { key, value in lookup(y, key).map { equal(value, $0) } ?? false }
        default:
            guard let u = number(a), let v = number(b) else { return false }
            return u == v
        }
    }

    /// A number as Python compares it: bools are 0 and 1, integers exact (as decimal text).
    enum Number: Equatable {
        case exact(String)
        case inexact(Double)

        static func == (l: Number, r: Number) -> Bool {
            switch (l, r) {
            case (.exact(let a), .exact(let b)): return a == b
            case (.inexact(let a), .inexact(let b)): return a == b
            case (.exact(let a), .inexact(let b)), (.inexact(let b), .exact(let a)):
                // An int equals a float only when the float is integral with exactly that value.
                guard b.isFinite, b == b.rounded(.towardZero) else { return false }
                return a == integerText(b)
            }
        }
    }

    static func number(_ v: JSONValue) -> Number? {
        switch v {
        case .bool(let b): .exact(b ? "1" : "0")
        case .integer(let text): .exact(canonicalInteger(text))
        case .float(let d): .inexact(d)
        default: nil
        }
    }

    /// An integer's decimal text without sign on zero or leading zeros.
    static func canonicalInteger(_ text: String) -> String {
        let negative = text.hasPrefix("-")
        let digits = text.drop { $0 == "-" || $0 == "+" }.drop { $0 == "0" }
        return digits.isEmpty ? "0" : (negative ? "-" : "") + digits
    }

    /// The exact decimal text of an integral double.
    static func integerText(_ d: Double) -> String {
        if abs(d) < 9.0e18 { return String(Int64(d)) }
        return canonicalInteger(String(format: "%.0f", d))
    }

    /// Python string equality: the same code points.
    static func sameText(_ a: String, _ b: String) -> Bool { a.unicodeScalars.elementsEqual(b.unicodeScalars) }

    /// `dict[key]` by code points.
    static func lookup(_ object: JSONObject, _ key: String) -> JSONValue? {
        object.pairs.first { sameText($0.0, key) }?.1
    }

    /// Python's `needle in haystack`.
    static func contains(_ haystack: JSONValue, _ needle: JSONValue) throws(PythonError) -> Bool {
        switch haystack {
        case .array(let items): return items.contains { equal($0, needle) }
        case .object(let object):
            switch needle {
            case .string(let key): return lookup(object, key) != nil
            case .array, .object: throw PythonError("unhashable type: '\(kind(needle).rawValue)'")
            default: return false  // JSON keys are strings
            }
        case .string(let text):
            guard case .string(let part) = needle else { throw PythonError("'in <string>' requires string as left operand") }
            return part.unicodeScalars.isEmpty || text.unicodeScalars.firstRange(of: part.unicodeScalars) != nil
        default:
            throw PythonError("argument of type '\(kind(haystack).rawValue)' is not iterable")
        }
    }

    /// What `for x in value` visits: list items, a string's characters, a dict's keys.
    static func iterate(_ value: JSONValue) throws(PythonError) -> [JSONValue] {
        switch value {
        case .array(let items): return items
        case .string(let text): return text.unicodeScalars.map { .string(String($0)) }
        case .object(let object): return object.keys.map { .string($0) }
        default: throw PythonError("'\(kind(value).rawValue)' object is not iterable")
        }
    }

    /// What `[value[i] for i in range(len(value))]` gives: list items, a string's characters; an empty dict
    /// gives nothing, a dict with keys raises KeyError (its keys are not 0, 1, ...).
    static func indexed(_ value: JSONValue) throws(PythonError) -> [JSONValue] {
        switch value {
        case .array, .string: return try iterate(value)
        case .object(let object):
            if object.count == 0 { return [] }
            throw PythonError("KeyError: 0")
        default: throw PythonError("object of type '\(kind(value).rawValue)' has no len()")
        }
    }

    /// `len(value)`.
    static func length(_ value: JSONValue) throws(PythonError) -> Int {
        switch value {
        case .array(let items): return items.count
        case .string(let text): return text.unicodeScalars.count
        case .object(let object): return object.count
        default: throw PythonError("object of type '\(kind(value).rawValue)' has no len()")
        }
    }

    /// `value[key]` for a dict (a list or string indexed by a string raises TypeError).
    static func item(_ value: JSONValue, _ key: String) throws(PythonError) -> JSONValue {
        guard case .object(let object) = value else { throw PythonError("'\(kind(value).rawValue)' object is not subscriptable by a string") }
        guard let found = lookup(object, key) else { throw PythonError("KeyError: '\(key)'") }
        return found
    }
}

/// Python would have raised here (BFCL's checker assumes well-formed data and crashes otherwise).
struct PythonError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
