import CPUBackend
import Engine
import GGUF
import Models
import SwerveCore
import TestSupport
import Testing

/// The engine end to end on tiny synthetic models (real kernels, paged KV, one forward per step): batching,
/// chunked prefill, preemption and 8-bit KV must not change a greedy output, and every sampling control
/// does what vLLM's does.
@Suite struct EngineCoreTests {
    enum Model: String, CaseIterable {
        case llama
        case gemma3

        func gguf() throws -> GGUFFile { self == .llama ? try SyntheticModel.llama() : try SyntheticModel.gemma3() }
    }

    static func engine(
        _ model: Model = .llama,
        maxNumSeqs: Int = 64,
        maxNumBatchedTokens: Int = 256,
        chunked: Bool = true,
        prefixCaching: Bool = true,
        kvBlocks: Int = 256,
        kvType: KVCacheType = .f16,
        backend: any Backend = CPUBackend(threads: 2),
        speculative: SpeculativeConfig? = nil,
        maxSpeculativeBatch: Int = 4,
        tiers: KVTierConfiguration? = nil
    ) throws -> EngineCore {
        let gguf = try model.gguf()
        let config = try ModelRegistry.config(of: gguf)
        let bytesPerToken = kvType.bytesPerToken(
            layers: config.blockCount,
            width: config.headCountKV * config.headDimension
        )
        return try EngineCore(
            gguf: gguf,
            tokenizer: LetterTokenizer(vocabularySize: config.vocabularySize),
            backend: backend,
            configuration: EngineConfiguration(
                maxModelLen: 256,
                maxNumSeqs: maxNumSeqs,
                maxNumBatchedTokens: maxNumBatchedTokens,
                enableChunkedPrefill: chunked,
                enablePrefixCaching: prefixCaching,
                kvCacheMemory: kvBlocks * 16 * bytesPerToken,
                kvCacheDType: kvType,
                maxJumpForwardBatch: maxSpeculativeBatch,
                speculative: speculative
            ).with(tiers: tiers)
        )
    }

    /// Prompts of 3–90 tokens, a third of them sharing a 40-token prefix.
    static func prompts(_ count: Int, vocabulary: Int, seed: UInt64 = 7) -> [[Int32]] {
        var random = SeededRandom(seed: seed)
        let shared = (0..<40).map { _ in Int32.random(in: 1..<Int32(vocabulary), using: &random) }
        return (0..<count).map { i in
            let own = (0..<Int.random(in: 3...50, using: &random)).map { _ in
                Int32.random(in: 1..<Int32(vocabulary), using: &random)
            }
            return i % 3 == 0 ? shared + own : own
        }
    }

    /// Every request's tokens and finish reason, run together on `engine`.
    static func run(
        _ engine: EngineCore,
        _ prompts: [[Int32]],
        _ parameters: SamplingParameters = SamplingParameters(maxTokens: 10)
    ) throws -> [String: ([Int32], FinishReason?)] {
        for (i, prompt) in prompts.enumerated() {
            try engine.add(EngineRequest(id: "\(i)", prompt: prompt, parameters: parameters))
        }
        var results: [String: ([Int32], FinishReason?)] = [:]
        var steps = 0
        while engine.hasWork && steps < 5000 {
            steps += 1
            for output in engine.step() {
                results[output.requestID, default: ([], nil)].0 += output.tokenIDs
                if output.isFinished { results[output.requestID]!.1 = output.finishReason }
            }
        }
        #expect(!engine.hasWork, "the engine made no progress")
        return results
    }

    /// Each prompt run alone on a fresh engine of the same model and KV type.
    static func alone(
        _ model: Model,
        _ prompts: [[Int32]],
        _ parameters: SamplingParameters = SamplingParameters(maxTokens: 10),
        kvType: KVCacheType = .f16
    ) throws -> [[Int32]] {
        let engine = try engine(model, maxNumSeqs: 1, prefixCaching: false, kvType: kvType)
        return try prompts.map { try run(engine, [$0], parameters).values.first!.0 }
    }

