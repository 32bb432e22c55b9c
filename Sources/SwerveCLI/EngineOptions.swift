import ArgumentParser
import Bench
import Engine
import Foundation
import Logging
import ModelStore
import Models
import SwerveCore

/// The engine's flags, with vLLM's names and meanings (shared by `serve` and `bench throughput`), grouped
/// in `--help` as vLLM groups them.
struct EngineOptions: ParsableArguments {
    @OptionGroup(title: "ModelConfig and CPU") var run: RunOptions
    @OptionGroup(title: "CacheConfig") var cache: CacheOptions
    @OptionGroup(title: "SchedulerConfig") var scheduler: SchedulerOptions
    @OptionGroup(title: "StructuredOutputsConfig") var structured: StructuredOutputsOptions
    @OptionGroup(title: "SpeculativeConfig") var speculative: SpeculativeOptions

    func configuration(_ model: ModelFile) -> EngineConfiguration {
        EngineConfiguration(
            maxModelLen: run.contextLength(model),
            maxNumSeqs: scheduler.maxNumSeqs,
            maxNumBatchedTokens: scheduler.maxNumBatchedTokens,
            enableChunkedPrefill: scheduler.enableChunkedPrefill,
            enablePrefixCaching: cache.enablePrefixCaching,
            blockSize: cache.blockSize,
            kvCacheMemory: cache.kvCacheMemory,
            gpuMemoryUtilization: cache.gpuMemoryUtilization,
            kvCacheDType: cache.kvCacheType ?? .f16,
            jumpForward: structured.enableJumpForward,
            maxWaitingRequests: scheduler.maxWaitingRequests > 0 ? scheduler.maxWaitingRequests : nil,
            speculative: speculative.config
        )
    }

    /// The engine core on the `--device` backend, its KV plan logged. Speculative decoding without
    /// `disable_by_batch_size` gets where a step turns compute-bound on this backend, measured now.
    func makeEngine(_ model: ModelFile, logger: Logger) throws -> (EngineCore, any Backend & BackendLimits) {
        let backend = try run.makeBackend()
        var configuration = configuration(model)
        configuration.kvTiers = try cache.tiers(model)
        if let spec = configuration.speculative?.model {
            // A draft model named as `--model` is: a path, or a built-in or hf:// name in the store.
            guard let path = try ModelStore().localPath(spec) else {
                throw ValidationError(
                    "--speculative-config draft model '\(spec)' is not in the model store: fetch it with `swerve pull \(spec)`"
                )
            }
            configuration.speculative?.model = path
        }
        if var speculative = configuration.speculative, speculative.disableByBatchSize == nil {
            let work = DecodeWork(model.gguf)
            let bandwidth = backend.measureReadBandwidth(bytes: work.weightBytes, passes: 5)
            let peak = backend.measureInt8Peak(passes: 3)
            let rows = work.computeBoundRows(bandwidth: bandwidth, peak: peak)
            if rows < Int.max {
                speculative.disableByBatchSize = rows
                configuration.speculative = speculative
                logger.info(
                    """
                    speculative decoding: drafts in steps of at most \(rows) running sequences, where a step turns \
                    compute-bound here (weights read at \(Int(bandwidth / 1e9)) GB/s, int8 at \(Int(peak / 1e9)) \
                    GOPS); set disable_by_batch_size to change it
                    """
                )
            }
        }
        let engine = try EngineCore(model: model, backend: backend, configuration: configuration)
        logger.info("backend: \(backend.description); repacked weights: \(backend.packedBytes / 1_048_576) MiB")
        logger.info("\(engine.plan)")
        if let tiers = engine.tiers {
            let stats = tiers.stats
            logger.info(
                "KV tiers: host \(tiers.configuration.hostBytes >> 20) MiB, disk \(tiers.directory?.path ?? "none") (\(tiers.configuration.diskBytes >> 20) MiB, \(stats.disk.blocks) blocks found, \(stats.dropped) dropped); \(tiers.blockBytes >> 10) KiB per block"
            )
        }
        return (engine, backend)
    }
}

/// vLLM's CacheConfig flags: block size, KV cache size and type, prefix caching.
struct CacheOptions: ParsableArguments {
    @Option(help: "Tokens per KV cache block (a multiple of 8).")
    var blockSize = 16

    @Option(help: "KV cache size in bytes (default: 4 GiB on CPU, like vLLM's VLLM_CPU_KVCACHE_SPACE).")
    var kvCacheMemory: Int?

    @Option(help: "Share of the device's memory for weights + KV cache (on CPU, of physical RAM).")
    var gpuMemoryUtilization: Double?

    @Option(help: "KV cache element type: auto (f16), f16/fp16 or q8_0 (half the memory).")
    var kvCacheDtype = "auto"

    @Flag(inversion: .prefixedNo, help: "Reuse the KV blocks of prompt prefixes seen before.")
    var enablePrefixCaching = true

    @Option(
        help: ArgumentHelp(
            "GiB of host memory for cached KV blocks evicted from the pool, loaded back instead of recomputed "
                + "(vLLM's CPU offloading; least recently used first). Default: none."
        )
    )
    var kvOffloadingSize: Double?

    @Option(help: "The offloading tier's implementation: native (vLLM's 'lmcache' is not available here).")
    var kvOffloadingBackend = "native"

    @Option(
        help: ArgumentHelp(
            "Swerve's own (not a vLLM flag): a directory for a disk tier below the host tier; blocks written "
                + "there survive restarts (a graceful stop writes the cached blocks too)."
        )
    )
    var kvDiskPath: String?

    @Option(help: "Swerve's own (not a vLLM flag): GiB the disk tier may use (default 10).")
    var kvDiskSize: Double?

