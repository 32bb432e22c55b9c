import Engine
import TestSupport
import Testing

@Suite struct BlockManagerTests {
    @Test func sharesACachedPrefixAndCountsHits() {
        var manager = BlockManager(blockCount: 8, blockSize: 4)
        let system: [Int32] = Array(1...10)
        let first = system + [50, 51]
        let keys = manager.keys(for: first)
        #expect(keys.count == 3)
        let noHits = manager.cachedPrefix(keys, promptTokens: first.count)
        #expect(noHits.isEmpty)
        let firstAdmitted = manager.allocate(1, tokens: first.count)
        #expect(firstAdmitted)
        manager.commit(1, keys: keys)

        // Same system prompt, other user turn: the two full blocks of the shared 8 tokens are reused.
        let second = system + [60, 61, 62]
        let hits = manager.cachedPrefix(manager.keys(for: second), promptTokens: second.count)
        #expect(hits == Array(manager.blockTable(1).prefix(2)))
        let secondAdmitted = manager.allocate(2, tokens: second.count, cachedBlocks: hits)
        #expect(secondAdmitted)
        #expect(manager.blockTable(2).prefix(2) == manager.blockTable(1).prefix(2))
        #expect(manager.prefixHitTokens == 8 && manager.prefixQueryTokens == first.count + second.count)
        #expect(manager.invariantViolations().isEmpty)

        // Freed, the blocks stay cached: a third request still finds them.
        manager.free(1)
        manager.free(2)
        #expect(manager.freeBlockCount == 8)
        let stillCached = manager.cachedPrefix(manager.keys(for: first), promptTokens: first.count)
        #expect(stillCached.count == 2)
        #expect(manager.invariantViolations().isEmpty)
    }

    @Test func aFullyCachedPromptLeavesItsLastBlockToCompute() {
        var manager = BlockManager(blockCount: 4, blockSize: 4)
        let prompt: [Int32] = Array(1...8)
        let admitted = manager.allocate(1, tokens: 8)
        #expect(admitted)
        manager.commit(1, keys: manager.keys(for: prompt))
        let reused = manager.cachedPrefix(manager.keys(for: prompt), promptTokens: 8)
        #expect(reused.count == 1)
    }

    @Test func refusesWhenThePoolIsShortAndChangesNothing() {
        var manager = BlockManager(blockCount: 3, blockSize: 2)
        let admitted = manager.allocate(1, tokens: 4)
        #expect(admitted)
        let admittedOther = manager.allocate(2, tokens: 3)
        #expect(!admittedOther)
        #expect(manager.blockTable(2).isEmpty && manager.freeBlockCount == 1)
        let grown = manager.allocate(1, tokens: 5)
        #expect(grown)
        #expect(manager.usage == 1)
        #expect(manager.invariantViolations().isEmpty)
    }

    @Test func evictsLeastRecentlyFreedCachedBlocksOnlyUnderPressure() {
        var manager = BlockManager(blockCount: 4, blockSize: 2)
        let a: [Int32] = [1, 2, 3, 4, 5]
        let firstAdmitted = manager.allocate(1, tokens: a.count)
        #expect(firstAdmitted)
        manager.commit(1, keys: manager.keys(for: a))
        manager.free(1)
        // 3 blocks free: the uncached tail block first, then never-used, then the cached ones, last block first.
        let secondAdmitted = manager.allocate(2, tokens: 4)
        #expect(secondAdmitted)
        let cachedBefore = manager.cachedPrefix(manager.keys(for: a), promptTokens: a.count)
        #expect(cachedBefore.count == 2)
        let thirdAdmitted = manager.allocate(3, tokens: 4)
        #expect(thirdAdmitted)
        // Now the pool had to evict a cached block: the prefix is gone or shortened.
        let cachedAfter = manager.cachedPrefix(manager.keys(for: a), promptTokens: a.count)
        #expect(cachedAfter.count < 2)
        #expect(manager.invariantViolations().isEmpty)
    }

