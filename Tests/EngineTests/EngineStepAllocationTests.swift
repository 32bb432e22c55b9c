import AllocationCounter
import CPUBackend
import Engine
import Grammar
import Models
import SwerveCore
import TestSupport
import Testing

/// What a batched `EngineCore.step` allocates (malloc interposed by Tests/AllocationCounter, counted on
/// this thread and the backend's workers), in steady state: nothing. The forward pass allocates nothing
/// (CPUBackendTests.AllocationTests); the step's tables, the batch's entries and token buffer, each
/// sequence's sampled tokens and the returned outputs reuse last step's memory once the caller lets go of
/// it; outputs, KV block tables and key chains are sized once, when a request is added. The one exception
/// is the prefix cache: each KV block a step fills gets a cache key holding its tokens (one allocation per
/// block, not per step), so with prefix caching on the bound is the blocks the window filled.
@Suite(.serialized, .enabled(if: allocation_counter_is_active() != 0, "a sanitizer owns malloc"))
struct EngineStepAllocationTests {
    /// Its own counter slot: CPUBackendTests.AllocationTests may measure at the same time.
    static let slot: Int32 = 2

    /// Allocations in `steps` steps of `engine` on `backend`, the outputs they returned, and the KV blocks
    /// they filled (each running sequence's full blocks after less before).
    static func window(
        _ engine: EngineCore,
        _ backend: CPUBackend,
        steps: Int
    ) -> (allocations: Int64, outputs: Int, blocksFilled: Int) {
        func fullBlocks() -> Int {
            let blockSize = engine.scheduler.blocks.blockSize
            return engine.scheduler.requests.values.reduce(0) { $0 + $1.computed / blockSize }
        }
        let blocksBefore = fullBlocks()
        var outputs = 0
        backend.onEveryThread { allocation_counter_track_thread(slot) }
        let before = allocation_counter_total(slot)
        for _ in 0..<steps { outputs += engine.step().count }
        let after = allocation_counter_total(slot)
        backend.onEveryThread { allocation_counter_track_thread(0) }
        return (after - before, outputs, fullBlocks() - blocksBefore)
    }

    @Test(arguments: [EngineCoreTests.Model.llama, .gemma3], [false, true])
    func batchedDecodeStepsAllocateNothing(model: EngineCoreTests.Model, prefixCaching: Bool) throws {
        let backend = CPUBackend(threads: 2)
        let engine = try EngineCoreTests.engine(model, prefixCaching: prefixCaching, backend: backend)
        let sequences = 4
        var parameters = SamplingParameters(maxTokens: 120)
        parameters.ignoreEOS = true
        parameters.temperature = 0.8
        parameters.seed = 3
        for (i, prompt) in EngineCoreTests.prompts(sequences, vocabulary: 60).enumerated() {
            try engine.add(EngineRequest(id: "r\(i)", prompt: prompt, parameters: parameters))
        }
        // Prefill everything and warm every table up: after this, every step decodes all four.
        for _ in 0..<12 { _ = engine.step() }
        for _ in 0..<3 {
            let steps = 20
            let window = Self.window(engine, backend, steps: steps)
            #expect(window.outputs == steps * sequences)
            let bound = prefixCaching ? Int64(window.blocksFilled) : 0
            #expect(
                window.allocations <= bound,
                "\(model), prefix caching \(prefixCaching): \(window.allocations) allocations in \(steps) steps"
            )
        }
    }

    /// A step mixing a long prompt's prefill chunks, sampled decodes and a grammar-constrained decode (the
    /// token mask, the grammar's position, the sparse head) allocates nothing either.
    @Test(arguments: [false, true])
    func mixedPrefillDecodeAndConstrainedStepsAllocateNothing(prefixCaching: Bool) throws {
        let backend = CPUBackend(threads: 2)
        let gguf = try EngineCoreTests.Model.llama.gguf()
        let config = try ModelRegistry.config(of: gguf)
        let engine = try EngineCore(
            gguf: gguf,
            tokenizer: ByteTokenizer(vocabularySize: config.vocabularySize),
            backend: backend,
            configuration: EngineConfiguration(
                maxModelLen: 256,
                maxNumSeqs: 8,
                // Four decodes and twelve prompt tokens per step: the long prompt takes ~17 steps.
                maxNumBatchedTokens: 16,
                enablePrefixCaching: prefixCaching,
                kvCacheMemory: 128 * 16 * config.blockCount * config.headCountKV * config.headDimension * 2
            )
        )
        var sampled = SamplingParameters(maxTokens: 200)
        sampled.ignoreEOS = true
        sampled.temperature = 0.8
        sampled.seed = 5
        var constrained = SamplingParameters(maxTokens: 200)
        constrained.constraint = try engine.constraints.constraint(.regex("[a-z]{150}"))
        // A first answer walks the grammar's states once, building what every request of this constraint
        // shares (each state's token mask, its transitions, the jump-forward statistics); the measured one
        // takes the same path.
        try engine.add(EngineRequest(id: "c0", prompt: [5, 6, 7], parameters: constrained))
        _ = engine.runToCompletion()
        try engine.add(EngineRequest(id: "c", prompt: [5, 6, 7], parameters: constrained))
        for i in 0..<3 {
            try engine.add(EngineRequest(id: "d\(i)", prompt: [Int32(3 + i), 9, 14], parameters: sampled))
        }
        for _ in 0..<10 { _ = engine.step() }
        let long = (0..<200).map { Int32(1 + ($0 * 7) % 90) }
        try engine.add(EngineRequest(id: "long", prompt: long, parameters: SamplingParameters(maxTokens: 4)))
        // Its first chunk (admission: its block table, its key chain) is not steady state.
        for _ in 0..<2 { _ = engine.step() }
        let steps = 12
        let window = Self.window(engine, backend, steps: steps)
        #expect(window.outputs == steps * 4, "four decodes a step, the long prompt still prefilling")
        #expect(engine.scheduler.running.count == 5)
        let bound = prefixCaching ? Int64(window.blocksFilled) : 0
        #expect(window.allocations <= bound, "prefix caching \(prefixCaching): \(window.allocations) allocations")
    }
}
