import Engine
import TestSupport
import Testing

/// The scheduler driven by a simulated model whose KV cache is a table of block slots: each step writes the
/// fed tokens into the slots their block tables name, and a sampled token is a hash of what the request's
/// block table holds at positions 0..<end. So any scheduling, prefix-caching or preemption bug that feeds a
/// wrong token, reuses a block with other contents or loses state changes the output.
@Suite struct SchedulerTests {
    struct SimulatedModel {
        var slots: [[Int32]]
        let blockSize: Int

        init(blockCount: Int, blockSize: Int) {
            slots = Array(repeating: Array(repeating: -1, count: blockSize), count: blockCount)
            self.blockSize = blockSize
        }

        /// Runs a batch: writes each entry's tokens, then samples for the entries that ask.
        mutating func run(_ batch: Scheduler.Batch) -> [Int: Int32] {
            var sampled: [Int: Int32] = [:]
            for copy in batch.copies {
                for p in 0..<copy.positions { slots[copy.destination][p] = slots[copy.source][p] }
            }
            for entry in batch.entries {
                for (i, token) in entry.tokens.enumerated() {
                    let position = entry.firstPosition + i
                    slots[entry.blockTable[position / blockSize]][position % blockSize] = token
                }
                guard entry.samples else { continue }
                let end = entry.firstPosition + entry.tokens.count
                var hash: UInt64 = 1_469_598_103_934_665_603
                for position in 0..<end {
                    let token = slots[entry.blockTable[position / blockSize]][position % blockSize]
                    hash = (hash ^ UInt64(UInt32(bitPattern: token))) &* 1_099_511_628_211
                }
                sampled[entry.id] = Int32(hash % 40)  // token 0 is the stop token
            }
            return sampled
        }
    }

    static func prompts(_ count: Int, seed: UInt64) -> [[Int32]] {
        var random = SeededRandom(seed: seed)
        let system = (0..<20).map { _ in Int32.random(in: 1..<40, using: &random) }
        return (0..<count).map { _ in
            let shared = Int.random(in: 0...20, using: &random)
            return Array(system.prefix(shared))
                + (0..<Int.random(in: 1...30, using: &random)).map { _ in Int32.random(in: 1..<40, using: &random) }
        }
    }

    /// Runs requests to completion; returns outputs (aborted ones excluded) and the peak usage seen.
    static func run(
        _ prompts: [[Int32]],
        blocks: Int,
        configuration: Scheduler.Configuration,
        prefixCaching: Bool = true,
        abortEvery: Int? = nil
    ) throws -> (outputs: [Int: [Int32]], preemptions: Int, hits: Int) {
        let manager = BlockManager(blockCount: blocks, blockSize: 4, prefixCaching: prefixCaching)
        var scheduler = try Scheduler(configuration, blocks: manager)
        var model = SimulatedModel(blockCount: blocks, blockSize: 4)
        for (id, prompt) in prompts.enumerated() {
            try scheduler.add(Scheduler.Request(id: id, prompt: prompt, maxTokens: 12, stopTokens: [0]))
        }
        var outputs: [Int: [Int32]] = [:]
        var preemptions = 0
        var steps = 0
        while scheduler.hasWork {
            steps += 1
            #expect(steps < 10_000, "no progress")
            if steps >= 10_000 { break }
            if let every = abortEvery, steps % every == 0, let id = scheduler.running.last ?? scheduler.waiting.last {
                scheduler.abort(id)
            }
            let batch = scheduler.schedule()
            preemptions += batch.preempted.count
            #expect(batch.tokenCount <= configuration.maxNumBatchedTokens)
            #expect(batch.entries.count <= configuration.maxNumSeqs)
            #expect(!batch.entries.isEmpty || !scheduler.hasWork || !batch.preempted.isEmpty)
            let sampled = model.run(batch)
            let outputsBefore = Dictionary(
                uniqueKeysWithValues: batch.entries.compactMap { entry in
                    scheduler.requests[entry.id].map { (entry.id, $0.output) }
                }
            )
            for (id, _) in scheduler.update(batch, sampled: sampled) {
                outputs[id] = (outputsBefore[id] ?? []) + (sampled[id].map { $0 == 0 ? [] : [$0] } ?? [])
            }
            let problems = scheduler.invariantViolations()
            #expect(problems.isEmpty, "\(problems)")
            if !problems.isEmpty { break }
        }
        #expect(scheduler.blocks.freeBlockCount == blocks)
        return (outputs, preemptions, scheduler.blocks.prefixHitTokens)
    }

    static let prompts = prompts(40, seed: 3)

    static func alone() throws -> [Int: [Int32]] {
        var outputs: [Int: [Int32]] = [:]
        for (id, prompt) in prompts.enumerated() {
            let result = try run([prompt], blocks: 64, configuration: .init(maxModelLen: 128), prefixCaching: false)
            outputs[id] = result.outputs[0]
        }
        return outputs
    }

    @Test(arguments: [true, false])
    func concurrentOutputsEqualEachAlone(chunkedPrefill: Bool) throws {
        let expected = try Self.alone()
        let configuration = Scheduler.Configuration(
            maxNumSeqs: 8,
            maxNumBatchedTokens: chunkedPrefill ? 16 : 64,
            maxModelLen: 64,
            enableChunkedPrefill: chunkedPrefill
        )
        // A roomy pool, then one so small that requests are preempted and recomputed.
        for blocks in [200, 20] {
            let result = try Self.run(Self.prompts, blocks: blocks, configuration: configuration)
            #expect(result.outputs == expected, "\(blocks) blocks, chunked prefill \(chunkedPrefill)")
            if blocks == 20 { #expect(result.preemptions > 0) }
            #expect(result.hits > 0)
        }
    }

    @Test func prefixCachingOffGivesTheSameOutputs() throws {
        let configuration = Scheduler.Configuration(maxNumSeqs: 4, maxNumBatchedTokens: 32, maxModelLen: 64)
        let on = try Self.run(Self.prompts, blocks: 40, configuration: configuration)
        let off = try Self.run(Self.prompts, blocks: 40, configuration: configuration, prefixCaching: false)
        #expect(on.outputs == off.outputs && off.hits == 0)
    }

    @Test(arguments: [3, 7])
    func abortsFreeBlocksAndKeepTheRestCorrect(every: Int) throws {
        let expected = try Self.alone()
        let configuration = Scheduler.Configuration(maxNumSeqs: 6, maxNumBatchedTokens: 24, maxModelLen: 64)
        let result = try Self.run(Self.prompts, blocks: 30, configuration: configuration, abortEvery: every)
        #expect(result.outputs.count < Self.prompts.count)
        for (id, output) in result.outputs { #expect(output == expected[id], "request \(id)") }
    }

    @Test func refusesWhatCanNeverRun() throws {
        #expect(throws: SchedulerError.poolTooSmall(tokens: 32, maxModelLen: 64)) {
            try Scheduler(.init(maxModelLen: 64), blocks: BlockManager(blockCount: 8, blockSize: 4))
        }
        var scheduler = try Scheduler(.init(maxModelLen: 16), blocks: BlockManager(blockCount: 8, blockSize: 4))
        #expect(throws: SchedulerError.promptTooLong(id: 1, tokens: 16, maxModelLen: 16)) {
            try scheduler.add(.init(id: 1, prompt: Array(repeating: 3, count: 16), maxTokens: 4))
        }
        #expect(throws: SchedulerError.emptyPrompt(2)) { try scheduler.add(.init(id: 2, prompt: [], maxTokens: 4)) }
    }
}
