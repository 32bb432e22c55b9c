import GGUF
import TestSupport
import Testing

/// Builds hostile GGUF images field by field.
struct RawGGUF {
    var bytes: [UInt8] = []

    mutating func u32(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { bytes += $0 } }
    mutating func u64(_ v: UInt64) { withUnsafeBytes(of: v.littleEndian) { bytes += $0 } }
    mutating func string(_ s: String) {
        u64(UInt64(s.utf8.count))
        bytes += s.utf8
    }

    /// Magic, version and the two counts.
    static func header(tensors: UInt64, kvs: UInt64, version: UInt32 = 3) -> RawGGUF {
        var raw = RawGGUF()
        raw.u32(GGUFFile.magic)
        raw.u32(version)
        raw.u64(tensors)
        raw.u64(kvs)
        return raw
    }

    /// One tensor info.
    mutating func tensor(_ name: String, dims: [UInt64], type: UInt32, offset: UInt64) {
        string(name)
        u32(UInt32(dims.count))
        for d in dims { u64(d) }
        u32(type)
        u64(offset)
    }

    func padded(to size: Int) -> [UInt8] { bytes + [UInt8](repeating: 0, count: max(0, size - bytes.count)) }
}

func problem(_ bytes: [UInt8]) -> GGUFError.Problem? {
    do {
        _ = try GGUFFile(bytes: bytes)
        return nil
    } catch {
        return error.problem
    }
}

@Suite struct MalformedGGUFTests {
    @Test func truncationAtEveryByteIsATypedError() throws {
        let full = sampleFile().bytes()
        let dataOffset = try GGUFFile(bytes: full).dataOffset
        for cut in 0..<full.count {
            let p = problem(Array(full[0..<cut]))
            #expect(p != nil, "a file cut to \(cut) bytes parsed")
            if cut < dataOffset - 32 {
                switch p {
                case .truncated?, .absurdCount?: break
                default: Issue.record("cut at \(cut): unexpected \(String(describing: p))")
                }
            }
        }
    }

    @Test func randomByteFlipsNeverCrash() throws {
        let full = sampleFile().bytes()
        var random = SeededRandom(seed: 42)
        var parsed = 0
        for _ in 0..<3000 {
            var bytes = full
            for _ in 0..<Int.random(in: 1...4, using: &random) {
                let at = Int.random(in: 0..<min(bytes.count, 700), using: &random)
                bytes[at] ^= UInt8.random(in: 1...255, using: &random)
            }
            do {
                let file = try GGUFFile(bytes: bytes)
                for info in file.tensors { _ = file.view(info) }
                parsed += 1
            } catch {
                #expect(!error.description.isEmpty)
            }
        }
        #expect(parsed < 3000)
    }

    @Test func headerProblemsAreNamed() {
        #expect(problem([]) == .truncated(field: "magic", needed: 4, available: 0))
        #expect(problem(Array("GGML".utf8) + [3, 0, 0, 0]) == .badMagic(found: 0x4C4D_4747))
        for version: UInt32 in [1, 4] {
            #expect(problem(RawGGUF.header(tensors: 0, kvs: 0, version: version).bytes) == .unsupportedVersion(version))
        }
        #expect(problem(RawGGUF.header(tensors: 0, kvs: 0).bytes) == nil)
    }

    @Test func hostileCountsAreRefusedBeforeAllocating() {
        if case .absurdCount(let field, _, _)? = problem(RawGGUF.header(tensors: 1 << 60, kvs: 0).bytes) {
            #expect(field == "tensor count")
        } else {
            Issue.record("huge tensor count not refused")
        }
        if case .absurdCount(let field, _, _)? = problem(RawGGUF.header(tensors: 0, kvs: .max).bytes) {
            #expect(field == "metadata count")
        } else {
            Issue.record("huge kv count not refused")
        }
        var longKey = RawGGUF.header(tensors: 0, kvs: 1)
        longKey.u64(1 << 62)
        if case .truncated(let field, _, _)? = problem(longKey.padded(to: 64)) {
            #expect(field == "key of metadata entry 0")
        } else {
            Issue.record("string longer than the file not refused")
        }
        var hugeArray = RawGGUF.header(tensors: 0, kvs: 1)
        hugeArray.string("tokens")
        hugeArray.u32(9)
        hugeArray.u32(8)
        hugeArray.u64(.max)
        if case .absurdCount(let field, _, _)? = problem(hugeArray.padded(to: 128)) {
            #expect(field == "element count of 'tokens'")
        } else {
            Issue.record("huge array not refused")
        }
    }

