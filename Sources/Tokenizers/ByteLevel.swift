/// GPT-2's reversible map between bytes and printable code points, used by byte-level BPE vocabularies.
///
/// Printable Latin-1 bytes map to themselves; the other 68 bytes map to U+0100 and up, in byte order.
/// Vocabulary entries are stored in this alphabet; encoding maps text bytes into it, decoding maps back.
enum ByteLevel {
    static let byteToScalar: [Unicode.Scalar] = {
        var table = [Unicode.Scalar](repeating: "\0", count: 256)
        var next: UInt32 = 256
        for byte in 0..<256 {
            let printable = (33...126).contains(byte) || (161...172).contains(byte) || (174...255).contains(byte)
            if printable {
                table[byte] = Unicode.Scalar(UInt32(byte))!
            } else {
                table[byte] = Unicode.Scalar(next)!
                next += 1
            }
        }
        return table
    }()

    static let scalarToByte: [UInt32: UInt8] = {
        var map: [UInt32: UInt8] = [:]
        for (byte, scalar) in byteToScalar.enumerated() { map[scalar.value] = UInt8(byte) }
        return map
    }()

    /// The raw bytes a vocabulary string stands for, or nil if it holds a code point outside the alphabet.
    static func decode(_ text: String) -> [UInt8]? {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(text.unicodeScalars.count)
        for scalar in text.unicodeScalars {
            guard let byte = scalarToByte[scalar.value] else { return nil }
            bytes.append(byte)
        }
        return bytes
    }
}