    /// Random admit / grow / commit / free sequences over a small pool with heavy prefix sharing keep
    /// reference counts, the free list and the cache consistent.
    @Test(arguments: 1...20)
    func randomOperationsKeepInvariants(seed: UInt64) {
        var random = SeededRandom(seed: seed)
        var manager = BlockManager(blockCount: 24, blockSize: 4, prefixCaching: seed % 4 != 0)
        var live: [Int: [Int32]] = [:]
        var nextID = 0
        for _ in 0..<400 {
            switch Int.random(in: 0..<10, using: &random) {
            case 0..<4:
                // Prompts share prefixes: drawn from 3 stems plus random tails.
                let stem = Int32.random(in: 0..<3, using: &random)
                let tokens = (0..<Int.random(in: 1...14, using: &random)).map { i in
                    i < 8 ? stem * 100 + Int32(i) : Int32.random(in: 0..<5, using: &random)
                }
                let keys = manager.keys(for: tokens)
                let hits = manager.cachedPrefix(keys, promptTokens: tokens.count)
                if manager.allocate(nextID, tokens: tokens.count, cachedBlocks: hits) {
                    manager.commit(nextID, keys: keys)
                    live[nextID] = tokens
                }
                nextID += 1
            case 4..<7:
                guard let (id, tokens) = live.randomElement(using: &random) else { continue }
                let longer = tokens + [Int32.random(in: 0..<5, using: &random)]
                if manager.allocate(id, tokens: longer.count) {
                    live[id] = longer
                    manager.commit(id, keys: manager.keys(for: longer))
                }
            default:
                guard let id = live.keys.randomElement(using: &random) else { continue }
                manager.free(id)
                live[id] = nil
            }
            let problems = manager.invariantViolations()
            #expect(problems.isEmpty, "seed \(seed): \(problems)")
            if !problems.isEmpty { return }
            for (id, tokens) in live { #expect(manager.blockTable(id).count == manager.blocksNeeded(tokens.count)) }
        }
        for id in live.keys { manager.free(id) }
        #expect(manager.freeBlockCount == 24 && manager.invariantViolations().isEmpty)
    }

    /// KV events (`--kv-events-config`): a sequence's blocks committed together are one `BlockStored`
    /// chained to its parent, an eviction a `BlockRemoved`, a reset `AllBlocksCleared`; applied in order,
    /// they give exactly the cached set.
    @Test func eventsDescribeStoresEvictionsAndResets() {
        var manager = BlockManager(blockCount: 4, blockSize: 4)
        manager.recordsEvents = true
        let prompt: [Int32] = Array(1...13)
        let keys = manager.keys(for: prompt)
        let admitted = manager.allocate(1, tokens: prompt.count)
        #expect(admitted)
        manager.commit(1, keys: keys.prefix(2))
        let first = manager.takeEvents()
        manager.commit(1, keys: keys, from: 2)
        let stored = manager.takeEvents()
        let none = manager.takeEvents()
        #expect(
            first == [
                .blockStored(hashes: keys.prefix(2).map(\.chainHash), parent: nil, tokens: Array(1...8), blockSize: 4)
            ]
        )
        // A later step's block names its parent; blocks committed in one step make one event.
        #expect(
            stored == [
                .blockStored(
                    hashes: [keys[2].chainHash],
                    parent: keys[1].chainHash,
                    tokens: Array(9...12),
                    blockSize: 4
                )
            ]
        )
        #expect(none.isEmpty)
        let refused = manager.resetPrefixCache()
        #expect(!refused, "a running sequence holds blocks")
        manager.free(1)
        // Uncached blocks go first: the fourth block, then the last cached ones (a sequence's tail first).
        let reused = manager.allocate(2, tokens: 12)
        let evicted = manager.takeEvents()
        #expect(reused && evicted == [.blockRemoved(hashes: [keys[2].chainHash, keys[1].chainHash])])
        #expect(Set(manager.cachedHashes) == [keys[0].chainHash])
        manager.free(2)
        let reset = manager.resetPrefixCache()
        let cleared = manager.takeEvents()
        #expect(reset && cleared == [.allBlocksCleared])
        #expect(manager.cachedHashes.isEmpty && manager.invariantViolations().isEmpty)
        let found = manager.cachedPrefix(manager.keys(for: prompt), promptTokens: prompt.count)
        #expect(found.isEmpty)
    }

    /// Random admissions, growth and frees with heavy sharing: after every operation the events so far,
    /// replayed into a set, equal the cached set, and every `BlockStored` carries its blocks' tokens.
    @Test(arguments: 1...10)
    func eventsReplayToTheCachedSet(seed: UInt64) {
        var random = SeededRandom(seed: seed)
        var manager = BlockManager(blockCount: 16, blockSize: 4)
        manager.recordsEvents = true
        var mirror = Set<UInt64>()
        var live: [Int: [Int32]] = [:]
        for id in 0..<300 {
            if live.count > 3 || (Int.random(in: 0..<3, using: &random) == 0 && !live.isEmpty) {
                let victim = live.keys.randomElement(using: &random)!
                manager.free(victim)
                live[victim] = nil
            } else {
                let stem = Int32.random(in: 0..<5, using: &random)
                let tokens = (0..<Int.random(in: 4...20, using: &random)).map { i in
                    i < 9 ? stem * 100 + Int32(i) : Int32.random(in: 0..<3, using: &random)
                }
                let keys = manager.keys(for: tokens)
                let hits = manager.cachedPrefix(keys, promptTokens: tokens.count)
                if manager.allocate(id, tokens: tokens.count, cachedBlocks: hits) {
                    manager.commit(id, keys: keys)
                    live[id] = tokens
                }
            }
            for event in manager.takeEvents() {
                switch event {
                case .blockStored(let hashes, _, let tokens, let size, _):
                    #expect(tokens.count == hashes.count * size)
                    mirror.formUnion(hashes)
                case .blockRemoved(let hashes, _):
                    #expect(mirror.isSuperset(of: hashes), "seed \(seed): a removal names a block never stored")
                    mirror.subtract(hashes)
                case .allBlocksCleared:
                    mirror.removeAll()
                }
            }
            #expect(mirror == Set(manager.cachedHashes), "seed \(seed), operation \(id)")
        }
    }
}
