import CKernels
import Foundation
import SwerveCore
import TestSupport
import Testing

/// The dispatching kernels (AVX2 on this machine, when present) against the scalar references, and the
/// scalar dot products against plain float arithmetic on dequantized values, on random data.
/// `swv_attention`'s signature, so every level and the scalar kernel run through one call.
typealias AttentionKernel = (
    UnsafePointer<Float>?, Int64, UnsafePointer<swv_kv_pages>?, UnsafeMutablePointer<Float>?,
    Int64, Int64, Int64, Int64, Int64, Int64, Int64, Int64, Int64, Float
) -> Void

@Suite struct KernelTests {
    static let weightTypes: [GGMLType] = [.q4_0, .q4_1, .q5_0, .q8_0, .q4_K, .q6_K]

    static func randomFloats(_ count: Int, _ random: inout SeededRandom, range: ClosedRange<Float> = -2...2) -> [Float]
    {
        (0..<count).map { _ in Float.random(in: range, using: &random) }
    }

    /// Values of a quantized activation row (Q8_0, Q8_1: f16 d per 32; Q8_K: f32 d per 256).
    static func activationValues(_ bytes: [UInt8], type: Int32, n: Int) -> [Float] {
        bytes.withUnsafeBytes { raw in
            (0..<n).map { i in
                switch type {
                case Int32(SWV_TYPE_Q8_K):
                    let block = i / 256 * 292
                    return raw.loadUnaligned(fromByteOffset: block, as: Float.self)
                        * Float(raw.load(fromByteOffset: block + 4 + i % 256, as: Int8.self))
                default:
                    let size = type == Int32(SWV_TYPE_Q8_1) ? 36 : 34
                    let block = i / 32 * size
                    let header = type == Int32(SWV_TYPE_Q8_1) ? 4 : 2
                    let d = Float(Float16(bitPattern: raw.loadUnaligned(fromByteOffset: block, as: UInt16.self)))
                    return d * Float(raw.load(fromByteOffset: block + header + i % 32, as: Int8.self))
                }
            }
        }
    }

