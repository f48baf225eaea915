import Foundation
@testable import Reporting
import Testing

/// When the progress line is drawn, with a clock the test moves.
@Suite struct ProgressBarTests {
    final class Recorder {
        var now = Date(timeIntervalSince1970: 0)
        var lines: [String] = []
    }

    func bar(terminal: Bool, _ recorder: Recorder) -> ProgressBar {
        ProgressBar(label: "prepare train", terminal: terminal, clock: { recorder.now }, write: { recorder.lines.append($0) })
    }

    @Test func aLogGetsTenthsOnlyOfWorkThatTakesAWhile() {
        let quick = Recorder(), slow = Recorder()
        let a = bar(terminal: false, quick), b = bar(terminal: false, slow)
        for done in 1...100 {
            quick.now.addTimeInterval(0.05)  // 5 s in all: no lines
            a.update(done: done, total: 100, detail: "\(done) files")
            slow.now.addTimeInterval(1)  // 100 s in all: a line at each tenth from 10 s on
            b.update(done: done, total: 100, detail: "\(done) files")
        }
        #expect(quick.lines.isEmpty)
        #expect(slow.lines.count == 10, "\(slow.lines)")
        #expect(slow.lines.first == "prepare train [##......................] 10/100 (10 files) 10s, ETA 1m30s\n")
        #expect(slow.lines.last == "prepare train [########################] 100/100 (100 files) 1m40s, ETA 0s\n")
    }

    @Test func aTerminalIsRedrawnAtMostFiveTimesASecondAndAlwaysAtTheEnd() {
        let recorder = Recorder()
        let b = bar(terminal: true, recorder)
        for done in 1...100 {
            recorder.now.addTimeInterval(0.01)  // 1 s in all
            b.update(done: done, total: 100, detail: "")
        }
        b.finish()
        #expect(recorder.lines.count == 7, "\(recorder.lines)")  // 0 s, every 0.2 s, the last, the newline
        #expect(recorder.lines.allSatisfy { $0.hasPrefix("\r\u{1B}[K") || $0 == "\n" })
        #expect(recorder.lines.suffix(2) == ["\r\u{1B}[Kprepare train [########################] 100/100 () 1s, ETA 0s", "\n"])
    }
}
