/// A bounds-checked little-endian reader over a byte buffer: every read checks that the bytes are there
/// and names the field it was reading when they are not.
struct ByteCursor {
    let bytes: UnsafeRawBufferPointer
    var offset: Int = 0

    var remaining: Int { bytes.count - offset }

    mutating func require(_ count: Int, _ field: @autoclosure () -> String) throws(GGUFError) {
        guard count >= 0, count <= remaining else {
            throw GGUFError(.truncated(field: field(), needed: count, available: remaining), at: offset)
        }
    }

    mutating func read<T: FixedWidthInteger>(_: T.Type, _ field: @autoclosure () -> String) throws(GGUFError) -> T {
        try require(MemoryLayout<T>.size, field())
        let value = T(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: T.self))
        offset += MemoryLayout<T>.size
        return value
    }

    mutating func readString(_ field: @autoclosure () -> String) throws(GGUFError) -> String {
        let start = offset
        let length = try read(UInt64.self, "length of \(field())")
        guard length <= UInt64(remaining) else {
            throw GGUFError(.truncated(field: field(), needed: Int(clamping: length), available: remaining), at: start)
        }
        let count = Int(length)
        let slice = UnsafeRawBufferPointer(rebasing: bytes[offset..<(offset + count)])
        offset += count
        return String(decoding: slice, as: UTF8.self)
    }

    /// Reads a count and checks that `count * minimumSize` bytes could still follow.
    mutating func readCount(_ field: String, minimumSize: Int) throws(GGUFError) -> Int {
        let start = offset
        let count = try read(UInt64.self, field)
        let limit = UInt64(remaining / max(minimumSize, 1))
        guard count <= limit else { throw GGUFError(.absurdCount(field: field, count: count, limit: limit), at: start) }
        return Int(count)
    }
}
