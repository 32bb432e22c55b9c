import SwerveCore

/// One KV block's keys and values outside the pool (in the backend's layout, `Backend.readKVBlock`), with
/// the key that names its contents: what the lower tiers of the KV cache hold, and what a load writes back.
/// Immutable once filled, so the engine thread, the tier thread and a scheduled load may share it.
public final class KVBlockData: @unchecked Sendable {
    public let key: BlockKey
    public let bytes: UnsafeMutableRawBufferPointer

    public init(key: BlockKey, byteCount: Int) {
        self.key = key
        bytes = .allocate(byteCount: byteCount, alignment: 64)
    }

    deinit { bytes.deallocate() }

    public var byteCount: Int { bytes.count }
}

/// A block a step loads from a lower tier into pool block `block` before it runs, instead of recomputing.
public struct KVLoad: Sendable {
    public var block: Int
    public var data: KVBlockData
}

/// A cached block the pool is about to reuse for other contents: its KV is copied out (to a lower tier) before
/// the step that overwrites it runs.
public struct KVEviction: Sendable, Equatable {
    public var key: BlockKey
    public var block: Int
}
