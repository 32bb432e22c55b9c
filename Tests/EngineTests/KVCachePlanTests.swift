import Engine
import SwerveCore
import Testing

/// Sizing the KV pool from `--kv-cache-memory` or `--gpu-memory-utilization`, and refusing a pool that
/// cannot hold one `--max-model-len` sequence.
@Suite struct KVCachePlanTests {
    // SmolLM2's f16 KV: 30 layers × 2 × 192 values × 2 bytes.
    static let bytesPerToken = 23_040

    @Test func bytesGiveWholeBlocks() throws {
        let plan = try KVCachePlan(
            EngineConfiguration(kvCacheMemory: 64 << 20),
            maxModelLen: 512,
            bytesPerToken: Self.bytesPerToken,
            weightBytes: 100 << 20
        )
        #expect(plan.blocks == (64 << 20) / (Self.bytesPerToken * 16))
        #expect(plan.tokens == plan.blocks * 16 && plan.bytes <= 64 << 20)
        #expect(plan.description.contains("\(plan.blocks) blocks of 16 tokens"))
        #expect(plan.description.contains("maximum concurrency for 512 tokens per request: 5.69x"))
    }

    @Test func utilizationIsAShareOfMemoryLessTheWeights() throws {
        let plan = try KVCachePlan(
            EngineConfiguration(gpuMemoryUtilization: 0.5),
            maxModelLen: 512,
            bytesPerToken: Self.bytesPerToken,
            weightBytes: 100 << 20,
            physicalMemory: 1 << 30
        )
        #expect(plan.blocks == ((1 << 29) - (100 << 20)) / (Self.bytesPerToken * 16))
        // Q8_0 halves a token's bytes, so the same memory holds about twice the tokens.
        let q8 = try KVCachePlan(
            EngineConfiguration(kvCacheMemory: 64 << 20, kvCacheDType: .q8_0),
            maxModelLen: 512,
            bytesPerToken: KVCacheType.q8_0.bytesPerToken(layers: 30, width: 192),
            weightBytes: 0
        )
        #expect(q8.tokens > 2 * (64 << 20) / Self.bytesPerToken * 9 / 10)
    }

    @Test func refusesWhatCannotHoldOneSequence() {
        #expect(throws: EngineError.self) {
            try KVCachePlan(
                EngineConfiguration(kvCacheMemory: 1 << 20),
                maxModelLen: 2048,
                bytesPerToken: Self.bytesPerToken,
                weightBytes: 0
            )
        }
        do {
            _ = try KVCachePlan(
                EngineConfiguration(gpuMemoryUtilization: 0.1),
                maxModelLen: 512,
                bytesPerToken: Self.bytesPerToken,
                weightBytes: 200 << 20,
                physicalMemory: 1 << 30
            )
            Issue.record("a pool smaller than the weights was accepted")
        } catch {
            #expect(error.description.contains("--max-model-len 512"))
            #expect(error.description.contains("--gpu-memory-utilization"))
        }
        #expect(throws: EngineError.self) {
            try KVCachePlan(EngineConfiguration(blockSize: 12), maxModelLen: 16, bytesPerToken: 1, weightBytes: 0)
        }
    }
}
