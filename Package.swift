// swift-tools-version:6.0
import PackageDescription

// The native libraries come from the system through pkg-config (Debian names: the "-serial" HDF5 and
// "ompi-c" avoid the alternatives-managed aliases that flip between implementations); oneDNN has no
// pkg-config file, its module map links it.
let package = Package(
    name: "ToolTune",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "tooltune", targets: ["tooltune"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.0.0"),
    ],
    targets: [
        .systemLibrary(name: "CMPI", pkgConfig: "ompi-c",
                       providers: [.apt(["libopenmpi-dev", "openmpi-bin"])]),
        .systemLibrary(name: "COpenBLAS", pkgConfig: "openblas",
                       providers: [.apt(["libopenblas-dev"])]),
        .systemLibrary(name: "CHDF5", pkgConfig: "hdf5-serial",
                       providers: [.apt(["libhdf5-dev"])]),
        .systemLibrary(name: "CDNNL", providers: [.apt(["libdnnl-dev"])]),

        .target(name: "JSON"),
        .target(name: "Kernels", dependencies: ["COpenBLAS", "CDNNL"]),
        .target(name: "Distributed", dependencies: ["CMPI", "Kernels"]),
        .target(name: "Storage", dependencies: ["CHDF5", "JSON", "Kernels"]),
        .target(name: "OPT", dependencies: ["Kernels"]),
        .target(name: "Tokenizer", dependencies: ["JSON"]),
        .target(name: "ToolBench", dependencies: ["JSON"]),
        .target(name: "Reporting"),
        // The job file: its schema, read from text alone.
        .target(name: "Job", dependencies: ["OPT", "Kernels", "ToolBench", "Distributed", .product(name: "Yams", package: "Yams")]),
        // Model files shared with other tools: ToolTune's /model, Hugging Face folders.
        .target(name: "Interop", dependencies: ["OPT", "Storage", "Tokenizer", "JSON", "Reporting",
                                                .product(name: "Yams", package: "Yams")]),
        // A job checked against the files it names (validate, prepare, train, eval).
        .target(name: "Preflight", dependencies: ["Job", "Interop", "OPT", "Storage"]),
        .target(name: "Data", dependencies: ["Job", "ToolBench", "Tokenizer", "Storage", "Kernels", "Reporting"]),
        .target(name: "Training", dependencies: [
            "Job", "Data", "Interop", "OPT", "Distributed", "Storage", "Kernels", "Tokenizer", "Reporting",
        ]),
        .target(name: "Evaluation", dependencies: [
            "Job", "Data", "Interop", "Reporting", "OPT", "Distributed", "Storage", "Kernels", "ToolBench", "Tokenizer", "JSON",
        ]),
        .target(name: "Diagnostics", dependencies: ["Training", "Job", "Interop", "Reporting", "OPT", "Distributed", "Storage",
                                                    "Kernels"]),
        .executableTarget(name: "tooltune", dependencies: [
            "Preflight", "Job", "Data", "Interop", "Training", "Evaluation", "Diagnostics", "Distributed", "Storage",
            "Kernels", "Tokenizer", "ToolBench", "JSON", "Reporting",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),

        .target(name: "TestSupport", dependencies: ["Storage"], path: "Tests/TestSupport"),
        .testTarget(name: "JSONTests", dependencies: ["JSON"]),
        .testTarget(name: "KernelsTests", dependencies: ["Kernels"]),
        .testTarget(name: "ToolBenchTests", dependencies: ["ToolBench", "JSON", "Tokenizer", "Data", "TestSupport"]),
        .testTarget(name: "StorageTests", dependencies: ["Storage", "Kernels", "TestSupport"]),
        .testTarget(name: "DistributedTests", dependencies: ["Distributed", "Diagnostics", "TestSupport"]),
        .testTarget(name: "TokenizerTests", dependencies: ["Tokenizer", "TestSupport"]),
        .testTarget(name: "ReportingTests", dependencies: ["Reporting"]),
        .testTarget(name: "JobTests", dependencies: ["Job", "Preflight", "OPT", "Kernels", "Distributed", "TestSupport"]),
        .testTarget(name: "DataTests", dependencies: ["Data", "Job", "Preflight", "Storage", "ToolBench", "Tokenizer", "Kernels",
                                                      "TestSupport"]),
        .testTarget(name: "InteropTests", dependencies: ["Interop", "OPT", "Kernels", "Storage", "Tokenizer", "TestSupport"]),
        .testTarget(name: "TrainingTests", dependencies: ["Training", "Job", "Interop", "OPT", "Kernels", "Storage", "ToolBench", "Tokenizer",
                                                          "Diagnostics", "TestSupport"]),
        .testTarget(name: "DiagnosticsTests", dependencies: ["Diagnostics", "OPT", "Kernels", "Storage", "TestSupport"]),
        .testTarget(name: "RobustnessTests", dependencies: ["Storage", "TestSupport"], path: "Tests/Robustness"),
        .testTarget(name: "OPTTests", dependencies: ["OPT", "Kernels", "Storage", "Interop"]),
        .testTarget(name: "EvaluationTests", dependencies: ["Evaluation", "JSON", "OPT", "ToolBench", "Tokenizer", "Preflight",
                                                            "Job", "Interop", "Storage", "TestSupport"]),
    ]
)
