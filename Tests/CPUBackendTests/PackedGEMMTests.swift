import CKernels
import CPUBackend
import Foundation
import SwerveCore
import TestSupport
import Testing

/// The tiled GEMM over packed weights at every kernel level this machine has, against the scalar reference
/// (bit for bit: the integer sums are exact and every level applies the scales with the same FMAs in the
/// same order), and the packed product against the file-layout product and float arithmetic. Levels the
/// CPU lacks are skipped with a printed reason.
/// `swv_gemm`'s signature, so every level and the scalar reference run through one call.
typealias GEMMKernel = (
    Int32, Int64, UnsafeRawPointer?, Int64, Int64, Int64, UnsafeRawPointer?, Int, Int64, UnsafeMutablePointer<Float>?,
    Int64
) -> Void

@Suite struct PackedGEMMTests {
    static let packedTypes: [GGMLType] = [.q4_0, .q4_1, .q5_0, .q8_0, .q4_K, .q6_K]

    /// Every level this CPU supports (not necessarily every one below its best: Zen 4 has AVX-512 without
    /// AVX-VNNI); the others are named once, as skipped.
    static let levels: [swv_isa] = (0..<UInt32(SWV_ISA_COUNT)).map { swv_isa($0) }.filter { level in
        if swv_isa_supported(level) != 0 { return true }
        print("PackedGEMMTests: level \(String(cString: swv_isa_name(level))) skipped: this CPU lacks it")
        return false
    }

