#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Owns the bytes a `GGUFFile` reads: a read-only memory map of a file, or a private copy of a buffer.
///
/// Tensor views point into these bytes and hold the mapping alive; it is unmapped when the last
/// reference goes.
public final class FileMapping: @unchecked Sendable {
    public let bytes: UnsafeRawBufferPointer
    private let isMapped: Bool

    /// Maps `path` read-only.
    public init(path: String) throws(GGUFError) {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw GGUFError(.cannotOpen(path: path, reason: Self.errnoText()), at: -1) }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw GGUFError(.cannotOpen(path: path, reason: Self.errnoText()), at: -1) }
        guard (info.st_mode & S_IFMT) == S_IFREG else {
            throw GGUFError(.cannotOpen(path: path, reason: "not a regular file"), at: -1)
        }
        let size = Int(info.st_size)
        if size == 0 {
            bytes = UnsafeRawBufferPointer(start: nil, count: 0)
            isMapped = false
            return
        }
        guard let base = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0), base != MAP_FAILED else {
            throw GGUFError(.cannotOpen(path: path, reason: "mmap failed: \(Self.errnoText())"), at: -1)
        }
        bytes = UnsafeRawBufferPointer(start: base, count: size)
        isMapped = true
    }

    /// Copies `data` into memory this mapping owns.
    public init(copying data: some Collection<UInt8>) {
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: max(data.count, 1), alignment: 64)
        buffer.copyBytes(from: data)
        bytes = UnsafeRawBufferPointer(rebasing: buffer[0..<data.count])
        isMapped = false
    }

    deinit {
        guard let base = bytes.baseAddress else { return }
        if isMapped {
            munmap(UnsafeMutableRawPointer(mutating: base), bytes.count)
        } else {
            UnsafeMutableRawPointer(mutating: base).deallocate()
        }
    }

    private static func errnoText() -> String {
        String(cString: strerror(errno))
    }
}
