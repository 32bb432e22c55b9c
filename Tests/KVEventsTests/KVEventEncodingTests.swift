import KVEvents
import SwerveCore
import Testing

@Suite struct KVEventEncodingTests {
    let stored = KVCacheEvent.blockStored(hashes: [7], parent: nil, tokens: [1, 2], blockSize: 2)

    /// vllm-router's layout: `[ts, [{"type": "BlockStored", "block_hashes": [...], ...}]]`.
    @Test func mapEventsAreTaggedWithTheirType() {
        var expected = MessagePackWriter()
        expected.writeArrayHeader(2)
        expected.write(2.0)
        expected.writeArrayHeader(2)
        expected.writeMapHeader(8)
        for (key, write) in [
            ("type", { (w: inout MessagePackWriter) in w.write("BlockStored") }),
            (
                "block_hashes",
                {
                    $0.writeArrayHeader(1)
                    $0.write(UInt64(7))
                }
            ),
            ("parent_block_hash", { $0.writeNil() }),
            (
                "token_ids",
                {
                    $0.writeArrayHeader(2)
                    $0.write(1)
                    $0.write(2)
                }
            ),
            ("block_size", { $0.write(2) }),
            ("lora_id", { $0.writeNil() }),
            ("medium", { $0.write("GPU") }),
            ("lora_name", { $0.writeNil() }),
        ] {
            expected.write(key)
            write(&expected)
        }
        expected.writeMapHeader(1)
        expected.write("type")
        expected.write("AllBlocksCleared")
        #expect(KVEventEncoding.map.batch([stored, .allBlocksCleared], timestamp: 2) == expected.bytes)
    }

    /// vLLM's older layout: `["BlockRemoved", block_hashes, medium]`, positional.
    @Test func arrayEventsArePositional() {
        var expected = MessagePackWriter()
        expected.writeArrayHeader(2)
        expected.write(3.0)
        expected.writeArrayHeader(1)
        expected.writeArrayHeader(3)
        expected.write("BlockRemoved")
        expected.writeArrayHeader(2)
        expected.write(UInt64.max)
        expected.write(UInt64(1))
        expected.write("GPU")
        #expect(KVEventEncoding.array.batch([.blockRemoved(hashes: [.max, 1])], timestamp: 3) == expected.bytes)
    }

    /// A lower tier's blocks carry its medium, as vllm-router scores them: "CPU" (`--kv-penalty-host`) and
    /// "DISK" (`--kv-penalty-disk`).
    @Test(arguments: [(KVMedium.host, "CPU"), (.disk, "DISK")])
    func tierBlocksCarryTheirMedium(medium: KVMedium, name: String) {
        var expected = MessagePackWriter()
        expected.writeArrayHeader(2)
        expected.write(3.0)
        expected.writeArrayHeader(1)
        expected.writeArrayHeader(3)
        expected.write("BlockRemoved")
        expected.writeArrayHeader(1)
        expected.write(UInt64(9))
        expected.write(name)
        #expect(
            KVEventEncoding.array.batch([.blockRemoved(hashes: [9], medium: medium)], timestamp: 3) == expected.bytes
        )
    }
}
