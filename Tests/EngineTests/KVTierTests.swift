import CPUBackend
import Engine
import Foundation
import Models
import SwerveCore
import Synchronization
import TestSupport
import Testing

/// The KV cache's lower tiers: blocks the pool evicts are kept in host memory or on disk and loaded back
/// instead of recomputed, with outputs identical to recomputing them; the disk tier survives restarts and
/// drops, never uses, a file that is torn, corrupted or another model's.
@Suite struct KVTierTests {
    enum Mode: String, CaseIterable {
        case host, disk, hostThenDisk
    }

    /// Eight tenants of 100 tokens (6 full blocks each): 48 blocks, twice the 24-block pool.
    static func tenants(_ model: EngineCoreTests.Model = .llama) throws -> [[Int32]] {
        let vocabulary = try EngineCoreTests.vocabulary(model)
        var random = SeededRandom(seed: 11)
        return (0..<8).map { _ in (0..<100).map { _ in Int32.random(in: 1..<Int32(vocabulary), using: &random) } }
    }

    /// A greedy run's tokens and the log-probabilities of each and of the 5 likeliest (equal only if the KV
    /// read was: the synthetic Gemma 3 is so sure of its tokens that a stale block changes only the
    /// unlikely candidates' log-probabilities).
    struct Run: Equatable {
        var tokens: [Int32] = []
        var logprobs: [Float] = []
    }

    /// Each prompt run alone, one after the other, on `engine`.
    static func runEach(_ engine: EngineCore, _ prompts: [[Int32]], round: Int) throws -> [Run] {
        try prompts.enumerated().map { index, prompt in
            let id = "\(round)-\(index)"
            try engine.add(
                EngineRequest(
                    id: id,
                    prompt: prompt,
                    parameters: SamplingParameters(maxTokens: 8, ignoreEOS: true, logprobs: 5)
                )
            )
            var run = Run()
            var steps = 0
            while engine.hasWork && steps < 1000 {
                steps += 1
                for output in engine.step() where output.requestID == id {
                    run.tokens += output.tokenIDs
                    run.logprobs += output.logprobs.flatMap { [$0.logprob] + $0.top.map(\.logprob) }
                }
            }
            #expect(run.tokens.count == 8 && run.logprobs.count == 8 * 6)
            return run
        }
    }

    static func directory() -> String {
        let path = NSTemporaryDirectory() + "swerve-kv-tiers-\(UUID().uuidString)"
        return path
    }

    static func configuration(
        _ mode: Mode,
        directory: String,
        model: EngineCoreTests.Model = .llama,
        kvType: KVCacheType = .f16
    ) throws -> KVTierConfiguration {
        let config = try ModelRegistry.config(of: model.gguf())
        let blockBytes =
            16 * kvType.bytesPerToken(layers: config.blockCount, width: config.headCountKV * config.headDimension)
        return switch mode {
        case .host: KVTierConfiguration(hostBytes: 64 << 20, modelDigest: "synthetic-llama")
        case .disk: KVTierConfiguration(diskPath: directory, diskBytes: 64 << 20, modelDigest: "synthetic-llama")
        case .hostThenDisk:
            // A host tier of 4 blocks: most blocks pass through it to disk.
            KVTierConfiguration(
                hostBytes: 4 * blockBytes,
                diskPath: directory,
                diskBytes: 64 << 20,
                modelDigest: "synthetic-llama"
            )
        }
    }

