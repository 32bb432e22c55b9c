import Foundation
import GGUF
import SwerveCore
import TestSupport
import Testing

/// A small file with every metadata type, nested arrays and two tensors.
func sampleFile(version: UInt32 = 3, alignment: UInt32? = nil) -> GGUFWriter {
    var w = GGUFWriter()
    w.version = version
    w.set("general.architecture", .string("llama"))
    if let alignment {
        w.set("general.alignment", .uint32(alignment))
        w.alignment = Int(alignment)
    }
    w.set("u8", .uint8(200))
    w.set("i8", .int8(-5))
    w.set("u16", .uint16(60000))
    w.set("i16", .int16(-30000))
    w.set("u32", .uint32(4_000_000_000))
    w.set("i32", .int32(-2_000_000_000))
    w.set("f32", .float32(1.5))
    w.set("bool", .bool(true))
    w.set("str", .string("Tiếng Việt 😀"))
    w.set("u64", .uint64(1 << 40))
    w.set("i64", .int64(-(1 << 40)))
    w.set("f64", .float64(-0.25))
    w.set("strings", .array(.string, [.string("a"), .string(""), .string("ccc")]))
    w.set("nested", .array(.array, [.array(.int32, [.int32(1), .int32(2)]), .array(.int32, [])]))
    w.set("empty", .array(.float32, []))
    w.addTensor("weights", shape: [4, 2], floats: [1, 2, 3, 4, 5, 6, 7, 8])
    var q8 = [UInt8](repeating: 0, count: 34)
    q8[0] = 0x00
    q8[1] = 0x3C  // d = 1.0 (f16)
    for j in 0..<32 { q8[2 + j] = UInt8(bitPattern: Int8(j - 16)) }
    w.addTensor("quant", type: .q8_0, shape: [32], data: q8)
    return w
}

@Suite struct GGUFReaderTests {
    @Test(arguments: [UInt32(2), 3])
    func roundTripsEveryValueType(version: UInt32) throws {
        let file = try GGUFFile(bytes: sampleFile(version: version).bytes())
        #expect(file.version == version)
        #expect(file.architecture == "llama")
        #expect(file["u8"] == .uint8(200))
        #expect(file["i8"] == .int8(-5))
        #expect(file["u16"] == .uint16(60000))
        #expect(file["i16"] == .int16(-30000))
        #expect(file["u32"] == .uint32(4_000_000_000))
        #expect(file["i32"] == .int32(-2_000_000_000))
        #expect(file["f32"] == .float32(1.5))
        #expect(file["bool"] == .bool(true))
        #expect(file["str"]?.string == "Tiếng Việt 😀")
        #expect(file["u64"]?.int == 1 << 40)
        #expect(file["i64"]?.int == -(1 << 40))
        #expect(file["f64"]?.double == -0.25)
        #expect(file["strings"]?.strings == ["a", "", "ccc"])
        #expect(file["nested"] == .array(.array, [.array(.int32, [.int32(1), .int32(2)]), .array(.int32, [])]))
        #expect(file["empty"] == .array(.float32, []))
        #expect(file.metadataKeys.first == "general.architecture")
        #expect(file.tensors.map(\.name) == ["weights", "quant"])
    }

    @Test func tensorViewsPointIntoTheMappingWithoutCopy() throws {
        let file = try GGUFFile(bytes: sampleFile().bytes())
        let weights = try file.tensor("weights")
        #expect(weights.shape == [4, 2])
        #expect(weights.rowCount == 2)
        #expect(try weights.dequantized() == [1, 2, 3, 4, 5, 6, 7, 8])
        #expect(try weights.dequantized(rows: 1..<2) == [5, 6, 7, 8])
        let base = file.mapping.bytes.baseAddress!
        #expect(weights.data.baseAddress! >= base && weights.data.baseAddress! < base + file.mapping.bytes.count)
        #expect((weights.data.baseAddress! - base) % file.alignment == 0)
        let quant = try file.tensor("quant")
        #expect(try quant.dequantized() == (0..<32).map { Float($0 - 16) })
        #expect(throws: GGUFError.self) { try file.tensor("missing") }
    }

    @Test func honoursGeneralAlignment() throws {
        let file = try GGUFFile(bytes: sampleFile(alignment: 64).bytes())
        #expect(file.alignment == 64)
        #expect(file.dataOffset % 64 == 0)
        #expect(try file.tensor("quant").dequantized()[31] == 15)
    }

    @Test func readsFromDisk() throws {
        let path = "/tmp/swerve-gguf-test-\(getpid()).gguf"
        let bytes = sampleFile().bytes()
        #expect(FileManagerLite.write(bytes, to: path))
        defer { FileManagerLite.remove(path) }
        let file = try GGUFFile(path: path)
        #expect(file.tensors.count == 2)
        #expect(throws: GGUFError.self) { try GGUFFile(path: path + ".does-not-exist") }
    }

    @Test(.tags(.realModel), .needsRealModels) func realModelDirectory() async throws {
        let file = try GGUFFile(path: try await TestModels.smollm2())
        #expect(file.version == 3)
        #expect(file.tensors.count == 272)
        #expect(file.metadata.count == 33)
        #expect(file["llama.block_count"]?.int == 30)
        #expect(file["tokenizer.ggml.tokens"]?.array?.count == 49152)
        let embedding = try file.tensor("token_embd.weight")
        #expect(embedding.type == .q8_0)
        #expect(embedding.shape == [576, 49152])
    }
}