    static func pack(_ weights: [UInt8], type: GGMLType, n: Int, rows: Int) -> UnsafeMutableRawPointer {
        let t = Int32(type.rawValue)
        let bytes = max(1, (rows + 15) / 16 * swv_packed_group_bytes(t, Int64(n)))
        let packed = UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: 64)
        weights.withUnsafeBytes { swv_pack(t, Int64(n), $0.baseAddress, type.rowBytes(n)!, Int64(rows), packed) }
        return packed
    }

    static func quantizeQ8S(_ x: [Float], n: Int, level: swv_isa) -> [UInt8] {
        let rowBytes = swv_row_bytes(Int32(SWV_TYPE_Q8_S), Int64(n))
        var out = [UInt8](repeating: 0, count: x.count / n * rowBytes)
        out.withUnsafeMutableBytes { y in
            for t in 0..<(x.count / n) {
                swv_quantize_row_at(
                    level,
                    Int32(SWV_TYPE_Q8_S),
                    Array(x[(t * n)..<((t + 1) * n)]),
                    y.baseAddress! + t * rowBytes,
                    Int64(n)
                )
            }
        }
        return out
    }

    /// The product at `level`, or the scalar reference when nil; outputs not written stay NaN.
    static func gemm(
        level: swv_isa?,
        type: GGMLType,
        n: Int,
        packed: UnsafeRawPointer,
        groups: Range<Int>,
        rows: Int,
        activations: [UInt8],
        tokens: Int
    ) -> [Float] {
        var out = [Float](repeating: .nan, count: tokens * rows)
        let rowBytes = swv_row_bytes(Int32(SWV_TYPE_Q8_S), Int64(n))
        activations.withUnsafeBytes { a in
            out.withUnsafeMutableBufferPointer { o in
                let kernel: GEMMKernel =
                    level.map { level in { swv_gemm_at(level, $0, $1, $2, $3, $4, $5, $6, $7, $8, $9, $10) } }
                    ?? { swv_scalar_gemm($0, $1, $2, $3, $4, $5, $6, $7, $8, $9, $10) }
                kernel(
                    Int32(type.rawValue),
                    Int64(n),
                    packed,
                    Int64(groups.lowerBound),
                    Int64(groups.upperBound),
                    Int64(rows),
                    a.baseAddress,
                    rowBytes,
                    Int64(tokens),
                    o.baseAddress,
                    Int64(rows)
                )
            }
        }
        return out
    }

    @Test func levelsAreOrderedAndNamed() {
        #expect(swv_current_isa().rawValue <= swv_detect_isa().rawValue)
        for level in 0..<UInt32(SWV_ISA_COUNT) {
            let name = String(cString: swv_isa_name(swv_isa(level)))
            #expect(swv_isa_from_name(name) == Int32(level))
        }
        #expect(swv_isa_from_name("amx") == -1)
        // Names a user types: unknown ones are refused, never taken as some level.
        #expect(CPUBackend.isa(named: "avx2") == SWV_ISA_AVX2)
        #expect(CPUBackend.isa(named: "avx_vnni") == SWV_ISA_AVX_VNNI)
        for bad in ["", "AVX2", "avx-512", "amx", "avxvnni"] { #expect(CPUBackend.isa(named: bad) == nil) }
        // A partial table falls back: the plain AVX-512 level has no GEMM of its own, so it runs the
        // highest level below that has one and this CPU supports (AVX-VNNI is skipped where it is absent).
        if swv_isa_supported(SWV_ISA_AVX512) != 0 {
            let below = swv_isa_supported(SWV_ISA_AVX_VNNI) != 0 ? "avx_vnni" : "avx2"
            #expect(String(cString: swv_kernel_level(SWV_ISA_AVX512, "gemm")) == below)
            #expect(String(cString: swv_kernel_level(SWV_ISA_AVX512, "attention")) == "avx512")
        }
        // A cap to a level the CPU lacks runs at the highest one below it that it has.
        for level in 0..<UInt32(SWV_ISA_COUNT) {
            let capped = swv_isa_clamp(swv_isa(level)).rawValue
            #expect(capped <= level && swv_isa_supported(swv_isa(capped)) != 0)
            #expect(((capped + 1)..<(level + 1)).allSatisfy { swv_isa_supported(swv_isa($0)) == 0 })
        }
        #expect(swv_isa_supported(swv_detect_isa()) != 0)
        #expect(String(cString: swv_kernel_level(SWV_ISA_SCALAR, "attention")) == "scalar")
        #expect(swv_kernel_level(SWV_ISA_SCALAR, "no such family") == nil)
    }

    @Test func q8sQuantizationIsTheSameAtEveryLevel() {
        var random = SeededRandom(seed: 41)
        let n = 576
        let x = KernelTests.randomFloats(3 * n, &random) + [Float](repeating: 0, count: n)
        let scalar = Self.quantizeQ8S(x, n: n, level: SWV_ISA_SCALAR)
        for level in Self.levels { #expect(Self.quantizeQ8S(x, n: n, level: level) == scalar) }
        // Its quants and scale are Q8_0's; its sum is the quants' sum.
        let q8_0 = KernelTests.quantize(Array(x[0..<n]), type: Int32(SWV_TYPE_Q8_0), scalar: true)
        scalar.withUnsafeBytes { s in
            for b in 0..<(n / 32) {
                let block = b * MemoryLayout<swv_block_q8s>.size
                let quants = (0..<32).map { Int(s.load(fromByteOffset: block + $0, as: Int8.self)) }
                #expect(quants == (0..<32).map { Int(Int8(bitPattern: q8_0[b * 34 + 2 + $0])) })
                let d = Float(Float16(bitPattern: UInt16(q8_0[b * 34]) | UInt16(q8_0[b * 34 + 1]) << 8))
                #expect(s.loadUnaligned(fromByteOffset: block + 32, as: Float.self) == d)
                #expect(s.loadUnaligned(fromByteOffset: block + 40, as: Int32.self) == Int32(quants.reduce(0, +)))
                #expect(
                    s.loadUnaligned(fromByteOffset: block + 44, as: Int32.self) == Int32(quants[0..<16].reduce(0, +))
                )
            }
        }
    }

    /// Ragged shapes: rows not a multiple of 16, tokens not a multiple of any tile, and a group sub-range
    /// (row lengths rounded up to the type's block: 256 values for Q4_K and Q6_K).
    @Test(arguments: packedTypes, [(32, 1, 1), (576, 37, 1), (576, 16, 11), (1536, 17, 70), (64, 48, 9)])
    func everyLevelMatchesScalarBitForBit(type: GGMLType, shape given: (n: Int, rows: Int, tokens: Int)) {
        let n = (given.n + type.blockSize - 1) / type.blockSize * type.blockSize
        let shape = (n: n, rows: given.rows, tokens: given.tokens)
        let seed: Int = Int(type.rawValue) * 1000 + shape.n + shape.rows + shape.tokens
        var random = SeededRandom(seed: UInt64(seed))
        let weights = SyntheticModel.randomBlocks(type, shape.n, shape.rows, &random)
        let packed = Self.pack(weights, type: type, n: shape.n, rows: shape.rows)
        defer { packed.deallocate() }
        let x = KernelTests.randomFloats(shape.tokens * shape.n, &random)
        let activations = Self.quantizeQ8S(x, n: shape.n, level: SWV_ISA_SCALAR)
        let groups = (shape.rows + 15) / 16
        func run(_ level: swv_isa?, _ range: Range<Int>) -> [Float] {
            Self.gemm(
                level: level,
                type: type,
                n: shape.n,
                packed: packed,
                groups: range,
                rows: shape.rows,
                activations: activations,
                tokens: shape.tokens
            )
        }
        let reference = run(nil, 0..<groups)
        #expect(!reference.contains { $0.isNaN })
        for level in Self.levels {
            let name = String(cString: swv_isa_name(level))
            let out = run(level, 0..<groups)
            #expect(out == reference, "\(type) at \(name)")
            // Only the groups asked for are written.
            if groups > 1 {
                let part = run(level, 1..<groups)
                for t in 0..<shape.tokens {
                    for r in 0..<shape.rows {
                        let value = part[t * shape.rows + r]
                        if r < 16 {
                            #expect(value.isNaN, "\(type) at \(name): row \(r) outside the groups was written")
                        } else {
                            #expect(value == reference[t * shape.rows + r])
                        }
                    }
                }
            }
        }
    }

    /// Packed against the file layout (ggml's Q8_0/Q8_1/Q8_K activations) and against float arithmetic on the
    /// dequantized weights and the Q8_S activations' values.
    @Test(arguments: packedTypes)
    func packedMatchesFileLayoutAndFloatArithmetic(type: GGMLType) throws {
        var random = SeededRandom(seed: 97 + UInt64(type.rawValue))
        let (n, rows, tokens) = (512, 21, 5)
        let weights = SyntheticModel.randomBlocks(type, n, rows, &random)
        let packed = Self.pack(weights, type: type, n: n, rows: rows)
        defer { packed.deallocate() }
        let x = KernelTests.randomFloats(tokens * n, &random)
        let activations = Self.quantizeQ8S(x, n: n, level: SWV_ISA_SCALAR)
        let out = Self.gemm(
            level: nil,
            type: type,
            n: n,
            packed: packed,
            groups: 0..<2,
            rows: rows,
            activations: activations,
            tokens: tokens
        )
        let fileType = swv_activation_type(Int32(type.rawValue), 0)
        let fileActivations = (0..<tokens).flatMap {
            KernelTests.quantize(Array(x[($0 * n)..<(($0 + 1) * n)]), type: fileType, scalar: true)
        }
        var file = [Float](repeating: 0, count: tokens * rows)
        weights.withUnsafeBytes { w in
            fileActivations.withUnsafeBytes { a in
                swv_scalar_matmul(
                    Int32(type.rawValue),
                    Int64(n),
                    w.baseAddress,
                    type.rowBytes(n)!,
                    0,
                    Int64(rows),
                    a.baseAddress,
                    swv_row_bytes(fileType, Int64(n)),
                    Int64(tokens),
                    &file,
                    Int64(rows)
                )
            }
        }
        let dense = try weights.withUnsafeBytes { try Dequantizer.dequantize(type, from: $0, count: n * rows) }
        for t in 0..<tokens {
            let values = activations.withUnsafeBytes { s in
                (0..<n).map { i in
                    let block = (t * n / 32 + i / 32) * MemoryLayout<swv_block_q8s>.size
                    return s.loadUnaligned(fromByteOffset: block + 32, as: Float.self)
                        * Float(s.load(fromByteOffset: block + i % 32, as: Int8.self))
                }
            }
            for r in 0..<rows {
                var exact: Double = 0
                var magnitude: Double = 0
                for i in 0..<n {
                    exact += Double(dense[r * n + i]) * Double(values[i])
                    magnitude += abs(Double(dense[r * n + i]) * Double(values[i]))
                }
                let got = Double(out[t * rows + r])
                // Q4_1's min term uses s = d * sum rounded to f16 (as ggml's Q8_1), not the quants' values.
                let floatTolerance = (type == .q4_1 ? 2e-3 : 1e-5) * magnitude + 1e-6
                #expect(abs(got - exact) <= floatTolerance, "\(type) r\(r) t\(t) vs float")
                // Q4_K's and Q6_K's file layouts pair with Q8_K, quantized per 256 values rather than per 32.
                let tolerance = (type == .q4_K || type == .q6_K ? 5e-3 : 1e-5) * magnitude + 1e-6
                #expect(abs(got - Double(file[t * rows + r])) <= tolerance, "\(type) r\(r) t\(t) vs file")
            }
        }
    }
}
