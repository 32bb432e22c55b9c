import Foundation
import SwerveCore
import TestSupport
import Testing

/// Rows quantized by the `gguf` Python package (scripts/make-quantize-fixture.py).
struct QuantizeFixture: Decodable {
    struct Case: Decodable {
        var type: String
        var values: [Float]
        var data: String
    }

    var cases: [Case]
}

let quantizeFixture = try! loadFixture("quantize", as: QuantizeFixture.self, in: .module)

@Suite struct QuantizerTests {
    static let types: [String: GGMLType] = ["Q8_0": .q8_0, "Q4_0": .q4_0, "F16": .f16, "BF16": .bf16]

    /// Byte for byte what ggml's reference quantizers (through the gguf package) write.
    @Test(arguments: quantizeFixture.cases.indices)
    func matchesTheGGUFPackage(index: Int) throws {
        let c = quantizeFixture.cases[index]
        let type = try #require(Self.types[c.type])
        var out: [UInt8] = []
        c.values.withUnsafeBufferPointer { Quantizer.append($0, as: type, to: &out) }
        #expect(out == Array(Data(base64Encoded: c.data)!), "\(c.type) case \(index)")
        #expect(out.count == type.rowBytes(c.values.count))
    }

    /// Written and read back, every type stays within half its step (Q8_0: plus 127 f16 roundings of the
    /// step; Q4_0: a whole step, since +8 steps clamps to +7) and f32 exactly.
    @Test(arguments: [GGMLType.q8_0, .q4_0, .f16, .bf16, .f32])
    func roundTripsWithinTheirStep(type: GGMLType) throws {
        var random = SeededRandom(seed: 3)
        let values = (0..<256).map { _ in Float.random(in: -4...4, using: &random) }
        var out: [UInt8] = []
        values.withUnsafeBufferPointer { Quantizer.append($0, as: type, to: &out) }
        let back = try out.withUnsafeBytes { try Dequantizer.dequantize(type, from: $0, count: values.count) }
        for block in stride(from: 0, to: values.count, by: 32) {
            let amax = values[block..<(block + 32)].map(abs).max()!
            for i in block..<(block + 32) {
                let tolerance: Float =
                    switch type {
                    case .q8_0: amax / 127 * 0.57
                    case .q4_0: amax / 8 * 1.01
                    case .f16: abs(values[i]) * 0x1p-11
                    case .bf16: abs(values[i]) * 0x1p-8
                    default: 0
                    }
                #expect(abs(back[i] - values[i]) <= tolerance, "\(type) value \(i)")
            }
        }
    }

    /// A non-finite weight quantizes without trapping.
    @Test func nonFiniteValuesDoNotTrap() {
        let values: [Float] = [.nan, .infinity, -.infinity] + [Float](repeating: 1, count: 29)
        for type in [GGMLType.q8_0, .q4_0, .f16, .bf16] {
            var out: [UInt8] = []
            values.withUnsafeBufferPointer { Quantizer.append($0, as: type, to: &out) }
            #expect(out.count == type.rowBytes(32))
        }
    }
}
