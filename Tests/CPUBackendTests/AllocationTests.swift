import AllocationCounter
import CPUBackend
import GGUF
import Models
import SwerveCore
import TestSupport
import Testing

/// The decode loop allocates nothing: malloc and friends are interposed for the test process
/// (Tests/AllocationCounter) and counted on this thread and on every backend worker thread while decode
/// steps run. Serialized: a counter slot is one total over every thread tracked into it, so two cases
/// measuring at once would count each other's allocations (other suites use other slots).
@Suite(.serialized, .enabled(if: allocation_counter_is_active() != 0, "a sanitizer owns malloc")) struct AllocationTests
{
    static let slot: Int32 = 1

    @Test(arguments: ["llama", "gemma3"])
    func decodeStepsAllocateNothing(architecture: String) throws {
        let gguf = architecture == "llama" ? try SyntheticModel.llama() : try SyntheticModel.gemma3()
        let backend = CPUBackend(threads: 2)
        let forward = try ModelRegistry.makeForward(gguf: gguf, backend: backend, maxBatch: 16)
        let cache = forward.makeCache(capacity: 256)
        var logits = [Float](repeating: 0, count: forward.config.vocabularySize)
        var token: Int32 = 5
        func step(_ position: Int) {
            withUnsafePointer(to: token) { pointer in
                logits.withUnsafeMutableBufferPointer { out in
                    forward.forward(
                        UnsafeBufferPointer(start: pointer, count: 1),
                        firstPosition: position,
                        cache: cache,
                        logits: out
                    )
                }
            }
            token = (token * 7 + 3) % 60
        }
        // A long prompt: decode rows deal their heads out to the threads in ranges.
        let prompt = (0..<140).map { Int32($0 % 50 + 1) }
        prompt.withUnsafeBufferPointer { ids in
            logits.withUnsafeMutableBufferPointer { forward.forward(ids, firstPosition: 0, cache: cache, logits: $0) }
        }
        step(140)  // warm-up: first use of a single-row RoPE table
        backend.onEveryThread { allocation_counter_track_thread(Self.slot) }
        let before = allocation_counter_total(Self.slot)
        for position in 141..<172 { step(position) }
        let after = allocation_counter_total(Self.slot)
        backend.onEveryThread { allocation_counter_track_thread(0) }
        #expect(after - before == 0, "\(architecture): \(after - before) allocations in 31 decode steps")
    }

    /// A batched step allocates nothing either: three sequences decoding while a fourth prefills in chunks
    /// of 5, over one paged pool, every other step with the output head restricted to some columns (the
    /// grammar-sparse head), on the backend's threads and the caller's.
    @Test(arguments: ["llama", "gemma3"])
    func batchedStepsAllocateNothing(architecture: String) throws {
        let gguf = architecture == "llama" ? try SyntheticModel.llama() : try SyntheticModel.gemma3()
        let backend = CPUBackend(threads: 2)
        let forward = try ModelRegistry.makeForward(gguf: gguf, backend: backend, maxBatch: 16, maxSequences: 4)
        let blockSize = 16
        let kv = forward.makeKVCache(blocks: 4 * 16, blockSize: blockSize)
        let tables = (0..<4).map { Array(($0 * 16)..<(($0 + 1) * 16)) }
        let layout = BatchLayout(blockSize: blockSize)
        let vocabulary = forward.config.vocabularySize
        layout.reserve(rows: 16, sequences: 4, blocks: 64, headColumns: vocabulary)
        var logits = [Float](repeating: 0, count: 4 * vocabulary)
        var mask = [UInt64](repeating: 0, count: (vocabulary + 63) / 64)
        for token in stride(from: 3, to: vocabulary, by: 7) { mask[token / 64] |= 1 << UInt64(token % 64) }
        var positions = [8, 8, 8, 0]
        var tokens: [Int32] = [5, 6, 7, 8, 9, 10, 11, 12]
        // Prompts of 8 tokens for the three decoding sequences.
        for s in 0..<3 {
            layout.reset()
            tokens.withUnsafeBufferPointer {
                layout.append($0, firstPosition: 0, blockTable: tables[s][...], logits: true)
            }
            logits.withUnsafeMutableBufferPointer { forward.forward(layout, cache: kv, logits: $0) }
        }
        func step(_ index: Int) {
            layout.reset()
            for s in 0..<3 {
                withUnsafePointer(to: tokens[s]) { token in
                    layout.append(
                        UnsafeBufferPointer(start: token, count: 1),
                        firstPosition: positions[s],
                        blockTable: tables[s][...],
                        logits: true
                    )
                }
                positions[s] += 1
            }
            tokens.withUnsafeBufferPointer { ids in
                layout.append(
                    UnsafeBufferPointer(rebasing: ids[0..<5]),
                    firstPosition: positions[3],
                    blockTable: tables[3][...],
                    logits: true
                )
            }
            positions[3] += 5
            if index % 2 == 1 { mask.withUnsafeBufferPointer { layout.restrictHead(to: $0) } }
            logits.withUnsafeMutableBufferPointer { forward.forward(layout, cache: kv, logits: $0) }
            for s in 0..<4 { tokens[s] = Int32((Int(tokens[s]) * 7 + 3) % 60) }
        }
        step(0)  // warm-up: first use of multi-row RoPE tables and of the restricted head
        step(1)
        step(2)
        step(3)
        backend.onEveryThread { allocation_counter_track_thread(Self.slot) }
        let before = allocation_counter_total(Self.slot)
        for index in 4..<34 {
            if positions[3] + 5 > 16 * blockSize { positions[3] = 0 }
            step(index)
        }
        let after = allocation_counter_total(Self.slot)
        backend.onEveryThread { allocation_counter_track_thread(0) }
        #expect(after - before == 0, "\(architecture): \(after - before) allocations in 30 batched steps")
    }
}