    static func vocabulary(_ model: Model) throws -> Int { try ModelRegistry.config(of: model.gguf()).vocabularySize }

    @Test(arguments: [(1, true), (8, true), (8, false), (64, true), (64, false)])
    func concurrentGreedyOutputsEqualEachAlone(count: Int, chunked: Bool) throws {
        let prompts = Self.prompts(count, vocabulary: try Self.vocabulary(.llama))
        let expected = try Self.alone(.llama, prompts)
        #expect(expected.joined().count > prompts.count * 5, "outputs long enough to tell runs apart")
        // Chunked: at most 48 tokens a step, so long prompts are split across steps among running decodes.
        let engine = try Self.engine(maxNumBatchedTokens: chunked ? 48 : 256, chunked: chunked)
        let results = try Self.run(engine, prompts)
        for i in prompts.indices { #expect(results["\(i)"]?.0 == expected[i], "request \(i) of \(count)") }
        #expect(engine.stats.kvCacheUsage == 0)
    }

    @Test func preemptionByATinyPoolKeepsOutputs() throws {
        let prompts = Self.prompts(24, vocabulary: try Self.vocabulary(.llama))
        let parameters = SamplingParameters(maxTokens: 24, ignoreEOS: true)
        let expected = try Self.alone(.llama, prompts, parameters)
        // 17 blocks of 16: one 256-token sequence fits, 24 concurrent ones do not.
        let engine = try Self.engine(maxNumBatchedTokens: 64, kvBlocks: 17)
        let results = try Self.run(engine, prompts, parameters)
        for i in prompts.indices { #expect(results["\(i)"]?.0 == expected[i], "request \(i)") }
        #expect(engine.stats.preemptions > 0)
    }

    @Test(arguments: [true, false])
    func eightBitKVBatchedEqualsItselfAlone(chunked: Bool) throws {
        // Gemma 3: head size 64 (Q8_0 needs multiples of 32), sliding-window layers read through pages too.
        let prompts = Self.prompts(8, vocabulary: try Self.vocabulary(.gemma3))
        let expected = try Self.alone(.gemma3, prompts, kvType: .q8_0)
        let engine = try Self.engine(.gemma3, maxNumBatchedTokens: chunked ? 40 : 256, chunked: chunked, kvType: .q8_0)
        let results = try Self.run(engine, prompts)
        for i in prompts.indices { #expect(results["\(i)"]?.0 == expected[i], "request \(i)") }
    }

    /// A step budget whose activations could not fit in this machine's memory is refused with the flag and
    /// the size, not a failed allocation that stops the process; one that fits builds.
    @Test func aStepBudgetPastTheMachinesMemoryIsRefused() throws {
        let tokens = EngineConfiguration.physicalMemory / 64  // far more than 64 bytes of activations a row
        #expect {
            try Self.engine(maxNumSeqs: 64, maxNumBatchedTokens: tokens)
        } throws: {
            "\($0)".contains("--max-num-batched-tokens \(tokens) needs about")
        }
        _ = try Self.engine(maxNumSeqs: 64, maxNumBatchedTokens: 4096)
    }

    @Test func prefixCachingOffGivesTheSameOutputs() throws {
        let prompts = Self.prompts(12, vocabulary: try Self.vocabulary(.llama))
        let on = try Self.engine()
        let off = try Self.engine(prefixCaching: false)
        let a = try Self.run(on, prompts)
        let b = try Self.run(off, prompts)
        for i in prompts.indices { #expect(a["\(i)"]?.0 == b["\(i)"]?.0) }
        #expect(on.stats.prefixCacheHits > 0 && off.stats.prefixCacheHits == 0)
    }
}

extension EngineConfiguration {
    func with(tiers: KVTierConfiguration?) -> EngineConfiguration {
        var configuration = self
        configuration.kvTiers = tiers
        return configuration
    }
}
