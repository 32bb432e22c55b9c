/// Scalar reference dequantizers for every block layout in `GGMLType` that holds model weights.
///
/// These are the slow, obviously right definitions that SIMD kernels and other backends are tested
/// against; they follow ggml's block layouts bit for bit and are checked against the `gguf` Python
/// package on real and synthetic tensors. Written here because no Swift package implements GGML's
/// quantization formats.
public enum Dequantizer {
    /// Dequantizes `count` values of `type` read from `source` into `destination`.
    ///
    /// - Throws: `DequantizationError` when the type has no dequantizer, `count` is not a whole number
    ///   of blocks, or either buffer is too small.
    public static func dequantize(
        _ type: GGMLType,
        from source: UnsafeRawBufferPointer,
        count: Int,
        into destination: UnsafeMutableBufferPointer<Float>
    ) throws(DequantizationError) {
        guard type.isDequantizable else { throw .unsupportedType(type) }
        guard let bytes = type.rowBytes(count) else { throw .partialBlock(type: type, count: count) }
        guard source.count >= bytes else { throw .sourceTooSmall(needed: bytes, available: source.count) }
        guard destination.count >= count else {
            throw .destinationTooSmall(needed: count, available: destination.count)
        }
        guard count > 0, let src = source.baseAddress, let dst = destination.baseAddress else { return }
        let blocks = count / type.blockSize
        for b in 0..<blocks {
            let block = src + b * type.typeSize
            let out = dst + b * type.blockSize
            switch type {
            case .f32: out.pointee = block.loadUnaligned(as: Float.self)
            case .f16: out.pointee = halfToFloat(block.loadUnaligned(as: UInt16.self))
            case .bf16: out.pointee = Float(bitPattern: UInt32(block.loadUnaligned(as: UInt16.self)) << 16)
            case .q4_0: q4_0(block, out)
            case .q4_1: q4_1(block, out)
            case .q5_0: q5_0(block, out)
            case .q5_1: q5_1(block, out)
            case .q8_0: q8_0(block, out)
            case .q2_K: q2_K(block, out)
            case .q3_K: q3_K(block, out)
            case .q4_K: q4_K(block, out)
            case .q5_K: q5_K(block, out)
            case .q6_K: q6_K(block, out)
            case .q8_1, .q8_K, .i8, .i16, .i32, .i64, .f64: return
            }
        }
    }

    /// Dequantizes into a new array.
    public static func dequantize(
        _ type: GGMLType,
        from source: UnsafeRawBufferPointer,
        count: Int
    )
        throws(DequantizationError) -> [Float]
    {
        var result = [Float](repeating: 0, count: count)
        try result.withUnsafeMutableBufferPointer { (out) throws(DequantizationError) in
            try dequantize(type, from: source, count: count, into: out)
        }
        return result
    }

    /// IEEE half (binary16) bits to Float.
    @inlinable
    public static func halfToFloat(_ bits: UInt16) -> Float {
        Float(Float16(bitPattern: bits))
    }

    @inline(__always)
    static func half(_ p: UnsafeRawPointer, _ offset: Int) -> Float {
        halfToFloat(p.loadUnaligned(fromByteOffset: offset, as: UInt16.self))
    }

    @inline(__always)
    static func byte(_ p: UnsafeRawPointer, _ offset: Int) -> UInt8 {
        p.load(fromByteOffset: offset, as: UInt8.self)
    }

    static func q4_0(_ p: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
        let d = half(p, 0)
        for j in 0..<16 {
            let q = byte(p, 2 + j)
            y[j] = Float(Int(q & 0x0F) - 8) * d
            y[j + 16] = Float(Int(q >> 4) - 8) * d
        }
    }

    static func q4_1(_ p: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
        let d = half(p, 0)
        let m = half(p, 2)
        for j in 0..<16 {
            let q = byte(p, 4 + j)
            y[j] = Float(q & 0x0F) * d + m
            y[j + 16] = Float(q >> 4) * d + m
        }
    }