    @Test func metadataProblemsAreNamed() {
        var unknownType = RawGGUF.header(tensors: 0, kvs: 1)
        unknownType.string("k")
        unknownType.u32(99)
        #expect(problem(unknownType.padded(to: 64)) == .unknownValueType(key: "k", type: 99))

        var nested = RawGGUF.header(tensors: 0, kvs: 1)
        nested.string("deep")
        nested.u32(9)
        for _ in 0..<12 {
            nested.u32(9)
            nested.u64(1)
        }
        nested.u32(4)
        #expect(problem(nested.padded(to: 512)) == .nestingTooDeep(key: "deep"))

        var duplicate = RawGGUF.header(tensors: 0, kvs: 2)
        for _ in 0..<2 {
            duplicate.string("dup")
            duplicate.u32(4)
            duplicate.u32(1)
        }
        #expect(problem(duplicate.bytes) == .duplicateKey("dup"))

        var w = GGUFWriter()
        w.set("general.alignment", .uint32(3))
        #expect(problem(w.bytes()) == .badAlignment(3))
        w.set("general.alignment", .string("32"))
        #expect(problem(w.bytes()) == .wrongKeyType(key: "general.alignment", expected: "u32", found: .string))
    }

    @Test func tensorProblemsAreNamed() {
        func single(dims: [UInt64], type: UInt32 = 0, offset: UInt64 = 0, size: Int = 256) -> GGUFError.Problem? {
            var raw = RawGGUF.header(tensors: 1, kvs: 0)
            raw.tensor("t", dims: dims, type: type, offset: offset)
            return problem(raw.padded(to: size))
        }
        #expect(single(dims: [1, 1, 1, 1, 1]) == .tooManyDimensions(tensor: "t", dimensions: 5))
        #expect(single(dims: []) == .tooManyDimensions(tensor: "t", dimensions: 0))
        #expect(single(dims: [1 << 40]) == .badDimension(tensor: "t", dimension: 1 << 40))
        #expect(single(dims: [1 << 30, 1 << 30, 1 << 30]) == .badDimension(tensor: "t", dimension: 1 << 30))
        // A zero dimension keeps the element count at 0; the rows behind it must still not overflow (the
        // fuzzer's crash of stop 34).
        let big = UInt64(Int32.max)
        #expect(single(dims: [0, big, big, big]) == .badDimension(tensor: "t", dimension: big))
        #expect(single(dims: [4], type: 99) == .unknownTensorType(tensor: "t", type: 99))
        #expect(single(dims: [31], type: 2) == .partialBlock(tensor: "t", rowLength: 31, blockSize: 32))
        #expect(single(dims: [4], offset: 3) == .misalignedTensor(tensor: "t", offset: 3, alignment: 32))
        if case .tensorDataOutOfBounds(let name, _, let size)? = single(dims: [64], offset: 0, size: 128) {
            #expect(name == "t" && size == 128)
        } else {
            Issue.record("tensor past the end not refused")
        }
        if case .tensorDataOutOfBounds? = single(dims: [4], offset: UInt64.max - 31) {
        } else {
            Issue.record("overflowing offset not refused")
        }
        var twice = RawGGUF.header(tensors: 2, kvs: 0)
        twice.tensor("t", dims: [4], type: 0, offset: 0)
        twice.tensor("t", dims: [4], type: 0, offset: 32)
        #expect(problem(twice.padded(to: 256)) == .duplicateTensor("t"))
    }

    @Test func errorsSayWhatAndWhere() {
        let error = GGUFError(.truncated(field: "value of 'x'", needed: 8, available: 3), at: 120)
        #expect(
            error.description == "malformed GGUF at byte 120: file ends inside value of 'x': 8 bytes needed, 3 left"
        )
    }
}
