import Foundation

/// ToolBench's own `data_example` (15 raw answer files -> 50 step examples), which is never committed:
/// tests that need it run when it is at ../shared/toolbench (or TOOLBENCH_DATA_EXAMPLE names the folder)
/// and are skipped, saying so, when it is not.
public enum ToolBenchDataExample {
    public static let folder: String = {
        if let explicit = ProcessInfo.processInfo.environment["TOOLBENCH_DATA_EXAMPLE"] { return explicit }
        let sibling = ToolTuneBinary.projectRoot.appendingPathComponent("../../shared/toolbench/ToolBench-data_example").standardized.path
        return FileManager.default.fileExists(atPath: sibling) ? sibling : "/work/shared/toolbench/ToolBench-data_example"
    }()
    /// The raw answer files (G1_answer, G2_answer, G3_answer).
    public static var answers: String { folder + "/answer" }
    public static var present: Bool { FileManager.default.fileExists(atPath: answers) }
    public static let skipNote = "ToolBench data_example not found (../shared/toolbench/ToolBench-data_example); set TOOLBENCH_DATA_EXAMPLE"
}
