import Models
import SwerveCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The engine's knobs, with vLLM's flag names and defaults (`--max-num-seqs` 256, `--block-size` 16,
/// chunked prefill and prefix caching on).
public struct EngineConfiguration: Sendable, Equatable {
    /// Longest sequence (prompt plus output); nil: the model's context length.
    public var maxModelLen: Int?
    public var maxNumSeqs: Int
    public var maxNumBatchedTokens: Int
    public var enableChunkedPrefill: Bool
    public var enablePrefixCaching: Bool
    public var blockSize: Int
    /// KV cache size in bytes (`--kv-cache-memory`); wins over `gpuMemoryUtilization`.
    public var kvCacheMemory: Int?
    /// Share of the device's memory (on CPU, of physical RAM) for weights plus KV cache.
    public var gpuMemoryUtilization: Double?
    public var kvCacheDType: KVCacheType
    /// Jump-forward decoding under a structured-output constraint: text the grammar forces is proposed as
    /// draft tokens, verified in the next forward pass (so the output equals masked decoding), and tokens
    /// that are the only ones the grammar allows are appended without a forward pass for them.
    public var jumpForward: Bool
    /// Draft tokens one step may run over all sequences (each costs a logits row).
    public var maxSpeculativeTokens: Int
    /// Draft tokens proposed at once for one sequence.
    public var maxJumpForwardTokens: Int
    /// Drafts run only in steps with at most this many running sequences (see `Scheduler.Configuration`;
    /// `speculative`'s `disable_by_batch_size` replaces it); tokens the grammar alone decides are appended
    /// at any batch size.
    public var maxJumpForwardBatch: Int
    /// The grammar-sparse output head: in a step where every sampled row is constrained (no log-probabilities,
    /// classification or scoring fork) and the grammars allow at most `maxSparseHeadTokens` tokens in all,
    /// only those tokens' rows of the output projection are computed. The tokens chosen are the same.
    public var sparseHead: Bool
    public var maxSparseHeadTokens: Int
    /// Rows whose whole pipeline the backend can run (no penalties, bias, `min_tokens` bans or
    /// classification) have their tokens chosen where the logits are (`Backend.sample`: grammar mask,
    /// greedy or seeded sampling, log-probabilities), so only tokens come back to the host; the same tokens
    /// as the host pipeline's. Off: every row is read to the host.
    public var sampleOnBackend: Bool
    /// `--max-waiting-requests`: requests queued but not yet scheduled past which a new one is refused
    /// (`EngineError.overloaded`: a 503 with `Retry-After`) rather than queued; nil: no bound.
    public var maxWaitingRequests: Int?
    /// `--speculative-config`: a proposer's drafts (after jump-forward's, for constrained sequences, when it
    /// drafts those), run in the same budget and verified the same way; nil: none.
    public var speculative: SpeculativeConfig?
    /// The KV cache's tiers below the pool (`--kv-offloading-size`, `--kv-disk-path`); nil: none, an evicted
    /// block is gone. Needs prefix caching.
    public var kvTiers: KVTierConfiguration?

    /// KV cache size when neither `kvCacheMemory` nor `gpuMemoryUtilization` is given, as vLLM's CPU backend
    /// defaults `VLLM_CPU_KVCACHE_SPACE` to 4 GiB (taking 90% of a shared machine's RAM would be rude).
    public static let defaultCPUKVCacheMemory = 4 << 30

    public init(
        maxModelLen: Int? = nil,
        maxNumSeqs: Int = 256,
        maxNumBatchedTokens: Int = 2048,
        enableChunkedPrefill: Bool = true,
        enablePrefixCaching: Bool = true,
        blockSize: Int = 16,
        kvCacheMemory: Int? = nil,
        gpuMemoryUtilization: Double? = nil,
        kvCacheDType: KVCacheType = .f16,
        jumpForward: Bool = true,
        maxSpeculativeTokens: Int = 256,
        maxJumpForwardTokens: Int = 16,
        maxJumpForwardBatch: Int = 4,
        sparseHead: Bool = true,
        maxSparseHeadTokens: Int = 4096,
        sampleOnBackend: Bool = true,
        maxWaitingRequests: Int? = nil,
        speculative: SpeculativeConfig? = nil
    ) {
        self.speculative = speculative
        self.maxWaitingRequests = maxWaitingRequests
        self.maxModelLen = maxModelLen
        self.maxNumSeqs = maxNumSeqs
        self.maxNumBatchedTokens = maxNumBatchedTokens
        self.enableChunkedPrefill = enableChunkedPrefill
        self.enablePrefixCaching = enablePrefixCaching
        self.blockSize = blockSize
        self.kvCacheMemory = kvCacheMemory
        self.gpuMemoryUtilization = gpuMemoryUtilization
        self.kvCacheDType = kvCacheDType
        self.jumpForward = jumpForward
        self.maxSpeculativeTokens = maxSpeculativeTokens
        self.maxJumpForwardTokens = maxJumpForwardTokens
        self.maxJumpForwardBatch = maxJumpForwardBatch
        self.sparseHead = sparseHead
        self.maxSparseHeadTokens = maxSparseHeadTokens
        self.sampleOnBackend = sampleOnBackend
    }

    /// This configuration with `maxModelLen` resolved for a model (its context length when unset), checked
    /// against what the model allows.
    public func resolved(for model: ModelConfig) throws(EngineError) -> EngineConfiguration {
        let maxModelLen = maxModelLen ?? model.contextLength
        guard maxModelLen >= 2 else { throw .configuration("--max-model-len must be at least 2") }
        guard maxModelLen <= model.contextLength else {
            throw .configuration(
                "--max-model-len \(maxModelLen) is longer than the model's context length \(model.contextLength)"
            )
        }
        if kvTiers != nil && !enablePrefixCaching {
            throw .configuration(
                "--kv-offloading-size and --kv-disk-path need prefix caching (drop --no-enable-prefix-caching)"
            )
        }
        if kvCacheDType == .q8_0 && model.headDimension % 32 != 0 {
            throw .configuration(
                "--kv-cache-dtype q8_0 needs a head size that is a multiple of 32; this model's is \(model.headDimension)"
            )
        }
        // A step's activations, row by row: the residual stream and its norms, attention's q/k/v and output,
        // the feed-forward's gate, up and product (an estimate a little above what the forward passes hold).
        let width = model.embeddingLength
        let attention = (model.headCount + 2 * model.headCountKV) * model.headDimension
        let rowBytes = 4 * (6 * width + attention + model.headCount * model.headDimension + 3 * model.feedForwardLength)
        let memory = Self.physicalMemory
        guard maxNumBatchedTokens <= memory / max(rowBytes, 1) else {
            let gib = Int((Double(maxNumBatchedTokens) * Double(rowBytes) / Double(1 << 30)).rounded(.up))
            throw .configuration(
                "--max-num-batched-tokens \(maxNumBatchedTokens) needs about \(gib) GiB of activations for this "
                    + "model, more than this machine's \(memory >> 30) GiB"
            )
        }
        var resolved = self
        resolved.maxModelLen = maxModelLen
        return resolved
    }

    /// Logits rows one step may return: one per sequence, plus the draft tokens it may run.
    public var logitRows: Int {
        min(maxNumSeqs + (jumpForward || speculative != nil ? maxSpeculativeTokens : 0), maxNumBatchedTokens)
    }

    /// The scheduler's limits under this (resolved) configuration.
    var scheduling: Scheduler.Configuration {
        Scheduler.Configuration(
            maxNumSeqs: maxNumSeqs,
            maxNumBatchedTokens: maxNumBatchedTokens,
            maxModelLen: maxModelLen!,
            enableChunkedPrefill: enableChunkedPrefill,
            maxSpeculativeTokens: logitRows - maxNumSeqs,
            maxSpeculativeBatch: speculative?.disableByBatchSize ?? maxJumpForwardBatch
        )
    }

    /// Physical RAM in bytes.
    public static var physicalMemory: Int {
        Int(sysconf(Int32(_SC_PHYS_PAGES))) * Int(sysconf(Int32(_SC_PAGESIZE)))
    }
}

/// How many KV blocks fit, and what that means for concurrency: what startup logs.
public struct KVCachePlan: Sendable, Equatable, CustomStringConvertible {
    public var blocks: Int
    public var blockSize: Int
    public var bytesPerToken: Int
    public var maxModelLen: Int
    public var type: KVCacheType

    public var tokens: Int { blocks * blockSize }
    public var bytes: Int { tokens * bytesPerToken }
    /// Sequences of `maxModelLen` tokens the pool holds at once.
    public var maxConcurrency: Double { Double(tokens) / Double(maxModelLen) }

    /// The plan for `configuration`, given the model's KV bytes per token and weight bytes; refuses one
    /// where not even one `maxModelLen` sequence fits.
    public init(
        _ configuration: EngineConfiguration,
        maxModelLen: Int,
        bytesPerToken: Int,
        weightBytes: Int,
        physicalMemory: Int = EngineConfiguration.physicalMemory
    ) throws(EngineError) {
        guard configuration.blockSize > 0, configuration.blockSize % 8 == 0 else {
            throw .configuration("--block-size must be a positive multiple of 8, got \(configuration.blockSize)")
        }
        let budget: Int
        if let bytes = configuration.kvCacheMemory {
            budget = bytes
        } else if let share = configuration.gpuMemoryUtilization {
            guard share > 0 && share <= 1 else {
                throw .configuration("--gpu-memory-utilization must be in (0, 1], got \(share)")
            }
            budget = Int(share * Double(physicalMemory)) - weightBytes
        } else {
            budget = EngineConfiguration.defaultCPUKVCacheMemory
        }
        blockSize = configuration.blockSize
        self.bytesPerToken = bytesPerToken
        self.maxModelLen = maxModelLen
        type = configuration.kvCacheDType
        blocks = max(0, budget / (bytesPerToken * blockSize))
        guard tokens >= maxModelLen else {
            throw .configuration(
                "the KV cache holds \(tokens) tokens (\(max(0, budget) >> 20) MiB at \(bytesPerToken) bytes per token), "
                    + "less than one sequence of --max-model-len \(maxModelLen); raise --kv-cache-memory or "
                    + "--gpu-memory-utilization, or lower --max-model-len"
            )
        }
    }

    public var description: String {
        let gib = Double(bytes) / Double(1 << 30)
        return "KV cache: \(blocks) blocks of \(blockSize) tokens = \(tokens) tokens, "
            + "\((gib * 100).rounded() / 100) GiB \(type.rawValue); maximum concurrency for \(maxModelLen) tokens "
            + "per request: \((maxConcurrency * 100).rounded() / 100)x"
    }
}
