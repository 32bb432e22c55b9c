import SwerveCore

/// How KV events are laid out inside a batch: vLLM's `KVEventBatch` is always the positional array
/// `[ts, events]`, but its events changed in 2026 from positional arrays led by the class name
/// (`["BlockStored", block_hashes, parent_block_hash, token_ids, block_size, lora_id, medium, lora_name]`, msgspec's
/// `array_like=True, tag=True`) to maps with a `"type"` key. vllm-router 0.1.17's subscriber decodes the
/// maps (its `KVEvent` is an internally tagged enum whose fields do not follow the positional order), so
/// `map` is the default; `array` is for subscribers written against the older vLLM releases. Every field
/// vLLM sends is present, `null` when Swerve has no value (no LoRA): vllm-router requires the keys.
public enum KVEventEncoding: String, Sendable, CaseIterable {
    case map
    case array

    /// One MessagePack `KVEventBatch`: `[ts, [event, ...]]` (no data-parallel rank: Swerve runs one engine
    /// per server, and vLLM omits the field when it is unset).
    public func batch(_ events: [KVCacheEvent], timestamp: Double) -> [UInt8] {
        var writer = MessagePackWriter()
        writer.writeArrayHeader(2)
        writer.write(timestamp)
        writer.writeArrayHeader(events.count)
        for event in events { encode(event, into: &writer) }
        return writer.bytes
    }

    func encode(_ event: KVCacheEvent, into writer: inout MessagePackWriter) {
        switch event {
        case .blockStored(let hashes, let parent, let tokens, let blockSize, let medium):
            begin("BlockStored", fields: 8, into: &writer)
            field("block_hashes", into: &writer)
            writer.writeArrayHeader(hashes.count)
            for hash in hashes { writer.write(hash) }
            field("parent_block_hash", into: &writer)
            if let parent { writer.write(parent) } else { writer.writeNil() }
            field("token_ids", into: &writer)
            writer.writeArrayHeader(tokens.count)
            for token in tokens { writer.write(Int64(token)) }
            field("block_size", into: &writer)
            writer.write(blockSize)
            field("lora_id", into: &writer)
            writer.writeNil()
            field("medium", into: &writer)
            writer.write(medium.rawValue)
            field("lora_name", into: &writer)
            writer.writeNil()
        case .blockRemoved(let hashes, let medium):
            begin("BlockRemoved", fields: 3, into: &writer)
            field("block_hashes", into: &writer)
            writer.writeArrayHeader(hashes.count)
            for hash in hashes { writer.write(hash) }
            field("medium", into: &writer)
            writer.write(medium.rawValue)
        case .allBlocksCleared:
            begin("AllBlocksCleared", fields: 1, into: &writer)
        }
    }

    /// The event's header and its tag: `fields` counts the tag.
    func begin(_ type: String, fields: Int, into writer: inout MessagePackWriter) {
        switch self {
        case .map:
            writer.writeMapHeader(fields)
            writer.write("type")
        case .array:
            writer.writeArrayHeader(fields)
        }
        writer.write(type)
    }

    /// A field's key, in the map layout (the array layout is positional).
    func field(_ name: String, into writer: inout MessagePackWriter) {
        if self == .map { writer.write(name) }
    }
}
