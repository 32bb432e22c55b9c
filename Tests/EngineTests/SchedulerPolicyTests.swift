import Engine
import Testing

/// The batch policy the scheduler owns: a request's other completions deferred until the first computed
/// the prompt, classification forks made and parked from a result (their KV copies in the next batch) and
/// resumed by the next result, forks that do not fit falling back, and stop-string finishes named to
/// `schedule`. Driven by the same simulated model as `SchedulerTests`, so a wrong copy changes a token.
@Suite struct SchedulerPolicyTests {
    typealias Model = SchedulerTests.SimulatedModel

    static func scheduler(blocks: Int, maxModelLen: Int = 64) throws -> Scheduler {
        try Scheduler(
            Scheduler.Configuration(maxModelLen: maxModelLen),
            blocks: BlockManager(blockCount: blocks, blockSize: 4)
        )
    }

    /// What the simulated model samples first for `prompt` run alone.
    static func firstToken(_ prompt: [Int32]) throws -> Int32 {
        var scheduler = try scheduler(blocks: 32)
        var model = Model(blockCount: 32, blockSize: 4)
        try scheduler.add(Scheduler.Request(id: 0, prompt: prompt, maxTokens: 4))
        return model.run(scheduler.schedule())[0]!
    }

    @Test func siblingsWaitForTheFirstPromptAndTakeItFromTheCache() throws {
        var scheduler = try Self.scheduler(blocks: 32)
        var model = Model(blockCount: 32, blockSize: 4)
        let prompt: [Int32] = [3, 1, 4, 1, 5, 9, 2, 6, 5, 3]
        try scheduler.add(group: (0..<3).map { Scheduler.Request(id: $0, prompt: prompt, maxTokens: 4) })
        #expect(scheduler.deferredCount == 2 && scheduler.waiting == [0])
        #expect(throws: SchedulerError.duplicateID(1)) {
            try scheduler.add(group: [Scheduler.Request(id: 1, prompt: prompt, maxTokens: 4)])
        }
        let first = scheduler.schedule()
        #expect(first.entries.map(\.id) == [0] && first.prefillTokens == prompt.count)
        let sampled = model.run(first)
        _ = scheduler.update(first, sampled: sampled)
        #expect(scheduler.deferredCount == 0 && scheduler.waiting == [1, 2])
        let second = scheduler.schedule()
        #expect(Set(second.entries.map(\.id)) == [0, 1, 2])
        #expect(scheduler.requests[1]?.cachedPromptTokens == 8 && scheduler.requests[2]?.cachedPromptTokens == 8)
        let again = model.run(second)
        #expect(again[1] == sampled[0] && again[2] == sampled[0])
        #expect(scheduler.invariantViolations().isEmpty)
    }

    @Test func abortingADeferredSiblingDropsOnlyIt() throws {
        var scheduler = try Self.scheduler(blocks: 32)
        try scheduler.add(group: (0..<3).map { Scheduler.Request(id: $0, prompt: [1, 2, 3], maxTokens: 4) })
        scheduler.abort(2)
        #expect(scheduler.deferredCount == 1)
        scheduler.abort(0)
        #expect(scheduler.waiting == [1] && scheduler.deferredCount == 0)
    }

    @Test func forksAreMadeParkedAndEndedByTheNextResult() throws {
        var scheduler = try Self.scheduler(blocks: 32)
        var model = Model(blockCount: 32, blockSize: 4)
        let prompt: [Int32] = [7, 7, 2, 9, 4, 1]  // six tokens: the second block is partly filled
        try scheduler.add(Scheduler.Request(id: 0, prompt: prompt, maxTokens: 8))
        let first = scheduler.schedule()
        _ = model.run(first)
        let forks = [Scheduler.Fork(child: 10, tokens: [5, 8]), Scheduler.Fork(child: 11, tokens: [3])]
        let outcomes = scheduler.update(first, results: [0: Scheduler.Sampled(tokens: [6], forks: forks)])
        #expect(outcomes[0]?.forked == true && outcomes[0]?.appended == 0)
        #expect(scheduler.parked == [0] && scheduler.requests[0]?.output == [])
        let scoring = scheduler.schedule()
        #expect(Set(scoring.entries.map(\.id)) == [10, 11] && scoring.copies.count == 2)
        #expect(scoring.entries.allSatisfy { $0.logitRows == $0.tokens.count })
        let sampled = model.run(scoring)
        // The forks read the parent's KV, the copied partly filled block included.
        #expect(sampled[10] == (try Self.firstToken(prompt + [5, 8])))
        #expect(sampled[11] == (try Self.firstToken(prompt + [3])))
        let resumed = scheduler.update(
            scoring,
            results: [10: Scheduler.Sampled(tokens: []), 11: Scheduler.Sampled(tokens: []), 0: .init(tokens: [5, 8])]
        )
        #expect(resumed[0]?.appended == 2 && resumed[0]?.forked == false)
        #expect(scheduler.parked.isEmpty && scheduler.requests[10] == nil && scheduler.requests[11] == nil)
        #expect(scheduler.running == [0] && scheduler.requests[0]?.output == [5, 8])
        #expect(scheduler.invariantViolations().isEmpty)
        scheduler.abort(0)
        #expect(scheduler.blocks.freeBlockCount == 32)
    }

    @Test func forksThatDoNotFitAppendTheFallback() throws {
        // Two blocks of four: the parent's six tokens hold both, so no fork can get its own last block.
        var scheduler = try Self.scheduler(blocks: 2, maxModelLen: 8)
        var model = Model(blockCount: 2, blockSize: 4)
        try scheduler.add(Scheduler.Request(id: 0, prompt: [1, 2, 3, 4, 5, 6], maxTokens: 2))
        let batch = scheduler.schedule()
        _ = model.run(batch)
        let result = Scheduler.Sampled(tokens: [9], forks: [Scheduler.Fork(child: 1, tokens: [4, 4])])
        let outcome = scheduler.update(batch, results: [0: result])[0]
        #expect(outcome?.forked == false && outcome?.appended == 1)
        #expect(scheduler.parked.isEmpty && scheduler.requests[1] == nil && scheduler.requests[0]?.output == [9])
        #expect(scheduler.invariantViolations().isEmpty)
    }

    @Test func aStopStringFinishesTheRequestInTheSameUpdate() throws {
        var scheduler = try Self.scheduler(blocks: 8, maxModelLen: 16)
        try scheduler.add(Scheduler.Request(id: 0, prompt: [1, 2, 3], maxTokens: 8))
        try scheduler.add(Scheduler.Request(id: 1, prompt: [4, 5], maxTokens: 8))
        let batch = scheduler.schedule()
        var stopped = Scheduler.Sampled(tokens: [7, 8, 9])
        stopped.stopAfter = 2
        let outcomes = scheduler.update(batch, results: [0: stopped, 1: Scheduler.Sampled(tokens: [7, 8, 9])])
        #expect(outcomes[0]?.appended == 2 && outcomes[0]?.reason == .stop && outcomes[0]?.stoppedByToken == false)
        #expect(outcomes[1]?.appended == 3 && outcomes[1]?.reason == nil)
        #expect(scheduler.requests[0] == nil && scheduler.running == [1])
        #expect(scheduler.blocks.freeBlockCount == 7)
        #expect(scheduler.schedule().entries.map(\.id) == [1])
        #expect(scheduler.invariantViolations().isEmpty)
    }
}
