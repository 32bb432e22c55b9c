import ArgumentParser
import CPUBackend
import Engine
import Logging
import Models
import SwerveCore

/// The engine's flags, with vLLM's names and meanings (shared by `serve` and `bench throughput`).
struct EngineOptions: ParsableArguments {
    @OptionGroup var run: RunOptions

    @Option(help: "Most sequences in one step (vLLM's --max-num-seqs).")
    var maxNumSeqs = 256

    @Option(help: "Most tokens in one step, prefill chunks and decodes together.")
    var maxNumBatchedTokens = 2048

    @Flag(inversion: .prefixedNo, help: "Split long prompts across steps so running decodes keep flowing.")
    var enableChunkedPrefill = true

    @Flag(inversion: .prefixedNo, help: "Reuse the KV blocks of prompt prefixes seen before.")
    var enablePrefixCaching = true

    @Option(help: "Tokens per KV cache block (a multiple of 8).")
    var blockSize = 16

    @Option(help: "KV cache size in bytes (default: 4 GiB on CPU, like vLLM's VLLM_CPU_KVCACHE_SPACE).")
    var kvCacheMemory: Int?

    @Option(help: "Share of the device's memory for weights + KV cache (on CPU, of physical RAM).")
    var gpuMemoryUtilization: Double?

    @Option(help: "KV cache element type: auto (f16), f16 or q8_0 (half the memory).")
    var kvCacheDtype = "auto"

    func validate() throws {
        guard maxNumSeqs >= 1, maxNumBatchedTokens >= 1 else {
            throw ValidationError("--max-num-seqs and --max-num-batched-tokens must be at least 1")
        }
        guard kvCacheType != nil else { throw ValidationError("--kv-cache-dtype must be auto, f16 or q8_0") }
    }

    var kvCacheType: KVCacheType? { kvCacheDtype == "auto" ? .f16 : KVCacheType(rawValue: kvCacheDtype) }

    func configuration(_ model: ModelFile) -> EngineConfiguration {
        EngineConfiguration(
            maxModelLen: run.contextLength(model),
            maxNumSeqs: maxNumSeqs,
            maxNumBatchedTokens: maxNumBatchedTokens,
            enableChunkedPrefill: enableChunkedPrefill,
            enablePrefixCaching: enablePrefixCaching,
            blockSize: blockSize,
            kvCacheMemory: kvCacheMemory,
            gpuMemoryUtilization: gpuMemoryUtilization,
            kvCacheDType: kvCacheType ?? .f16
        )
    }

    /// The engine core on a CPU backend, its KV plan logged.
    func makeEngine(_ model: ModelFile, logger: Logger) throws -> (EngineCore, CPUBackend) {
        let backend = CPUBackend(threads: run.threads)
        let engine = try EngineCore(model: model, backend: backend, configuration: configuration(model))
        logger.info("\(engine.plan)")
        return (engine, backend)
    }
}
