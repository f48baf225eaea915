import Dispatch
import Foundation
import Synchronization
import Testing
import Tokenizer

@Suite struct ConcurrencyTests {
    /// Many threads encoding at once on one tokenizer (shared tables, pooled workspaces) give the ids of
    /// the serial run, every time.
    @Test func concurrentEncodesAgreeWithSerial() throws {
        let tokenizer = try Fixtures.demo()
        let texts = try Fixtures.cases().map(\.text)
        let expected = texts.map { tokenizer.encode($0, addBOS: true) }
        let failures = Mutex(0)
        DispatchQueue.concurrentPerform(iterations: 8) { worker in
            for round in 0..<4 {
                for (i, text) in texts.enumerated() where (i + worker + round) % 2 == 0 {
                    if tokenizer.encode(text, addBOS: true) != expected[i] { failures.withLock { $0 += 1 } }
                    if tokenizer.encodeWithOffsets(text, addBOS: true).ids != expected[i] { failures.withLock { $0 += 1 } }
                }
            }
        }
        #expect(failures.withLock { $0 } == 0)
    }
}
