/// The element types a GGUF tensor can hold, with ggml's numbering and block layouts.
///
/// A quantized type stores `blockSize` consecutive values in `typeSize` bytes; a row of `n` values
/// (n a multiple of `blockSize`) takes `n / blockSize * typeSize` bytes. The numbering is the file
/// format's (`ggml_type`), so a raw value read from a GGUF tensor info maps straight onto a case.
public enum GGMLType: UInt32, Sendable, CaseIterable, CustomStringConvertible {
    case f32 = 0
    case f16 = 1
    case q4_0 = 2
    case q4_1 = 3
    case q5_0 = 6
    case q5_1 = 7
    case q8_0 = 8
    case q8_1 = 9
    case q2_K = 10
    case q3_K = 11
    case q4_K = 12
    case q5_K = 13
    case q6_K = 14
    case q8_K = 15
    case i8 = 24
    case i16 = 25
    case i32 = 26
    case i64 = 27
    case f64 = 28
    case bf16 = 30

    /// Values per block (1 for plain scalar types).
    public var blockSize: Int {
        switch self {
        case .f32, .f16, .bf16, .i8, .i16, .i32, .i64, .f64: 1
        case .q4_0, .q4_1, .q5_0, .q5_1, .q8_0, .q8_1: 32
        case .q2_K, .q3_K, .q4_K, .q5_K, .q6_K, .q8_K: QK_K
        }
    }

    /// Bytes per block.
    public var typeSize: Int {
        switch self {
        case .f32, .i32: 4
        case .f16, .bf16, .i16: 2
        case .i8: 1
        case .i64, .f64: 8
        case .q4_0: 2 + 16
        case .q4_1: 2 + 2 + 16
        case .q5_0: 2 + 4 + 16
        case .q5_1: 2 + 2 + 4 + 16
        case .q8_0: 2 + 32
        case .q8_1: 2 + 2 + 32
        case .q2_K: QK_K / 16 + QK_K / 4 + 2 + 2
        case .q3_K: QK_K / 8 + QK_K / 4 + 12 + 2
        case .q4_K: 2 + 2 + 12 + QK_K / 2
        case .q5_K: 2 + 2 + 12 + QK_K / 8 + QK_K / 2
        case .q6_K: QK_K / 2 + QK_K / 4 + QK_K / 16 + 2
        case .q8_K: 4 + QK_K + QK_K / 16 * 2
        }
    }

    /// Whether `Dequantizer` can turn this type into floats.
    public var isDequantizable: Bool {
        switch self {
        case .q8_1, .q8_K, .i8, .i16, .i32, .i64, .f64: false
        default: true
        }
    }

    /// Whether values are stored in blocks with shared scales.
    public var isQuantized: Bool { blockSize > 1 }

    /// Bytes a row of `count` values takes, or nil when `count` is not a whole number of blocks or overflows.
    public func rowBytes(_ count: Int) -> Int? {
        guard count >= 0, count % blockSize == 0 else { return nil }
        let (bytes, overflow) = (count / blockSize).multipliedReportingOverflow(by: typeSize)
        return overflow ? nil : bytes
    }

    /// ggml's name for the type (`Q4_K`, `F16`, ...).
    public var description: String {
        switch self {
        case .f32: "F32"
        case .f16: "F16"
        case .bf16: "BF16"
        case .q4_0: "Q4_0"
        case .q4_1: "Q4_1"
        case .q5_0: "Q5_0"
        case .q5_1: "Q5_1"
        case .q8_0: "Q8_0"
        case .q8_1: "Q8_1"
        case .q2_K: "Q2_K"
        case .q3_K: "Q3_K"
        case .q4_K: "Q4_K"
        case .q5_K: "Q5_K"
        case .q6_K: "Q6_K"
        case .q8_K: "Q8_K"
        case .i8: "I8"
        case .i16: "I16"
        case .i32: "I32"
        case .i64: "I64"
        case .f64: "F64"
        }
    }

    /// Looks a type up by ggml's name, case-insensitively.
    public init?(name: String) {
        guard let match = Self.allCases.first(where: { $0.description.lowercased() == name.lowercased() }) else {
            return nil
        }
        self = match
    }
}

/// Values per k-quant super-block.
public let QK_K = 256
