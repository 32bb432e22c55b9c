import Testing

@testable import CPUBackend

/// The arena's memory is zeroed, 64-byte aligned, disjoint between allocations, and large requests start
/// on a huge-page boundary; the bandwidth measurement over its scratch memory returns a finite rate.
@Suite struct HugePageArenaTests {
    @Test func allocationsAreZeroedAlignedAndDisjoint() {
        let arena = HugePageArena()
        let sizes = [1, 100, 4096, 5 << 20, HugePageArena.chunkBytes / 2, 3]
        let blocks = sizes.map { (pointer: arena.allocate($0), bytes: $0) }
        for (pointer, bytes) in blocks {
            #expect(Int(bitPattern: pointer) % 64 == 0)
            let view = UnsafeMutableRawBufferPointer(start: pointer, count: bytes)
            #expect(view.allSatisfy { $0 == 0 })
            view.initializeMemory(as: UInt8.self, repeating: 0xAB)
        }
        // Writing every block to the end disturbed no other.
        for (pointer, bytes) in blocks {
            #expect(UnsafeRawBufferPointer(start: pointer, count: bytes).allSatisfy { $0 == 0xAB })
        }
        let large = arena.allocate(HugePageArena.chunkBytes)
        #expect(Int(bitPattern: large) % HugePageArena.hugePage == 0)
    }

    @Test func readBandwidthOverScratchMemoryIsMeasured() {
        let bandwidth = CPUBackend(threads: 2).measureReadBandwidth(bytes: 8 << 20, passes: 2)
        #expect(bandwidth.isFinite && bandwidth > 0)
    }
}
