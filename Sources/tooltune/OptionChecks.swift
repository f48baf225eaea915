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
}