    static func q5_0(_ p: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
        let d = half(p, 0)
        let qh = p.loadUnaligned(fromByteOffset: 2, as: UInt32.self)
        for j in 0..<16 {
            let q = byte(p, 6 + j)
            let h0 = UInt8(truncatingIfNeeded: ((qh >> UInt32(j)) << 4) & 0x10)
            let h1 = UInt8(truncatingIfNeeded: (qh >> UInt32(j + 12)) & 0x10)
            y[j] = Float(Int((q & 0x0F) | h0) - 16) * d
            y[j + 16] = Float(Int((q >> 4) | h1) - 16) * d
        }
    }

    static func q5_1(_ p: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
        let d = half(p, 0)
        let m = half(p, 2)
        let qh = p.loadUnaligned(fromByteOffset: 4, as: UInt32.self)
        for j in 0..<16 {
            let q = byte(p, 8 + j)
            let h0 = UInt8(truncatingIfNeeded: ((qh >> UInt32(j)) << 4) & 0x10)
            let h1 = UInt8(truncatingIfNeeded: (qh >> UInt32(j + 12)) & 0x10)
            y[j] = Float((q & 0x0F) | h0) * d + m
            y[j + 16] = Float((q >> 4) | h1) * d + m
        }
    }

    static func q8_0(_ p: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
        let d = half(p, 0)
        for j in 0..<32 {
            y[j] = Float(p.load(fromByteOffset: 2 + j, as: Int8.self)) * d
        }
    }

    static func q2_K(_ p: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
        // scales[16], qs[64], d, dmin
        let d = half(p, 80)
        let dmin = half(p, 82)
        var out = 0
        var scaleIndex = 0
        for half128 in 0..<2 {
            let q = 16 + half128 * 32
            var shift: UInt8 = 0
            for _ in 0..<4 {
                for sub in 0..<2 {
                    let sc = byte(p, scaleIndex)
                    scaleIndex += 1
                    let dl = d * Float(sc & 0x0F)
                    let ml = dmin * Float(sc >> 4)
                    for l in 0..<16 {
                        y[out] = dl * Float((byte(p, q + sub * 16 + l) >> shift) & 3) - ml
                        out += 1
                    }
                }
                shift += 2
            }
        }
    }

    static func q3_K(_ p: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
        // hmask[32], qs[64], scales[12], d
        let dAll = half(p, 108)
        let scales = unpackQ3KScales(p + 96)
        var out = 0
        var scaleIndex = 0
        var mask: UInt8 = 1
        for half128 in 0..<2 {
            let q = 32 + half128 * 32
            var shift: UInt8 = 0
            for _ in 0..<4 {
                for sub in 0..<2 {
                    let dl = dAll * Float(Int(scales[scaleIndex]) - 32)
                    scaleIndex += 1
                    for l in 0..<16 {
                        let index = sub * 16 + l
                        let low = Int((byte(p, q + index) >> shift) & 3)
                        let high = byte(p, index) & mask != 0 ? 0 : 4
                        y[out] = dl * Float(low - high)
                        out += 1
                    }
                }
                shift += 2
                mask <<= 1
            }
        }
    }

    /// Unpacks Q3_K's twelve bytes of 6-bit scales into sixteen values in 0..<64 (allocates: reference only).
    static func unpackQ3KScales(_ p: UnsafeRawPointer) -> [UInt8] {
        var scales = [UInt8](repeating: 0, count: 16)
        for j in 0..<16 {
            let low = j < 8 ? byte(p, j) & 0x0F : byte(p, j - 8) >> 4
            let high = (byte(p, 8 + j % 4) >> (2 * UInt8(j / 4))) & 3
            scales[j] = low | (high << 4)
        }
        return scales
    }

    /// Scale and min number `j` (0..<8) of a Q4_K/Q5_K super-block's twelve packed bytes.
    @inline(__always)
    static func scaleMinK4(_ j: Int, _ q: UnsafeRawPointer) -> (UInt8, UInt8) {
        if j < 4 {
            return (byte(q, j) & 63, byte(q, j + 4) & 63)
        }
        let d = (byte(q, j + 4) & 0x0F) | ((byte(q, j - 4) >> 6) << 4)
        let m = (byte(q, j + 4) >> 4) | ((byte(q, j) >> 6) << 4)
        return (d, m)
    }