    /// f16 KV on the synthetic llama, q8_0 on the synthetic Gemma 3 (whose head size q8_0 blocks fit).
    @Test(arguments: Mode.allCases, [KVCacheType.f16, .q8_0])
    func tierHitsGiveTheRecomputedOutputs(mode: Mode, kvType: KVCacheType) throws {
        let directory = Self.directory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let model: EngineCoreTests.Model = kvType == .f16 ? .llama : .gemma3
        let prompts = try Self.tenants(model)
        let plain = try EngineCoreTests.engine(model, kvBlocks: 24, kvType: kvType)
        let tiered = try EngineCoreTests.engine(
            model,
            kvBlocks: 24,
            kvType: kvType,
            tiers: try Self.configuration(mode, directory: directory, model: model, kvType: kvType)
        )
        let first = try Self.runEach(plain, prompts, round: 0)
        #expect(try Self.runEach(tiered, prompts, round: 0) == first)
        // The second round finds the first tenants' blocks evicted from the pool: recomputed without tiers,
        // loaded with them.
        let recomputed = try Self.runEach(plain, prompts, round: 1)
        let loaded = try Self.runEach(tiered, prompts, round: 1)
        #expect(recomputed == first)
        #expect(loaded == recomputed)
        let stats = try #require(tiered.stats.kvTiers)
        let hits = stats.host.hits + stats.disk.hits
        #expect(hits >= 20, "\(stats)")
        #expect(mode == .host ? stats.disk.hits == 0 : stats.disk.hits > 0, "\(stats)")
        #expect(stats.dropped == 0)
        #expect(tiered.stats.prefixCacheHits >= hits * 16, "tier hits count as prefix-cache hits")
        #expect(tiered.stats.prefixCacheHits > plain.stats.prefixCacheHits)
        tiered.shutDownTiers()
    }

    /// The tenants run once on a fresh disk-tier engine in `directory`, which is then stopped (its blocks
    /// persisted): their outputs and the namespace's folder.
    static func persisted(_ prompts: [[Int32]], tiers: KVTierConfiguration) throws -> ([Run], String) {
        let before = try EngineCoreTests.engine(kvBlocks: 24, tiers: tiers)
        let expected = try Self.runEach(before, prompts, round: 0)
        before.shutDownTiers()
        return (expected, before.tiers!.directory!.path)
    }

    /// A graceful stop writes the cached blocks to disk; an engine started on the same directory loads them.
    @Test func aRestartedEngineLoadsFromDisk() throws {
        let directory = Self.directory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let prompts = try Self.tenants()
        let tiers = try Self.configuration(.disk, directory: directory)
        let (expected, _) = try Self.persisted(prompts, tiers: tiers)

        let after = try EngineCoreTests.engine(kvBlocks: 24, tiers: tiers)
        #expect(after.tiers!.stats.disk.blocks >= prompts.count * 6)
        // With events on, the blocks found on disk are announced as "DISK" blocks, read back from their files.
        let recorder = Recorder()
        after.kvEvents = recorder
        let found = after.tiers!.hashes(in: .disk)
        var announced = Set<UInt64>()
        for _ in 0..<500 where announced != found {
            Thread.sleep(forTimeInterval: 0.01)
            announced = Set(
                recorder.events.withLock { $0 }.flatMap { event -> [UInt64] in
                    guard case .blockStored(let hashes, _, let tokens, _, .disk) = event else { return [] }
                    #expect(tokens.count == 16 * hashes.count)
                    return hashes
                }
            )
        }
        #expect(announced == found)
        #expect(try Self.runEach(after, [prompts[0]], round: 0) == [expected[0]])
        #expect(after.stats.kvTiers!.disk.hits == 6, "the first request of a tenant seen before hits the disk")
        after.shutDownTiers()

        // Another model's (or KV layout's) engine on the same directory sees none of these blocks.
        var other = tiers
        other.modelDigest = "another-model"
        let stranger = try EngineCoreTests.engine(kvBlocks: 24, tiers: other)
        #expect(stranger.tiers!.stats.disk.blocks == 0)
        #expect(try Self.runEach(stranger, [prompts[0]], round: 0) == [expected[0]])
        #expect(stranger.stats.kvTiers!.disk.hits == 0)
        stranger.shutDownTiers()
        // Nor does a pool of another KV type.
        let gemma = try Self.configuration(.disk, directory: directory, model: .gemma3)
        let f16 = try EngineCoreTests.engine(.gemma3, kvBlocks: 24, tiers: gemma)
        _ = try Self.runEach(f16, [try Self.tenants(.gemma3)[0]], round: 0)
        f16.shutDownTiers()
        #expect(f16.tiers!.stats.disk.blocks >= 6)
        let q8 = try EngineCoreTests.engine(.gemma3, kvBlocks: 24, kvType: .q8_0, tiers: gemma).tiers!
        #expect(q8.stats.disk.blocks == 0, "a q8_0 pool does not read f16 blocks")
        q8.shutdown()
    }

