/// Scalar reference quantizers: float rows to GGML block types, as ggml's `quantize_row_*_ref` writes them
/// (on-load quantization of float checkpoints), and to the float types a checkpoint's `--dtype` keeps
/// (f32, f16 rounded to nearest even, bf16 rounded to nearest even as torch's cast). Block by block, no
/// allocation but the output.
public enum Quantizer {
    /// Types rows can be written as.
    public static let types: Set<GGMLType> = [.q8_0, .q4_0, .f32, .f16, .bf16]

    /// Appends `row` as `type` (one of `types`; block types need whole blocks of 32).
    public static func append(_ row: UnsafeBufferPointer<Float>, as type: GGMLType, to out: inout [UInt8]) {
        switch type {
        case .q8_0: q8_0(row, into: &out)
        case .q4_0: q4_0(row, into: &out)
        case .f16: for v in row { appendLittleEndian(Float16(v).bitPattern, to: &out) }
        case .bf16: for v in row { appendLittleEndian(bfloat16(v), to: &out) }
        case .f32: for v in row { appendLittleEndian(v.bitPattern, to: &out) }
        default: preconditionFailure("\(type) is not a type rows are written as")
        }
    }

    /// The bfloat16 bits of `value`: its top 16 bits, rounded to nearest even (NaN stays a quiet NaN).
    public static func bfloat16(_ value: Float) -> UInt16 {
        let bits = value.bitPattern
        if value.isNaN { return UInt16(bits >> 16) | 0x40 }
        let rounded = bits &+ 0x7FFF &+ ((bits >> 16) & 1)
        return UInt16(rounded >> 16)
    }

    /// min(15, trunc(x)) for x in [0, 16.5], as ggml; a NaN (a non-finite weight) becomes 8, zero.
    static func nibble(_ x: Float) -> UInt8 { x.isNaN ? 8 : UInt8(min(15, max(0, x))) }

    static func appendLittleEndian<T: FixedWidthInteger>(_ value: T, to out: inout [UInt8]) {
        withUnsafeBytes(of: value.littleEndian) { out.append(contentsOf: $0) }
    }

    /// `row` (a multiple of 32 values) as Q4_0 blocks: per block of 32, d = (the value of largest magnitude)
    /// / -8 as f16, and each value as min(15, trunc(value / d + 8.5)), values j and j + 16 sharing byte j
    /// (low and high nibble).
    public static func q4_0(_ row: UnsafeBufferPointer<Float>, into out: inout [UInt8]) {
        precondition(row.count % 32 == 0, "Q4_0 rows are whole blocks of 32")
        for block in stride(from: 0, to: row.count, by: 32) {
            var (amax, extreme): (Float, Float) = (0, 0)
            for i in block..<(block + 32) where amax < abs(row[i]) { (amax, extreme) = (abs(row[i]), row[i]) }
            let d = extreme / -8
            let inverse: Float = d == 0 ? 0 : 1 / d
            appendLittleEndian(Float16(d).bitPattern, to: &out)
            for j in 0..<16 {
                out.append(nibble(row[block + j] * inverse + 8.5) | nibble(row[block + 16 + j] * inverse + 8.5) << 4)
            }
        }
    }

    /// `row` (a multiple of 32 values) as Q8_0 blocks: per block of 32, the scale amax/127 as f16 and each
    /// value divided by it, rounded half away from zero.
    public static func q8_0(_ row: UnsafeBufferPointer<Float>, into out: inout [UInt8]) {
        precondition(row.count % 32 == 0, "Q8_0 rows are whole blocks of 32")
        for block in stride(from: 0, to: row.count, by: 32) {
            var amax: Float = 0
            for i in block..<(block + 32) { amax = max(amax, abs(row[i])) }
            let d = amax / 127
            let inverse: Float = d == 0 ? 0 : 1 / d
            appendLittleEndian(Float16(d).bitPattern, to: &out)
            for i in block..<(block + 32) {
                let q = (row[i] * inverse).rounded(.toNearestOrAwayFromZero)
                out.append(UInt8(bitPattern: Int8(q.isNaN ? 0 : max(-127, min(127, q)))))
            }
        }
    }
}
