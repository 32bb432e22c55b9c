/// Scalar reference quantizers: float rows to GGML block types, as ggml's `quantize_row_*_ref` writes them
/// (on-load quantization of float checkpoints). Block by block, no allocation but the output.
public enum Quantizer {
    /// Types rows can be quantized to.
    public static let types: Set<GGMLType> = [.q8_0]

    /// `row` (a multiple of 32 values) as Q8_0 blocks: per block of 32, the scale amax/127 as f16 and each
    /// value divided by it, rounded half away from zero.
    public static func q8_0(_ row: UnsafeBufferPointer<Float>, into out: inout [UInt8]) {
        precondition(row.count % 32 == 0, "Q8_0 rows are whole blocks of 32")
        for block in stride(from: 0, to: row.count, by: 32) {
            var amax: Float = 0
            for i in block..<(block + 32) { amax = max(amax, abs(row[i])) }
            let d = amax / 127
            let inverse: Float = d == 0 ? 0 : 1 / d
            withUnsafeBytes(of: Float16(d).bitPattern.littleEndian) { out.append(contentsOf: $0) }
            for i in block..<(block + 32) {
                out.append(UInt8(bitPattern: Int8((row[i] * inverse).rounded(.toNearestOrAwayFromZero))))
            }
        }
    }
}