    /// Truncated, bit-flipped and foreign files, and a temporary file a killed writer left, are dropped and
    /// counted; their blocks are recomputed and every output is unchanged.
    @Test func damagedFilesAreDroppedAndRecomputed() throws {
        let directory = Self.directory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let prompts = try Self.tenants()
        let tiers = try Self.configuration(.disk, directory: directory)
        let (expected, folder) = try Self.persisted(prompts, tiers: tiers)

        // The first block of three tenants' chains (its parent is the chain's seed).
        let roots = try FileManager.default.contentsOfDirectory(atPath: folder).filter { name in
            let data = FileManager.default.contents(atPath: folder + "/" + name)!
            return data.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: 16, as: UInt64.self) }
                == BlockKey.chainSeed
        }.sorted()
        #expect(roots.count == prompts.count)
        let truncated = folder + "/" + roots[0]
        let flipped = folder + "/" + roots[1]
        let foreign = folder + "/" + roots[2]
        var data = FileManager.default.contents(atPath: truncated)!
        try data.prefix(data.count - 100).write(to: URL(fileURLWithPath: truncated))
        data = FileManager.default.contents(atPath: flipped)!
        data[data.count - 7] ^= 0x10
        try data.write(to: URL(fileURLWithPath: flipped))
        data = FileManager.default.contents(atPath: foreign)!
        data[8] ^= 1  // another namespace: another model's block copied in
        try data.write(to: URL(fileURLWithPath: foreign))
        try Data(count: 1000).write(to: URL(fileURLWithPath: folder + "/" + roots[3] + ".tmp-99999"))

        let after = try EngineCoreTests.engine(kvBlocks: 24, tiers: tiers)
        #expect(after.tiers!.stats.dropped == 3, "truncated, foreign and the killed writer's file, at startup")
        #expect(try Self.runEach(after, prompts, round: 0) == expected)
        let stats = after.stats.kvTiers!
        #expect(stats.dropped == 4, "the bit flip, when loaded: \(stats)")
        #expect(stats.disk.hits >= 5 * 6, "\(stats)")
        #expect(!FileManager.default.fileExists(atPath: flipped) || stats.disk.stores > 0)
        after.shutDownTiers()
    }

    @Test func startupRefusals() throws {
        let file = Self.directory()
        try Data([1]).write(to: URL(fileURLWithPath: file))
        defer { try? FileManager.default.removeItem(atPath: file) }
        #expect(throws: KVTierError.self) {
            try KVTierStore(
                KVTierConfiguration(diskPath: file, diskBytes: 1 << 20, modelDigest: "m"),
                blockBytes: 64,
                layout: "l"
            )
        }
        let directory = Self.directory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        do {
            _ = try KVTierStore(
                KVTierConfiguration(diskPath: directory, diskBytes: 1 << 60, modelDigest: "m"),
                blockBytes: 64,
                layout: "l"
            )
            Issue.record("an exabyte disk tier was accepted")
        } catch {
            #expect(error.description.contains("--kv-disk-size"))
        }
        #expect(throws: KVTierError.self) {
            try KVTierStore(KVTierConfiguration(hostBytes: 1 << 60, modelDigest: "m"), blockBytes: 64, layout: "l")
        }
    }

    @Test func theDiskTierStaysWithinItsSize() throws {
        let directory = Self.directory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let key = { (i: Int32) in BlockKey(parent: 1, tokens: [i, i, i, i], extra: nil) }
        let bytes = 64 + 16 + 1000  // header, 4 tokens, payload
        let store = try KVTierStore(
            KVTierConfiguration(diskPath: directory, diskBytes: 3 * bytes, modelDigest: "m"),
            blockBytes: 1000,
            layout: "l"
        )
        for i in 0..<5 {
            let data = KVBlockData(key: key(Int32(i)), byteCount: 1000)
            data.bytes.initializeMemory(as: UInt8.self, repeating: UInt8(i))
            store.offload(data)
        }
        store.shutdown()
        let stats = store.stats
        #expect(stats.disk.blocks == 3 && stats.disk.bytes == 3 * bytes && stats.disk.evictions == 2, "\(stats)")
        let files = try FileManager.default.contentsOfDirectory(atPath: store.directory!.path)
        #expect(files.count == 3)
        let reopened = try KVTierStore(store.configuration, blockBytes: 1000, layout: "l")
        #expect(reopened.stats.disk.blocks == 3)
        guard case .loading = reopened.lookup(key(4)) else {
            Issue.record("the newest block is not on disk")
            return
        }
        reopened.waitForReads(seconds: 5)
        guard case .ready(let data) = reopened.lookup(key(4)) else {
            Issue.record("the block did not load")
            return
        }
        #expect(data.bytes.allSatisfy { $0 == 4 })
        guard case .absent = reopened.lookup(key(0)) else {
            Issue.record("the oldest block was not evicted")
            return
        }
        reopened.shutdown()
    }

    /// A tier index whose blocks are read from disk until `ready`.
    final class SlowTier: KVTierIndex, @unchecked Sendable {
        var ready = false
        func lookup(_ key: BlockKey) -> KVTierLookup {
            guard key.tokens.first == 1 else { return .absent }
            return ready ? .ready(KVBlockData(key: key, byteCount: 8)) : .loading
        }
    }

    /// A request whose blocks are still being read waits while a later one runs, then starts past them.
    @Test func aLoadingRequestLetsOthersRun() throws {
        var scheduler = try Scheduler(.init(maxModelLen: 128), blocks: BlockManager(blockCount: 16, blockSize: 16))
        let tier = SlowTier()
        scheduler.tiers = tier
        try scheduler.add(Scheduler.Request(id: 0, prompt: [Int32](repeating: 1, count: 64), maxTokens: 4))
        try scheduler.add(Scheduler.Request(id: 1, prompt: [Int32](repeating: 2, count: 20), maxTokens: 4))
        let first = scheduler.schedule()
        #expect(first.entries.map(\.id) == [1] && first.loads.isEmpty)
        #expect(scheduler.waiting == [0])
        tier.ready = true
        let second = scheduler.schedule()
        let entry = try #require(second.entries.first { $0.id == 0 })
        // 3 of its 4 full blocks load (one token is always computed); the rest of the prompt is computed.
        #expect(second.loads.count == 3 && entry.firstPosition == 48 && entry.tokens.count == 16)
        #expect(second.loads.map(\.block) == Array(entry.blockTable.prefix(3)))
        #expect(scheduler.blocks.prefixHitTokens == 48)
        #expect(scheduler.invariantViolations().isEmpty)
    }

    final class Recorder: KVEventSink {
        let events = Mutex<[KVCacheEvent]>([])
        func publish(_ batch: [KVCacheEvent]) { events.withLock { $0 += batch } }
    }

    /// With KV events on, blocks entering and leaving the host and disk tiers are published with their medium;
    /// replaying each medium's events gives the blocks that tier holds.
    @Test func tierEventsReplayToEachTiersBlocks() throws {
        let directory = Self.directory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let prompts = try Self.tenants()
        let engine = try EngineCoreTests.engine(
            kvBlocks: 24,
            tiers: try Self.configuration(.hostThenDisk, directory: directory)
        )
        let recorder = Recorder()
        engine.kvEvents = recorder
        _ = try Self.runEach(engine, prompts, round: 0)
        _ = try Self.runEach(engine, prompts, round: 1)
        engine.shutDownTiers()
        var held: [KVMedium: Set<UInt64>] = [.pool: [], .host: [], .disk: []]
        var counts: [KVMedium: (stored: Int, removed: Int)] = [:]
        for event in recorder.events.withLock({ $0 }) {
            switch event {
            case .blockStored(let hashes, _, let tokens, let size, let medium):
                #expect(tokens.count == hashes.count * size)
                held[medium]!.formUnion(hashes)
                counts[medium, default: (0, 0)].stored += hashes.count
            case .blockRemoved(let hashes, let medium):
                #expect(held[medium]!.isSuperset(of: hashes), "\(medium) removes a block it never stored")
                held[medium]!.subtract(hashes)
                counts[medium, default: (0, 0)].removed += hashes.count
            case .allBlocksCleared:
                held[.pool] = []
            }
        }
        let tiers = try #require(engine.tiers)
        #expect(held[.host] == tiers.hashes(in: .host))
        #expect(held[.disk] == tiers.hashes(in: .disk))
        #expect(held[.pool] == Set(engine.cachedBlockHashes))
        #expect(counts[.host]!.stored > 0 && counts[.host]!.removed > 0 && counts[.disk]!.stored > 0, "\(counts)")
    }

    /// Runs `command` with `arguments`; whether it exited 0.
    static func succeeds(_ command: String, _ arguments: [String]) -> Bool {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: command)
        process.arguments = arguments
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        guard (try? process.run()) != nil else { return false }
        process.waitUntilExit()
        return process.terminationStatus == 0
    }

    /// Whether this machine lets the tests mount a small tmpfs (root in a container that allows it).
    static let canMount: Bool = {
        let folder = directory()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        try? FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        guard succeeds("/bin/mount", ["-t", "tmpfs", "-o", "size=64k", "tmpfs", folder]) else { return false }
        return succeeds("/bin/umount", [folder])
    }()

    /// A disk that fills up stops offloading with a warning: writes fail and are counted, no request fails,
    /// every output is unchanged, and blocks written before still load.
    @Test(.enabled(if: canMount, "needs a mountable tmpfs"))
    func aFullDiskStopsOffloadingAndLosesNothing() throws {
        let directory = Self.directory()
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try #require(Self.succeeds("/bin/mount", ["-t", "tmpfs", "-o", "size=1m", "tmpfs", directory]))
        defer { _ = Self.succeeds("/bin/umount", [directory]) }
        let prompts = try Self.tenants()
        var tiers = try Self.configuration(.disk, directory: directory)
        tiers.diskBytes = 900 << 10
        let plain = try EngineCoreTests.engine(kvBlocks: 24)
        let tiered = try EngineCoreTests.engine(kvBlocks: 24, tiers: tiers)
        // The first round's evictions fit; then a ballast file fills the disk.
        let expected = try Self.runEach(plain, prompts, round: 0)
        #expect(try Self.runEach(tiered, prompts, round: 0) == expected)
        tiered.tiers!.waitForWrites()
        let ballast = open(directory + "/ballast", O_WRONLY | O_CREAT, 0o644)
        let page = [UInt8](repeating: 1, count: 4096)
        while write(ballast, page, page.count) == page.count {}
        close(ballast)
        #expect(try Self.runEach(tiered, prompts, round: 1) == expected)
        #expect(try Self.runEach(tiered, prompts.reversed(), round: 2) == expected.reversed())
        let stats = tiered.stats.kvTiers!
        #expect(stats.disk.writeFailures >= 1, "\(stats)")
        #expect(stats.disk.hits > 0, "blocks written before the disk filled still load: \(stats)")
        tiered.shutDownTiers()
    }
}
