import Foundation

/// StableToolBench's solvable test queries (`solvable_queries/test_instruction/G1_instruction.json`, ...),
/// which are never committed: tests that need them run when they are at ../shared/toolbench (or
/// STABLE_TOOLBENCH_QUERIES names the folder) and are skipped, saying so, when they are not.
public enum StableToolBenchQueries {
    public static let folder: String = {
        if let explicit = ProcessInfo.processInfo.environment["STABLE_TOOLBENCH_QUERIES"] { return explicit }
        let sibling = ToolTuneBinary.projectRoot
            .appendingPathComponent("../../shared/toolbench/StableToolBench/solvable_queries").standardized.path
        return FileManager.default.fileExists(atPath: sibling) ? sibling : "/work/shared/toolbench/StableToolBench/solvable_queries"
    }()

    /// The query file of a group, e.g. "G1_instruction".
    public static func file(_ group: String) -> String { folder + "/test_instruction/\(group).json" }

    public static var present: Bool { FileManager.default.fileExists(atPath: file("G1_instruction")) }

    public static let skipNote = "StableToolBench solvable queries not found (../shared/toolbench/StableToolBench/solvable_queries); set STABLE_TOOLBENCH_QUERIES"
}
