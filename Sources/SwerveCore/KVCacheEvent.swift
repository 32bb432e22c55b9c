/// A change to the set of KV blocks a server holds in its prefix cache, as vLLM's KV-cache events report
/// it (`vllm.distributed.kv_events`): what a router needs to know which replica holds which prefix.
///
/// Hashes are the block manager's 64-bit chain hashes (`BlockKey.chainHash`): opaque to a router, which
/// uses them only to chain a stored block to its parent and to find the block a removal names; it keys
/// blocks on their `tokens`.
public enum KVCacheEvent: Sendable, Equatable {
    /// Full blocks that entered the prefix cache, in order, each the parent of the next: `hashes[0]`'s
    /// parent is `parent` (nil for a sequence's first block), and `tokens` holds `hashes.count * blockSize`
    /// token ids, block after block.
    case blockStored(hashes: [UInt64], parent: UInt64?, tokens: [Int32], blockSize: Int, medium: KVMedium = .pool)
    /// Cached blocks evicted (their KV overwritten or about to be), from `medium`.
    case blockRemoved(hashes: [UInt64], medium: KVMedium = .pool)
    /// Every cached block was forgotten (a prefix-cache reset).
    case allBlocksCleared
}

/// Where a cached block lives, as the `medium` of its events. vllm-router 0.1.17
/// (`scripts/router-medium-probe.py`) credits a block in "GPU" (and any medium it does not know) fully, one in
/// "CPU" (any case) by `--kv-penalty-host`, one in "DISK" by `--kv-penalty-disk`; a block it saw stored and
/// removed in "GPU" earns nothing when stored in "CPU".
public enum KVMedium: String, Sendable {
    /// The pool the kernels read: vLLM's name for its primary KV pool, fully credited by routers.
    case pool = "GPU"
    /// The host-memory tier below the pool (`--kv-offloading-size`): vLLM's native offloading's medium.
    case host = "CPU"
    /// The disk tier (`--kv-disk-path`).
    case disk = "DISK"
}

/// Where the engine hands each step's KV-cache events: called on the engine's thread, once per step that
/// changed the prefix cache, so it must return at once (queue the batch, never wait on I/O).
public protocol KVEventSink: Sendable {
    func publish(_ events: [KVCacheEvent])
}
