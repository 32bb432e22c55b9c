#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Zeroed memory for the backend's large, long-lived buffers (repacked weights, the KV cache), in
/// anonymous mappings aligned to 2 MiB that the kernel is asked to back with huge pages
/// (`madvise(MADV_HUGEPAGE)`, honoured where transparent huge pages are `madvise` or `always`).
///
/// A decode step streams ~100 MB of weights and the KV cache: tens of thousands of 4 KiB pages whose TLB
/// misses stall the loads (twice as costly in a virtual machine's nested page tables); 2 MiB pages cut
/// them 512-fold. Small requests share 64 MiB chunks, bump-allocated; nothing is freed before the arena
/// (the backend) goes. No kept library does this, so it is written here.
final class HugePageArena {
    static let hugePage = 2 << 20
    static let chunkBytes = 64 << 20

    /// Every mapping, as returned by mmap, to unmap at the end.
    private var mappings: [(base: UnsafeMutableRawPointer, bytes: Int)] = []
    private var next: UnsafeMutableRawPointer?
    private var left = 0

    /// `bytes` bytes, 64-byte aligned and zeroed, living as long as the arena.
    func allocate(_ bytes: Int) -> UnsafeMutableRawPointer {
        let rounded = (max(bytes, 1) + 63) & ~63
        if rounded > Self.chunkBytes / 4 { return map(rounded) }
        if rounded > left {
            next = map(Self.chunkBytes)
            left = Self.chunkBytes
        }
        let start = next!
        next = start + rounded
        left -= rounded
        return start
    }

    /// A fresh mapping of at least `bytes`, starting on a huge-page boundary.
    private func map(_ bytes: Int) -> UnsafeMutableRawPointer {
        let length = (bytes + Self.hugePage - 1) / Self.hugePage * Self.hugePage + Self.hugePage
        guard let base = mmap(nil, length, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0),
            base != MAP_FAILED
        else {
            fatalError("out of memory: mapping \(length) bytes failed (errno \(errno))")
        }
        mappings.append((base, length))
        let aligned = (Int(bitPattern: base) + Self.hugePage - 1) / Self.hugePage * Self.hugePage
        let start = UnsafeMutableRawPointer(bitPattern: aligned)!
        #if os(Linux)
        _ = madvise(start, length - (aligned - Int(bitPattern: base)), MADV_HUGEPAGE)
        #endif
        return start
    }

    /// Runs `body` on `bytes` zeroed bytes of huge-page-backed memory that is unmapped afterwards (the
    /// read-bandwidth measurement streams memory laid out like the weights it bounds).
    static func withScratch<R>(bytes: Int, _ body: (UnsafeMutableRawBufferPointer) -> R) -> R {
        let arena = HugePageArena()
        // The arena unmaps in deinit: it must outlive `body`, not just its last use.
        return withExtendedLifetime(arena) {
            body(UnsafeMutableRawBufferPointer(start: arena.map(bytes), count: bytes))
        }
    }

    deinit {
        for m in mappings { munmap(m.base, m.bytes) }
    }
}
