import ArgumentParser

// Numeric options are declared with `parsing: .unconditional`, so that a negative value ("-5") is read as
// the value and refused here by name, rather than taken for an option ("Missing value for ...").

/// Usage errors (exit 64) for numeric options, each naming the option and what it holds.
enum OptionCheck {
    /// More threads than this is no machine's; OpenBLAS caps its own far lower.
    static let maximumThreads = 1024

    static func threads(_ value: Int?, _ name: String = "--threads") throws {
        guard let value else { return }
        guard (1...maximumThreads).contains(value) else {
            throw ValidationError("\(name) must be from 1 to \(maximumThreads), found \(value)")
        }
    }

    static func atLeast(_ minimum: Int, _ value: Int?, _ name: String) throws {
        if let value, value < minimum { throw ValidationError("\(name) must be at least \(minimum), found \(value)") }
    }

    /// A finite number that `accept` allows, described by `allowed` ("> 0", "in [0, 1]").
    static func number(_ value: Double?, _ name: String, _ allowed: String, _ accept: (Double) -> Bool) throws {
        guard let value else { return }
        guard value.isFinite, accept(value) else { throw ValidationError("\(name) must be a number \(allowed), found \(value)") }
    }

    static func atMost(_ maximum: Int, _ value: Int?, _ name: String) throws {
        if let value, value > maximum { throw ValidationError("\(name) must be at most \(maximum), found \(value)") }
    }

    /// Options whose product sizes what is made up front (`what`): at most `maximum` (worked out in
    /// floating point, so no product overflows).
    static func product(_ values: [Int], _ names: String, atMost maximum: Int, _ what: String) throws {
        let product = values.reduce(1.0) { $0 * Double($1) }
        guard product <= Double(maximum) else {
            throw ValidationError("\(names) must be at most \(maximum) \(what), found \(values.map(String.init).joined(separator: " x "))")
        }
    }
}
