import Foundation
import GGUF
import SwerveCore
import TestSupport
import Testing

/// Reference values from the `gguf` Python package (scripts/make-fixtures.py).
struct DequantFixture: Decodable {
    struct Synthetic: Decodable {
        var type: String
        var count: Int
        var data: String
        var values: [Float]
    }

    struct Real: Decodable {
        var model: String
        var tensor: String
        var type: String
        var row0: [Float]
        var row_last: [Float]
        var sum: Double
        var abs_sum: Double
    }

    var synthetic: [Synthetic]
    var real: [Real]
}

let dequantFixture = try! loadFixture("dequant", as: DequantFixture.self, in: .module)

func closeEnough(_ a: Float, _ b: Float) -> Bool {
    a == b || abs(a - b) <= 1e-6 * max(1, abs(b))
}

@Suite struct DequantizerTests {
    static let synthetic = dequantFixture.synthetic.map(\.type)
    static let real = dequantFixture.real.map { "\($0.model):\($0.type)" }

    @Test(arguments: synthetic)
    func syntheticBlocksMatchGGUFPackage(typeName: String) throws {
        let case_ = dequantFixture.synthetic.first { $0.type == typeName }!
        let type = try #require(GGMLType(name: typeName))
        let data = [UInt8](Data(base64Encoded: case_.data)!)
        let expected = case_.values
        let count = case_.count
        #expect(type.rowBytes(count) == data.count)
        let values = try data.withUnsafeBytes { try Dequantizer.dequantize(type, from: $0, count: count) }
        let mismatches = zip(values, expected).enumerated().filter { !closeEnough($0.element.0, $0.element.1) }
        #expect(
            mismatches.isEmpty,
            "\(typeName): \(mismatches.prefix(3).map { "[\($0.offset)] \($0.element.0) vs \($0.element.1)" })"
        )
    }

    @Test(.tags(.realModel), .needsRealModels, arguments: real)
    func realTensorsMatchGGUFPackage(label: String) async throws {
        let case_ = dequantFixture.real.first { "\($0.model):\($0.type)" == label }!
        let path = case_.model == "smollm2-135m" ? try await TestModels.smollm2() : try await TestModels.gemma3()
        let file = try GGUFFile(path: path)
        let tensor = try file.tensor(case_.tensor)
        #expect(tensor.type.description == case_.type)
        for (rows, expected) in [(0..<1, case_.row0), ((tensor.rowCount - 1)..<tensor.rowCount, case_.row_last)] {
            let values = try tensor.dequantized(rows: rows)
            #expect(zip(values, expected).allSatisfy { closeEnough($0, $1) }, "\(label) rows \(rows)")
        }
        let all = try tensor.dequantized()
        let sum = all.reduce(0.0) { $0 + Double($1) }
        let absSum = all.reduce(0.0) { $0 + Double(abs($1)) }
        let expectedAbs = case_.abs_sum
        #expect(abs(sum - case_.sum) <= 1e-6 * expectedAbs, "\(label) sum")
        #expect(abs(absSum - expectedAbs) <= 1e-6 * expectedAbs, "\(label) abs sum")
    }

    @Test func blockLayoutsAreGGMLs() {
        let sizes: [GGMLType: (Int, Int)] = [
            .f32: (1, 4), .f16: (1, 2), .bf16: (1, 2), .q4_0: (32, 18), .q4_1: (32, 20), .q5_0: (32, 22),
            .q5_1: (32, 24), .q8_0: (32, 34), .q2_K: (256, 84), .q3_K: (256, 110), .q4_K: (256, 144),
            .q5_K: (256, 176), .q6_K: (256, 210), .q8_K: (256, 292),
        ]
        for (type, (block, bytes)) in sizes {
            #expect(type.blockSize == block && type.typeSize == bytes, "\(type)")
        }
    }

    @Test func refusesWhatItCannotDo() {
        let bytes = [UInt8](repeating: 0, count: 64)
        bytes.withUnsafeBytes { raw in
            #expect(throws: DequantizationError.partialBlock(type: .q4_0, count: 31)) {
                try Dequantizer.dequantize(.q4_0, from: raw, count: 31)
            }
            #expect(throws: DequantizationError.sourceTooSmall(needed: 72, available: 64)) {
                try Dequantizer.dequantize(.q4_0, from: raw, count: 128)
            }
            #expect(throws: DequantizationError.unsupportedType(.q8_K)) {
                try Dequantizer.dequantize(.q8_K, from: raw, count: 256)
            }
        }
    }
}
