import Foundation
import TestSupport
import Testing

/// Every family of hostile input, each case run as a user would run `tooltune` (the release binary
/// through TOOLTUNE_BIN) and checked by `check`: a clean refusal, nothing published, nothing left.
@Suite struct RobustnessTests {
    let scratch: URL
    init() throws { scratch = try makeTemporaryFolder("robustness") }

    @Test(arguments: DeepNesting.cases())
    func deepNesting(_ hostile: HostileCase) throws { try check(hostile, in: scratch) }

    @Test(arguments: HostilePickles.cases())
    func deepPickles(_ hostile: HostileCase) throws { try check(hostile, in: scratch) }

    @Test(arguments: HugeConfigs.cases())
    func hugeConfigs(_ hostile: HostileCase) throws { try check(hostile, in: scratch) }

    @Test(arguments: HostileSafetensors.cases())
    func safetensorsHeaders(_ hostile: HostileCase) throws { try check(hostile, in: scratch) }

    @Test(.enabled(if: FullDisk.unavailable == nil, "\(FullDisk.unavailable ?? "")"), arguments: FullDisk.cases())
    func fullDisk(_ hostile: HostileCase) throws { try check(hostile, in: scratch) }
}
