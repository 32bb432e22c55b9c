/// A MessagePack encoder for the few types KV events need (nil, integers, floats, strings, arrays, maps),
/// appending to one byte buffer. Written here because no Swift package this project may use encodes
/// MessagePack; the format is https://github.com/msgpack/msgpack/blob/master/spec.md.
public struct MessagePackWriter: Sendable {
    public private(set) var bytes: [UInt8] = []

    public init() {}

    public mutating func writeNil() { bytes.append(0xC0) }

    public mutating func write(_ value: Bool) { bytes.append(value ? 0xC3 : 0xC2) }

    /// The shortest form: positive fixint, uint 8/16/32/64, negative fixint, int 8/16/32/64.
    public mutating func write(_ value: Int64) {
        if value >= 0 { return write(UInt64(value)) }
        switch value {
        case -32..<0: bytes.append(UInt8(truncatingIfNeeded: value))
        case Int64(Int8.min)..<0:
            bytes.append(0xD0)
            bytes.append(UInt8(truncatingIfNeeded: value))
        case Int64(Int16.min)..<0:
            bytes.append(0xD1)
            append(UInt64(UInt16(truncatingIfNeeded: value)), 2)
        case Int64(Int32.min)..<0:
            bytes.append(0xD2)
            append(UInt64(UInt32(truncatingIfNeeded: value)), 4)
        default:
            bytes.append(0xD3)
            append(UInt64(bitPattern: value), 8)
        }
    }

    public mutating func write(_ value: UInt64) {
        switch value {
        case 0..<0x80: bytes.append(UInt8(value))
        case 0..<0x100:
            bytes.append(0xCC)
            bytes.append(UInt8(value))
        case 0..<0x1_0000:
            bytes.append(0xCD)
            append(value, 2)
        case 0..<0x1_0000_0000:
            bytes.append(0xCE)
            append(value, 4)
        default:
            bytes.append(0xCF)
            append(value, 8)
        }
    }

    public mutating func write(_ value: Int) { write(Int64(value)) }

    /// float 64, as Python's msgpack writes a float.
    public mutating func write(_ value: Double) {
        bytes.append(0xCB)
        append(value.bitPattern, 8)
    }

    public mutating func write(_ value: String) {
        let utf8 = Array(value.utf8)
        switch utf8.count {
        case 0..<32: bytes.append(0xA0 | UInt8(utf8.count))
        case 0..<0x100:
            bytes.append(0xD9)
            bytes.append(UInt8(utf8.count))
        case 0..<0x1_0000:
            bytes.append(0xDA)
            append(UInt64(utf8.count), 2)
        default:
            bytes.append(0xDB)
            append(UInt64(utf8.count), 4)
        }
        bytes += utf8
    }

    public mutating func writeArrayHeader(_ count: Int) { header(count, fix: 0x90, 0xDC, 0xDD) }

    public mutating func writeMapHeader(_ count: Int) { header(count, fix: 0x80, 0xDE, 0xDF) }

    mutating func header(_ count: Int, fix: UInt8, _ sixteen: UInt8, _ thirtyTwo: UInt8) {
        switch count {
        case 0..<16: bytes.append(fix | UInt8(count))
        case 0..<0x1_0000:
            bytes.append(sixteen)
            append(UInt64(count), 2)
        default:
            bytes.append(thirtyTwo)
            append(UInt64(count), 4)
        }
    }

    /// The low `width` bytes of `value`, big-endian.
    mutating func append(_ value: UInt64, _ width: Int) {
        for shift in stride(from: (width - 1) * 8, through: 0, by: -8) {
            bytes.append(UInt8(truncatingIfNeeded: value >> UInt64(shift)))
        }
    }
}
