import SwerveCore

/// The disk tier's file for one KV block: a header naming what the block is (its tier namespace: model
/// digest and KV layout; its parent's chain hash, its own, extra key and tokens), the payload in the
/// backend's layout, and a checksum over all of it, so a torn, truncated, bit-flipped or foreign file is
/// recognised and never loaded. Little-endian:
///
/// | bytes | field |
/// | --- | --- |
/// | 0..<4 | magic `SWKV` |
/// | 4..<8 | format version (1) |
/// | 8..<16 | namespace (`KVTierStore.namespace`) |
/// | 16..<24 | parent chain hash |
/// | 24..<32 | chain hash (also the file's name) |
/// | 32..<40 | extra key (all ones: none) |
/// | 40..<44 | token count n |
/// | 44..<48 | reserved, 0 |
/// | 48..<56 | payload bytes |
/// | 56..<64 | checksum of bytes 0..<56, the tokens and the payload |
/// | 64..<64+4n | token ids |
/// | then | payload |
enum KVBlockFile {
    static let magic: UInt32 = 0x564B_5753  // "SWKV"
    static let version: UInt32 = 1
    static let headerBytes = 64

    /// Why a block file is not used.
    enum Defect: Error, Equatable {
        case truncated
        case notABlockFile
        case foreign
        case checksum
        case otherContents
    }

    /// The header fields read back.
    struct Header: Equatable {
        var namespace: UInt64
        var parent: UInt64
        var hash: UInt64
        var extra: UInt64
        var tokenCount: Int
        var payloadBytes: Int
        var checksum: UInt64
        var fileBytes: Int { KVBlockFile.headerBytes + 4 * tokenCount + payloadBytes }
    }

    static func fileBytes(_ data: KVBlockData) -> Int { headerBytes + 4 * data.key.tokens.count + data.byteCount }

    /// The whole file for `data` in `namespace`.
    static func encode(_ data: KVBlockData, namespace: UInt64) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: fileBytes(data))
        bytes.withUnsafeMutableBytes { out in
            let key = data.key
            out.storeBytes(of: magic.littleEndian, toByteOffset: 0, as: UInt32.self)
            out.storeBytes(of: version.littleEndian, toByteOffset: 4, as: UInt32.self)
            out.storeBytes(of: namespace.littleEndian, toByteOffset: 8, as: UInt64.self)
            out.storeBytes(of: key.parent.littleEndian, toByteOffset: 16, as: UInt64.self)
            out.storeBytes(of: key.chainHash.littleEndian, toByteOffset: 24, as: UInt64.self)
            out.storeBytes(of: extraBits(key.extra).littleEndian, toByteOffset: 32, as: UInt64.self)
            out.storeBytes(of: UInt32(key.tokens.count).littleEndian, toByteOffset: 40, as: UInt32.self)
            out.storeBytes(of: UInt64(data.byteCount).littleEndian, toByteOffset: 48, as: UInt64.self)
            for (index, token) in key.tokens.enumerated() {
                out.storeBytes(of: token.littleEndian, toByteOffset: headerBytes + 4 * index, as: Int32.self)
            }
            let payload = headerBytes + 4 * key.tokens.count
            UnsafeMutableRawBufferPointer(rebasing: out[payload...]).copyMemory(
                from: UnsafeRawBufferPointer(data.bytes)
            )
            let sum = checksum(UnsafeRawBufferPointer(out))
            out.storeBytes(of: sum.littleEndian, toByteOffset: 56, as: UInt64.self)
        }
        return bytes
    }

    /// The header of a file's first bytes, checked for magic, version and `namespace`; the file's length
    /// (`available` bytes) must be exactly what the header says.
    static func header(
        _ bytes: UnsafeRawBufferPointer,
        available: Int,
        namespace: UInt64,
        checkingLength: Bool = true
    ) throws(Defect) -> Header {
        guard bytes.count >= headerBytes else { throw .truncated }
        func u64(_ offset: Int) -> UInt64 {
            UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: UInt64.self))
        }
        func u32(_ offset: Int) -> UInt32 {
            UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: UInt32.self))
        }
        guard u32(0) == magic, u32(4) == version else { throw .notABlockFile }
        let header = Header(
            namespace: u64(8),
            parent: u64(16),
            hash: u64(24),
            extra: u64(32),
            tokenCount: Int(u32(40)),
            payloadBytes: Int(truncatingIfNeeded: u64(48)),
            checksum: u64(56)
        )
        guard header.namespace == namespace else { throw .foreign }
        guard header.payloadBytes >= 0, header.tokenCount < 1 << 20, !checkingLength || available == header.fileBytes
        else {
            throw .truncated
        }
        return header
    }

    /// The block of a whole file, verified: header, checksum, and contents equal to `key` (a 64-bit hash
    /// collision or a renamed file is refused).
    static func decode(
        _ bytes: UnsafeRawBufferPointer,
        namespace: UInt64,
        key: BlockKey,
        payloadBytes: Int
    )
        throws(Defect) -> KVBlockData
    {
        let header = try header(bytes, available: bytes.count, namespace: namespace)
        guard header.payloadBytes == payloadBytes else { throw .foreign }
        var zeroed = [UInt8](bytes)
        for index in 56..<64 { zeroed[index] = 0 }
        guard zeroed.withUnsafeBytes({ checksum($0) }) == header.checksum else { throw .checksum }
        guard header.parent == key.parent, header.extra == extraBits(key.extra), header.tokenCount == key.tokens.count
        else { throw .otherContents }
        for (index, token) in key.tokens.enumerated()
        where Int32(littleEndian: bytes.loadUnaligned(fromByteOffset: headerBytes + 4 * index, as: Int32.self)) != token
        {
            throw .otherContents
        }
        let data = KVBlockData(key: key, byteCount: payloadBytes)
        data.bytes.copyMemory(from: UnsafeRawBufferPointer(rebasing: bytes[(headerBytes + 4 * key.tokens.count)...]))
        return data
    }

    static func extraBits(_ extra: Int?) -> UInt64 { extra.map { UInt64(bitPattern: Int64($0)) } ?? .max }

    /// A 64-bit checksum of `bytes` (eight bytes at a time, multiply-xor-shift mixing): it detects torn and
    /// corrupted files, not tampering.
    static func checksum(_ bytes: UnsafeRawBufferPointer) -> UInt64 {
        var hash: UInt64 = 0x9E37_79B9_7F4A_7C15 ^ UInt64(bytes.count)
        var offset = 0
        func mix(_ word: UInt64) {
            hash = (hash ^ word) &* 0xBF58_476D_1CE4_E5B9
            hash ^= hash >> 31
        }
        while offset + 8 <= bytes.count {
            mix(bytes.loadUnaligned(fromByteOffset: offset, as: UInt64.self))
            offset += 8
        }
        var tail: UInt64 = 0
        for index in offset..<bytes.count { tail = tail << 8 | UInt64(bytes[index]) }
        mix(tail)
        return hash
    }
}
