import CKernels
import Foundation
import Testing
@testable import BertCheck

@Suite struct WorkerPoolTests {
    /// Runs `onPool` and `parallelChunks` `rounds` times and checks every item ran exactly once
    /// (and `onPool`'s worker numbers stayed below min(workers, count)).
    func checkEveryItemRunsOnce(count: Int, workers: Int, rounds: Int) -> Bool {
        // hits[count] counts worker numbers out of range.
        let hits = UnsafeMutablePointer<Int>.allocate(capacity: count + 1)
        defer { hits.deallocate() }
        var ok = true
        for round in 0..<rounds {
            hits.initialize(repeating: 0, count: count + 1)
            if round % 2 == 0 {
                onPool(count, workers: workers) { item, worker in
                    if !(0..<min(workers, count)).contains(worker) { _ = bc_fetch_add(hits + count, 1) }
                    _ = bc_fetch_add(hits + item, 1)
                }
            } else {
                parallelChunks(count, workers: workers) { range in
                    for item in range { _ = bc_fetch_add(hits + item, 1) }
                }
            }
            ok = ok && (0..<count).allSatisfy { hits[$0] == 1 } && hits[count] == 0
        }
        return ok
    }

    @Test func everyItemRunsExactlyOnceStepAfterStep() {
        // Many short steps back to back (the workers spin between them) and a few after a pause
        // long enough for them to sleep.
        #expect(checkEveryItemRunsOnce(count: 37, workers: 2, rounds: 2000))
        #expect(checkEveryItemRunsOnce(count: 1, workers: 8, rounds: 10))
        for _ in 0..<3 {
            usleep(2_000)
            #expect(checkEveryItemRunsOnce(count: 100, workers: 4, rounds: 1))
        }
    }

    @Test func stepsFromSeveralThreadsAndFromInsideAStepAllComplete() async {
        // Callers on other threads take turns; a step started inside a task runs on its thread.
        let results = await withTaskGroup(of: Bool.self) { group in
            for _ in 0..<4 {
                group.addTask { checkEveryItemRunsOnce(count: 64, workers: 2, rounds: 200) }
            }
            return await group.reduce(into: [Bool]()) { $0.append($1) }
        }
        #expect(results == [true, true, true, true])
        let inner = UnsafeMutablePointer<Int>.allocate(capacity: 1)
        inner.initialize(to: 0)
        defer { inner.deallocate() }
        onPool(6, workers: 2) { _, _ in
            parallelChunks(10, workers: 2) { range in _ = bc_fetch_add(inner, range.count) }
        }
        #expect(inner.pointee == 60)
    }
}
