import CPUBackend
import Engine
import SwerveCore
import Synchronization
import TestSupport
import Testing

/// The engine hands each step's KV-cache events to its sink (`--kv-events-config`): one batch per step
/// that changed the prefix cache, none otherwise, and outputs are unchanged by publishing.
@Suite struct KVEventPublishingTests {
    final class Recorder: KVEventSink {
        let batches = Mutex<[[KVCacheEvent]]>([])
        func publish(_ events: [KVCacheEvent]) { batches.withLock { $0.append(events) } }
    }

    @Test func eachStepsEventsReplayToTheCachedSet() throws {
        // A pool of 24 blocks for 40 prompts: blocks are evicted and reused all along.
        let engine = try EngineCoreTests.engine(kvBlocks: 24)
        let quiet = try EngineCoreTests.engine(kvBlocks: 24)
        let recorder = Recorder()
        engine.kvEvents = recorder
        let prompts = EngineCoreTests.prompts(40, vocabulary: try EngineCoreTests.vocabulary(.llama))
        let published = try EngineCoreTests.run(engine, prompts)
        #expect(try EngineCoreTests.run(quiet, prompts).mapValues(\.0) == published.mapValues(\.0))

        var mirror = Set<UInt64>()
        var counts = (stored: 0, removed: 0)
        let batches = recorder.batches.withLock { $0 }
        for batch in batches {
            #expect(!batch.isEmpty, "a step that changed nothing publishes nothing")
            for event in batch {
                switch event {
                case .blockStored(let hashes, _, let tokens, let size, _):
                    #expect(size == 16 && tokens.count == hashes.count * 16)
                    mirror.formUnion(hashes)
                    counts.stored += hashes.count
                case .blockRemoved(let hashes, _):
                    #expect(mirror.isSuperset(of: hashes))
                    mirror.subtract(hashes)
                    counts.removed += hashes.count
                case .allBlocksCleared:
                    mirror.removeAll()
                }
            }
        }
        #expect(counts.stored > 24 && counts.removed > 0, "\(counts)")
        #expect(mirror == Set(engine.cachedBlockHashes))
        #expect(engine.resetPrefixCache())
        #expect(recorder.batches.withLock { $0.last } == [.allBlocksCleared])
        #expect(engine.cachedBlockHashes.isEmpty)
    }
}