    static func quantize(_ x: [Float], type: Int32, scalar: Bool) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: swv_row_bytes(type, Int64(x.count)))
        out.withUnsafeMutableBytes { y in
            if scalar {
                swv_scalar_quantize_row(type, x, y.baseAddress, Int64(x.count))
            } else {
                swv_quantize_row(type, x, y.baseAddress, Int64(x.count))
            }
        }
        return out
    }

    @Test(arguments: [Int32(SWV_TYPE_Q8_0), Int32(SWV_TYPE_Q8_1), Int32(SWV_TYPE_Q8_K)])
    func activationQuantizationMatchesScalar(type: Int32) {
        var random = SeededRandom(seed: UInt64(type))
        for _ in 0..<20 {
            let x = Self.randomFloats(512, &random)
            let simd = Self.quantize(x, type: type, scalar: false)
            let scalar = Self.quantize(x, type: type, scalar: true)
            #expect(simd == scalar)
            // Each value is within half a quantization step of the input.
            let values = Self.activationValues(scalar, type: type, n: x.count)
            let step = type == Int32(SWV_TYPE_Q8_K) ? 256 : 32
            for (i, (v, original)) in zip(values, x).enumerated() {
                let block = x[(i / step * step)..<(i / step * step + step)]
                let d = block.map(abs).max()! / 127
                // Half a step, plus 127 steps of the f16 rounding of d (2^-11 relative).
                #expect(abs(v - original) <= d * 0.57)
            }
        }
    }

    /// One token takes the GEMV path (4 rows at a time, then the rest), 7 the GEMM path (4 tokens, then 3).
    @Test(arguments: weightTypes, [1, 7])
    func matmulMatchesScalarAndFloatArithmetic(type: GGMLType, tokens: Int) throws {
        var random = SeededRandom(seed: 7 + UInt64(type.rawValue))
        let n = 512
        let rows = 6
        let weights = SyntheticModel.randomBlocks(type, n, rows, &random)
        let activationType = swv_activation_type(Int32(type.rawValue), 0)
        let inputs = (0..<tokens).map { _ in Self.randomFloats(n, &random) }
        let quantized = inputs.flatMap { Self.quantize($0, type: activationType, scalar: true) }
        let aRowBytes = swv_row_bytes(activationType, Int64(n))
        let wRowBytes = type.rowBytes(n)!
        var simd = [Float](repeating: 0, count: rows * tokens)
        var scalar = simd
        weights.withUnsafeBytes { w in
            quantized.withUnsafeBytes { a in
                swv_matmul(
                    Int32(type.rawValue),
                    Int64(n),
                    w.baseAddress,
                    wRowBytes,
                    0,
                    Int64(rows),
                    a.baseAddress,
                    aRowBytes,
                    Int64(tokens),
                    &simd,
                    Int64(rows)
                )
                swv_scalar_matmul(
                    Int32(type.rawValue),
                    Int64(n),
                    w.baseAddress,
                    wRowBytes,
                    0,
                    Int64(rows),
                    a.baseAddress,
                    aRowBytes,
                    Int64(tokens),
                    &scalar,
                    Int64(rows)
                )
            }
        }
        let dense = try weights.withUnsafeBytes { try Dequantizer.dequantize(type, from: $0, count: n * rows) }
        for t in 0..<tokens {
            let a = Self.activationValues(
                Array(quantized[(t * aRowBytes)..<((t + 1) * aRowBytes)]),
                type: activationType,
                n: n
            )
            for r in 0..<rows {
                var exact: Double = 0
                var magnitude: Double = 0
                for i in 0..<n {
                    exact += Double(dense[r * n + i]) * Double(a[i])
                    magnitude += abs(Double(dense[r * n + i]) * Double(a[i]))
                }
                let tolerance = 1e-5 * magnitude + 1e-6
                #expect(abs(Double(scalar[t * rows + r]) - exact) <= tolerance, "\(type) scalar r\(r) t\(t)")
                #expect(
                    abs(Double(simd[t * rows + r]) - Double(scalar[t * rows + r])) <= tolerance,
                    "\(type) simd r\(r) t\(t)"
                )
            }
        }
    }

    /// Float weights (F32, F16, BF16) multiply f32 activations unquantized: 1, 2 and 7 tokens take every tile
    /// shape (4 or 1 rows × 3, 2 or 1 tokens), 516 values a tail past the last 8; the dispatching level
    /// against the scalar reference and both against double arithmetic on the widened weights.
    @Test(arguments: [GGMLType.f32, .f16, .bf16], [1, 2, 7])
    func floatWeightMatmulMatchesScalar(type: GGMLType, tokens: Int) {
        var random = SeededRandom(seed: 31 + UInt64(type.rawValue))
        let (n, rows) = (516, 6)
        let values = Self.randomFloats(n * rows, &random)
        var weights: [UInt8] = []
        for v in values {
            switch type {
            case .f32: withUnsafeBytes(of: v.bitPattern.littleEndian) { weights.append(contentsOf: $0) }
            case .f16: withUnsafeBytes(of: Float16(v).bitPattern.littleEndian) { weights.append(contentsOf: $0) }
            default: withUnsafeBytes(of: UInt16(v.bitPattern >> 16).littleEndian) { weights.append(contentsOf: $0) }
            }
        }
        let widened = try! weights.withUnsafeBytes { try Dequantizer.dequantize(type, from: $0, count: n * rows) }
        let inputs = Self.randomFloats(n * tokens, &random)
        #expect(swv_activation_type(Int32(type.rawValue), 0) == Int32(SWV_TYPE_F32))
        var simd = [Float](repeating: 0, count: rows * tokens)
        var scalar = simd
        let (wRowBytes, aRowBytes) = (n * type.typeSize, n * 4)
        weights.withUnsafeBytes { w in
            let t = Int32(type.rawValue)
            swv_matmul(t, Int64(n), w.baseAddress, wRowBytes, 0, 6, inputs, aRowBytes, Int64(tokens), &simd, 6)
            swv_scalar_matmul(t, Int64(n), w.baseAddress, wRowBytes, 0, 6, inputs, aRowBytes, Int64(tokens), &scalar, 6)
        }
        for t in 0..<tokens {
            for r in 0..<rows {
                var exact: Double = 0
                var magnitude: Double = 0
                for i in 0..<n {
                    let product = Double(widened[r * n + i]) * Double(inputs[t * n + i])
                    exact += product
                    magnitude += abs(product)
                }
                let tolerance = 1e-5 * magnitude + 1e-6
                #expect(abs(Double(scalar[t * rows + r]) - exact) <= tolerance, "\(type) scalar r\(r) t\(t)")
                #expect(abs(Double(simd[t * rows + r]) - exact) <= tolerance, "\(type) simd r\(r) t\(t)")
            }
        }
    }

    /// Query rows from 1 (decode: keys as rows) to 16 (several tiles, keys transposed), ragged key blocks; the
    /// last cases soft-cap the scores (Gemma 2).
    @Test(arguments: [
        (64, 9, 3, 0, false, 5, 0), (64, 4, 1, 5, false, 5, 0), (256, 4, 1, 0, false, 5, 0),
        (40, 2, 2, 3, false, 5, 0), (64, 9, 3, 0, true, 5, 0), (256, 4, 1, 7, true, 5, 0),
        (128, 8, 1, 0, false, 5, 0), (48, 6, 2, 0, false, 5, 0), (96, 6, 2, 9, true, 5, 0),
        (64, 9, 3, 0, false, 1, 0), (64, 9, 3, 5, true, 1, 0), (256, 4, 1, 0, false, 1, 0),
        (64, 9, 3, 0, false, 16, 0), (128, 8, 1, 0, true, 2, 0), (64, 9, 3, 0, false, 5, 2),
        (256, 4, 1, 7, true, 5, 2), (64, 9, 3, 5, true, 1, 2), (128, 8, 1, 0, false, 16, 1.5),
    ])
    func attentionMatchesScalar(
        headDim: Int,
        heads: Int,
        kvHeads: Int,
        window: Int,
        q8: Bool,
        queries: Int,
        softcap: Float
    ) throws {
        var random = SeededRandom(seed: UInt64(headDim * 100 + heads * 10 + window + (q8 ? 1 : 0) + queries * 7))
        let positions = 37
        let width = kvHeads * headDim
        let type = Int32(q8 ? SWV_TYPE_Q8_0 : SWV_TYPE_F16)
        let rowBytes = swv_kv_row_bytes(type, Int64(width))
        // Pages of 8 positions, the sequence's blocks scattered over a pool of 7.
        let blockSize = 8
        let table: [Int32] = [5, 2, 6, 0, 3]
        var keys = [UInt8](repeating: 0, count: 7 * blockSize * rowBytes)
        var values = keys
        for p in 0..<positions {
            let offset = (Int(table[p / blockSize]) * blockSize + p % blockSize) * rowBytes
            swv_kv_store(type, Self.randomFloats(width, &random), &keys[offset], Int64(width))
            swv_kv_store(type, Self.randomFloats(width, &random), &values[offset], Int64(width))
        }
        /// Position p's stored row, decoded by the Swift dequantizer (independent of the kernels).
        func row(_ pool: [UInt8], _ p: Int) throws -> [Float] {
            let offset = (Int(table[p / blockSize]) * blockSize + p % blockSize) * rowBytes
            var out = [Float](repeating: 0, count: width)
            try pool[offset..<(offset + rowBytes)].withUnsafeBytes { bytes in
                try out.withUnsafeMutableBufferPointer {
                    try Dequantizer.dequantize(q8 ? .q8_0 : .f16, from: bytes, count: width, into: $0)
                }
            }
            return out
        }
        let first = positions - queries
        let q = Self.randomFloats(queries * heads * headDim, &random, range: -1...1)
        let scale = 1 / Float(headDim).squareRoot()
        /// The kernel's output over keys [keyBegin, keyEnd) (keyEnd 0: all), its softmax state into `stats`;
        /// query rows `rows` and heads `headRange` only (the rest of the output 0).
        func attend(
            _ kernel: AttentionKernel,
            keyBegin: Int = 0,
            keyEnd: Int = 0,
            stats: UnsafeMutablePointer<Float>? = nil,
            rows: Range<Int>? = nil,
            headRange: Range<Int>? = nil
        ) -> [Float] {
            let rows = rows ?? 0..<queries
            let headRange = headRange ?? 0..<heads
            let stride = heads * headDim
            var out = [Float](repeating: 0, count: queries * stride)
            q.withUnsafeBufferPointer { q in
                out.withUnsafeMutableBufferPointer { out in
                    keys.withUnsafeBytes { k in
                        values.withUnsafeBytes { v in
                            table.withUnsafeBufferPointer { t in
                                var pages = swv_kv_pages(
                                    k: k.baseAddress,
                                    v: v.baseAddress,
                                    type: type,
                                    row_bytes: Int64(rowBytes),
                                    block_size: Int64(blockSize),
                                    block_table: t.baseAddress,
                                    key_begin: Int64(keyBegin),
                                    key_end: Int64(keyEnd),
                                    stats: stats,
                                    softcap: softcap
                                )
                                kernel(
                                    q.baseAddress! + rows.lowerBound * stride,
                                    Int64(stride),
                                    &pages,
                                    out.baseAddress! + rows.lowerBound * stride,
                                    Int64(stride),
                                    Int64(rows.count),
                                    Int64(first + rows.lowerBound),
                                    Int64(heads),
                                    Int64(kvHeads),
                                    Int64(headDim),
                                    Int64(headRange.lowerBound),
                                    Int64(headRange.upperBound),
                                    Int64(window),
                                    scale
                                )
                            }
                        }
                    }
                }
            }
            return out
        }
        let keyRows = try (0..<positions).map { try row(keys, $0) }
        let valueRows = try (0..<positions).map { try row(values, $0) }
        // Every level this CPU has and the scalar reference, on the same inputs.
        let levelKernels: [AttentionKernel] = PackedGEMMTests.levels.map { level in
            { q, qs, kv, out, os, n, first, heads, kvHeads, d, hb, he, window, scale in
                swv_attention_at(level, q, qs, kv, out, os, n, first, heads, kvHeads, d, hb, he, window, scale)
            }
        }
        let scalar = attend(swv_scalar_attention)
        let levels = levelKernels.map { attend($0) }
        // And the scalar kernel against a two-pass softmax written out here.
        var maxError: Float = 0
        for t in 0..<queries {
            let p = first + t
            let lo = window > 0 ? max(0, p - window + 1) : 0
            for h in 0..<heads {
                let g = h / (heads / kvHeads)
                let qh = (0..<headDim).map { Float(Float16(q[t * heads * headDim + h * headDim + $0])) }
                let scores = (lo...p).map { j in
                    let s = (0..<headDim).reduce(Float(0)) { $0 + qh[$1] * keyRows[j][g * headDim + $1] } * scale
                    return softcap > 0 ? softcap * tanhf(s / softcap) : s
                }
                let m = scores.max()!
                let e = scores.map { expf($0 - m) }
                let total = e.reduce(0, +)
                for d in 0..<headDim {
                    var expected: Float = 0
                    for (i, j) in (lo...p).enumerated() {
                        expected += e[i] / total * valueRows[j][g * headDim + d]
                    }
                    let index = t * heads * headDim + h * headDim + d
                    maxError = max(maxError, abs(scalar[index] - expected))
                    for simd in levels { maxError = max(maxError, abs(simd[index] - scalar[index])) }
                }
            }
        }
        #expect(maxError < 1e-4)

        // A row's result is the same bits whichever rows and heads share its call (the engine's steps group
        // rows and deal heads out by shape): each row alone, and the heads split in two ranges. Without a
        // window only: with one, a call's key blocks start at its first row's window.
        if window == 0 {
            for (level, kernel) in zip(PackedGEMMTests.levels, levelKernels) {
                let whole = attend(kernel)
                let name = String(cString: swv_isa_name(level))
                for t in 0..<queries {
                    let alone = attend(kernel, rows: t..<(t + 1))
                    let span = (t * heads * headDim)..<((t + 1) * heads * headDim)
                    let same = alone[span] == whole[span]
                    #expect(same, "\(name) row \(t) alone")
                }
                let split = heads / 2 + 1
                let low = attend(kernel, headRange: 0..<split)
                let high = attend(kernel, headRange: split..<heads)
                let same = zip(low, high).map { $0 + $1 } == whole
                #expect(same, "\(name) heads split at \(split)")
            }
        }

        // Key ranges (one of them seen by no row when there is a window) merged give the whole pass.
        let cuts = [0, 9, 30, 31, positions]
        for (level, kernel) in zip(PackedGEMMTests.levels, levelKernels) {
            var stats = [Float](repeating: 0, count: (cuts.count - 1) * queries * heads * 2)
            var parts: [Float] = []
            stats.withUnsafeMutableBufferPointer { stats in
                for i in 0..<(cuts.count - 1) {
                    let partStats = stats.baseAddress! + i * queries * heads * 2
                    parts += attend(kernel, keyBegin: cuts[i], keyEnd: cuts[i + 1], stats: partStats)
                }
            }
            var merged = [Float](repeating: .nan, count: queries * heads * headDim)
            swv_attention_merge(
                parts,
                Int64(queries * heads * headDim),
                stats,
                Int64(queries * heads * 2),
                Int64(cuts.count - 1),
                Int64(queries * heads),
                Int64(headDim),
                &merged
            )
            let whole = attend(kernel)
            let error = zip(merged, whole).map { abs($0 - $1) }.max()!
            #expect(error < 1e-5, "\(String(cString: swv_isa_name(level))) merged parts differ by \(error)")
        }
    }

    @Test func floatKernelsMatchScalar() {
        var random = SeededRandom(seed: 99)
        let n = 1000
        let g = Self.randomFloats(n, &random, range: -12...12)
        let u = Self.randomFloats(n, &random)
        for gelu: Int32 in [0, 1] {
            var simd = [Float](repeating: 0, count: n)
            var scalar = simd
            swv_glu(g, u, &simd, Int64(n), gelu)
            swv_scalar_glu(g, u, &scalar, Int64(n), gelu)
            for i in 0..<n {
                #expect(abs(simd[i] - scalar[i]) <= 1e-5 * max(1, abs(scalar[i])), "glu \(gelu) at \(g[i])")
            }
        }
        let w = Self.randomFloats(n, &random)
        var simd = [Float](repeating: 0, count: n)
        var scalar = simd
        swv_rms_norm(g, w, &simd, Int64(n), 1e-6)
        swv_scalar_rms_norm(g, w, &scalar, Int64(n), 1e-6)
        for i in 0..<n { #expect(abs(simd[i] - scalar[i]) <= 1e-5 * max(1, abs(scalar[i]))) }
    }

    @Test func halfConversionsMatchSwift() {
        var random = SeededRandom(seed: 5)
        var values: [Float] = [0, -0, 1, -1, 65504, 65520, 1e-8, 6e-8, 5.96e-8, 1e-5, -3.1e-5, .infinity, -.infinity]
        values += Self.randomFloats(2000, &random, range: -70000...70000)
        values += Self.randomFloats(2000, &random, range: -1e-4...1e-4)
        var scalar = [UInt16](repeating: 0, count: values.count)
        var simd = scalar
        swv_scalar_float_to_half_row(values, &scalar, Int64(values.count))
        swv_float_to_half_row(values, &simd, Int64(values.count))
        for (i, v) in values.enumerated() {
            #expect(scalar[i] == Float16(v).bitPattern, "\(v)")
            #expect(simd[i] == scalar[i], "\(v)")
            #expect(swv_half_to_float(scalar[i]) == Float(Float16(bitPattern: scalar[i])))
        }
    }

    @Test func ropeIsARotation() {
        var random = SeededRandom(seed: 11)
        for neox: Int32 in [0, 1] {
            var x = Self.randomFloats(64, &random)
            let before = x.reduce(0) { $0 + $1 * $1 }
            swv_rope(&x, 64, 17, 10_000, neox)
            #expect(abs(x.reduce(0) { $0 + $1 * $1 } - before) < 1e-3)
            var y = Self.randomFloats(64, &random)
            let original = y
            swv_rope(&y, 64, 0, 10_000, neox)
            #expect(y == original)
        }
    }
}
