/// One metadata value of a GGUF file, in the file's own type system.
///
/// Arrays keep their declared element type so an empty array still says what it would hold, and
/// nested arrays are arrays of `.array` values.
public enum GGUFValue: Sendable, Equatable {
    case uint8(UInt8)
    case int8(Int8)
    case uint16(UInt16)
    case int16(Int16)
    case uint32(UInt32)
    case int32(Int32)
    case float32(Float)
    case bool(Bool)
    case string(String)
    case array(GGUFValueType, [GGUFValue])
    case uint64(UInt64)
    case int64(Int64)
    case float64(Double)

    /// The value's type tag.
    public var type: GGUFValueType {
        switch self {
        case .uint8: .uint8
        case .int8: .int8
        case .uint16: .uint16
        case .int16: .int16
        case .uint32: .uint32
        case .int32: .int32
        case .float32: .float32
        case .bool: .bool
        case .string: .string
        case .array: .array
        case .uint64: .uint64
        case .int64: .int64
        case .float64: .float64
        }
    }

    /// The value as an integer, for any integer type that fits in `Int`.
    public var int: Int? {
        switch self {
        case .uint8(let v): Int(v)
        case .int8(let v): Int(v)
        case .uint16(let v): Int(v)
        case .int16(let v): Int(v)
        case .uint32(let v): Int(v)
        case .int32(let v): Int(v)
        case .uint64(let v): Int(exactly: v)
        case .int64(let v): Int(v)
        default: nil
        }
    }

    /// The value as a floating-point number, for float and integer types.
    public var double: Double? {
        switch self {
        case .float32(let v): Double(v)
        case .float64(let v): v
        default: int.map(Double.init)
        }
    }

    public var string: String? {
        if case .string(let s) = self { return s }
        return nil
    }

    public var bool: Bool? {
        if case .bool(let b) = self { return b }
        return nil
    }

    public var array: [GGUFValue]? {
        if case .array(_, let values) = self { return values }
        return nil
    }

    /// An array of strings, or nil when this is not one.
    public var strings: [String]? {
        guard case .array(.string, let values) = self else { return nil }
        return values.compactMap(\.string)
    }

    /// An array of integers, or nil when this is not an array of integer type.
    public var ints: [Int]? {
        guard case .array(_, let values) = self else { return nil }
        let ints = values.compactMap(\.int)
        return ints.count == values.count ? ints : nil
    }

    /// An array of floating-point numbers (float or integer elements).
    public var doubles: [Double]? {
        guard case .array(_, let values) = self else { return nil }
        let doubles = values.compactMap(\.double)
        return doubles.count == values.count ? doubles : nil
    }
}

/// GGUF's metadata type tags (`gguf_type`).
public enum GGUFValueType: UInt32, Sendable, CustomStringConvertible {
    case uint8 = 0
    case int8 = 1
    case uint16 = 2
    case int16 = 3
    case uint32 = 4
    case int32 = 5
    case float32 = 6
    case bool = 7
    case string = 8
    case array = 9
    case uint64 = 10
    case int64 = 11
    case float64 = 12

    /// Size of a scalar of this type; strings and arrays report their smallest encoding.
    var minimumSize: Int {
        switch self {
        case .uint8, .int8, .bool: 1
        case .uint16, .int16: 2
        case .uint32, .int32, .float32: 4
        case .uint64, .int64, .float64: 8
        case .string: 8
        case .array: 12
        }
    }

    public var description: String {
        switch self {
        case .uint8: "u8"
        case .int8: "i8"
        case .uint16: "u16"
        case .int16: "i16"
        case .uint32: "u32"
        case .int32: "i32"
        case .float32: "f32"
        case .bool: "bool"
        case .string: "str"
        case .array: "arr"
        case .uint64: "u64"
        case .int64: "i64"
        case .float64: "f64"
        }
    }
}
