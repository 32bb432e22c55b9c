import AllocationCounter
import CPUBackend
import GGUF
import Models
import TestSupport
import Testing

/// The decode loop allocates nothing: malloc and friends are interposed for the test process
/// (Tests/AllocationCounter) and counted on this thread and on every backend worker thread while decode
/// steps run.
@Suite struct AllocationTests {
    @Test(arguments: ["llama", "gemma3"])
    func decodeStepsAllocateNothing(architecture: String) throws {
        let gguf = architecture == "llama" ? try SyntheticModel.llama() : try SyntheticModel.gemma3()
        let backend = CPUBackend(threads: 2)
        let forward = try ModelRegistry.makeForward(gguf: gguf, backend: backend, maxBatch: 16)
        let cache = forward.makeCache(capacity: 64)
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
        let prompt: [Int32] = [1, 2, 3, 4, 5, 6, 7, 8]
        prompt.withUnsafeBufferPointer { ids in
            logits.withUnsafeMutableBufferPointer { forward.forward(ids, firstPosition: 0, cache: cache, logits: $0) }
        }
        step(8)  // warm-up: first use of a single-row RoPE table
        backend.onEveryThread { allocation_counter_track_thread(1) }
        let before = allocation_counter_total()
        for position in 9..<40 { step(position) }
        let after = allocation_counter_total()
        backend.onEveryThread { allocation_counter_track_thread(0) }
        #expect(after - before == 0, "\(architecture): \(after - before) allocations in 31 decode steps")
    }
}