    func validate() throws {
        for (flag, value) in [("--kv-offloading-size", kvOffloadingSize), ("--kv-disk-size", kvDiskSize)] {
            if let value, !(value >= 0 && value.isFinite) { throw ValidationError("\(flag) must be a size in GiB ≥ 0") }
        }
        let memory = Double(EngineConfiguration.physicalMemory) / Double(1 << 30)
        if let size = kvOffloadingSize, size > memory {
            throw ValidationError(
                "--kv-offloading-size \(size) GiB is more than this machine's \(Int(memory)) GiB of memory"
            )
        }
        // Far past any disk, and past what a byte count holds.
        if let size = kvDiskSize, size > Double(1 << 30) {
            throw ValidationError("--kv-disk-size \(size) GiB is more than any disk holds")
        }
        guard kvOffloadingBackend == "native" else {
            throw ValidationError(
                "--kv-offloading-backend \(kvOffloadingBackend) is not available: only native (Swerve's host tier)"
            )
        }
        if kvDiskSize != nil && kvDiskPath == nil { throw ValidationError("--kv-disk-size needs --kv-disk-path") }
        if (kvOffloadingSize ?? 0) > 0 || kvDiskPath != nil, !enablePrefixCaching {
            throw ValidationError("--kv-offloading-size and --kv-disk-path need prefix caching")
        }
        if let kvDiskPath {
            do {
                try KVTierStore.prepare(URL(fileURLWithPath: kvDiskPath), path: kvDiskPath)
            } catch {
                throw ValidationError(error.description)
            }
        }
        guard kvCacheType != nil else {
            if kvCacheDtype.hasPrefix("fp8") {
                throw ValidationError(
                    "--kv-cache-dtype \(kvCacheDtype) is a GPU format this CPU build cannot store; "
                        + "q8_0 halves the cache as fp8 would"
                )
            }
            throw ValidationError("--kv-cache-dtype must be auto, f16, fp16 or q8_0")
        }
    }

    /// The lower tiers for `model` (its digest names it in every stored block); nil without
    /// `--kv-offloading-size` or `--kv-disk-path`.
    func tiers(_ model: ModelFile) throws -> KVTierConfiguration? {
        let host = Int((kvOffloadingSize ?? 0) * Double(1 << 30))
        guard host > 0 || kvDiskPath != nil else { return nil }
        return KVTierConfiguration(
            hostBytes: host,
            diskPath: kvDiskPath,
            diskBytes: kvDiskPath == nil ? 0 : Int((kvDiskSize ?? 10) * Double(1 << 30)),
            modelDigest: try ModelStore.digest(of: model.path)
        )
    }

    var kvCacheType: KVCacheType? {
        switch kvCacheDtype {
        case "auto", "fp16", "float16": .f16
        default: KVCacheType(rawValue: kvCacheDtype)
        }
    }
}

/// vLLM's SchedulerConfig flags: batch limits and chunked prefill.
struct SchedulerOptions: ParsableArguments {
    @Option(help: "Most sequences in one step (vLLM's --max-num-seqs).")
    var maxNumSeqs = 256

    @Option(help: "Most tokens in one step, prefill chunks and decodes together.")
    var maxNumBatchedTokens = 2048

    @Flag(inversion: .prefixedNo, help: "Split long prompts across steps so running decodes keep flowing.")
    var enableChunkedPrefill = true

    @Option(help: "Requests queued but not yet scheduled past which new ones get a 503 with Retry-After (0: no bound).")
    var maxWaitingRequests = 4096

    func validate() throws {
        guard maxNumSeqs >= 1, maxNumBatchedTokens >= 1 else {
            throw ValidationError("--max-num-seqs and --max-num-batched-tokens must be at least 1")
        }
        // vLLM's rule: every running sequence gets a token of each step.
        guard maxNumBatchedTokens >= maxNumSeqs else {
            throw ValidationError(
                "--max-num-batched-tokens (\(maxNumBatchedTokens)) must be at least --max-num-seqs (\(maxNumSeqs))"
            )
        }
        guard maxWaitingRequests >= 0 else { throw ValidationError("--max-waiting-requests must be at least 0") }
    }
}

/// Structured outputs: jump-forward decoding (vLLM has no such flag; SGLang's name for the technique).
struct StructuredOutputsOptions: ParsableArguments {
    @Flag(
        inversion: .prefixedNo,
        help: ArgumentHelp(
            "Append the tokens a structured-output grammar forces without a decode step each (verified, so answers "
                + "equal masked decoding)."
        )
    )
    var enableJumpForward = true
}

/// vLLM's `--speculative-config` (a JSON object): `{"method":"ngram","num_speculative_tokens":5,
/// "prompt_lookup_max":4,"prompt_lookup_min":2}`; refused at startup, naming the field, when it cannot
/// take effect.
struct SpeculativeOptions: ParsableArguments {
    @Option(
        help: ArgumentHelp(
            "Draft tokens, verified so outputs are unchanged (vLLM's JSON; method \"ngram\": "
                + "num_speculative_tokens, prompt_lookup_max, prompt_lookup_min; \"suffix\": suffix_decoding_*; "
                + "\"draft_model\": model (a GGUF path or model name of the same vocabulary), "
                + "num_speculative_tokens; all: disable_by_batch_size, by default where a step turns compute-bound "
                + "on this machine)."
        )
    )
    var speculativeConfig: String?

    func validate() throws {
        guard let json = speculativeConfig else { return }
        do { _ = try SpeculativeConfig(json: json) } catch { throw ValidationError(error.description) }
    }

    /// The parsed configuration (validated already).
    var config: SpeculativeConfig? { speculativeConfig.flatMap { try? SpeculativeConfig(json: $0) } }
}