    /// Scales and mins of the two 32-value halves of 64-value chunk `chunk` of a Q4_K/Q5_K super-block
    /// (`d`, `dmin` at bytes 0 and 2, packed scales at 4).
    @inline(__always)
    static func chunkScalesK4(_ p: UnsafeRawPointer, _ chunk: Int) -> (Float, Float, Float, Float) {
        let d = half(p, 0)
        let dmin = half(p, 2)
        let (sc1, m1) = scaleMinK4(2 * chunk, p + 4)
        let (sc2, m2) = scaleMinK4(2 * chunk + 1, p + 4)
        return (d * Float(sc1), dmin * Float(m1), d * Float(sc2), dmin * Float(m2))
    }

    static func q4_K(_ p: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
        // d, dmin, scales[12], qs[128]
        var out = 0
        for chunk in 0..<4 {
            let q = 16 + chunk * 32
            let (d1, mm1, d2, mm2) = chunkScalesK4(p, chunk)
            for l in 0..<32 {
                y[out + l] = d1 * Float(byte(p, q + l) & 0x0F) - mm1
                y[out + 32 + l] = d2 * Float(byte(p, q + l) >> 4) - mm2
            }
            out += 64
        }
    }

    static func q5_K(_ p: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
        // d, dmin, scales[12], qh[32], qs[128]
        var out = 0
        var u1: UInt8 = 1
        var u2: UInt8 = 2
        for chunk in 0..<4 {
            let ql = 48 + chunk * 32
            let (d1, mm1, d2, mm2) = chunkScalesK4(p, chunk)
            for l in 0..<32 {
                let qh = byte(p, 16 + l)
                y[out + l] = d1 * Float(Int(byte(p, ql + l) & 0x0F) + (qh & u1 != 0 ? 16 : 0)) - mm1
                y[out + 32 + l] = d2 * Float(Int(byte(p, ql + l) >> 4) + (qh & u2 != 0 ? 16 : 0)) - mm2
            }
            out += 64
            u1 <<= 2
            u2 <<= 2
        }
    }

    static func q6_K(_ p: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
        // ql[128], qh[64], scales[16] (int8), d
        let d = half(p, 208)
        for n in 0..<2 {
            let ql = n * 64
            let qh = 128 + n * 32
            let sc = 192 + n * 8
            let out = n * 128
            for l in 0..<32 {
                let s = l / 16
                let h = byte(p, qh + l)
                let q1 = Int((byte(p, ql + l) & 0x0F) | ((h & 3) << 4)) - 32
                let q2 = Int((byte(p, ql + l + 32) & 0x0F) | (((h >> 2) & 3) << 4)) - 32
                let q3 = Int((byte(p, ql + l) >> 4) | (((h >> 4) & 3) << 4)) - 32
                let q4 = Int((byte(p, ql + l + 32) >> 4) | (((h >> 6) & 3) << 4)) - 32
                y[out + l] = d * Float(p.load(fromByteOffset: sc + s, as: Int8.self)) * Float(q1)
                y[out + l + 32] = d * Float(p.load(fromByteOffset: sc + s + 2, as: Int8.self)) * Float(q2)
                y[out + l + 64] = d * Float(p.load(fromByteOffset: sc + s + 4, as: Int8.self)) * Float(q3)
                y[out + l + 96] = d * Float(p.load(fromByteOffset: sc + s + 6, as: Int8.self)) * Float(q4)
            }
        }
    }
}

/// Why a dequantization could not run.
public enum DequantizationError: Error, Equatable, CustomStringConvertible {
    case unsupportedType(GGMLType)
    case partialBlock(type: GGMLType, count: Int)
    case sourceTooSmall(needed: Int, available: Int)
    case destinationTooSmall(needed: Int, available: Int)

    public var description: String {
        switch self {
        case .unsupportedType(let type): "no dequantizer for tensor type \(type)"
        case .partialBlock(let type, let count):
            "\(count) values is not a whole number of \(type) blocks of \(type.blockSize)"
        case .sourceTooSmall(let needed, let available): "source holds \(available) bytes, \(needed) needed"
        case .destinationTooSmall(let needed, let available): "destination holds \(available) floats, \(needed) needed"
        }
    }
}
