import KVEvents
import Testing

/// Byte-exact against the MessagePack specification's formats.
@Suite struct MessagePackWriterTests {
    func bytes(_ write: (inout MessagePackWriter) -> Void) -> [UInt8] {
        var writer = MessagePackWriter()
        write(&writer)
        return writer.bytes
    }

    func signed(_ value: Int64) -> [UInt8] { bytes { $0.write(value) } }
    func unsigned(_ value: UInt64) -> [UInt8] { bytes { $0.write(value) } }

    @Test func integersTakeTheShortestForm() {
        #expect(signed(0) == [0x00])
        #expect(signed(127) == [0x7F])
        #expect(signed(128) == [0xCC, 0x80])
        #expect(signed(65_535) == [0xCD, 0xFF, 0xFF])
        #expect(signed(65_536) == [0xCE, 0x00, 0x01, 0x00, 0x00])
        #expect(unsigned(.max) == [0xCF] + [UInt8](repeating: 0xFF, count: 8))
        #expect(signed(-1) == [0xFF])
        #expect(signed(-32) == [0xE0])
        #expect(signed(-33) == [0xD0, 0xDF])
        #expect(signed(-129) == [0xD1, 0xFF, 0x7F])
        #expect(signed(.min) == [0xD3, 0x80] + [UInt8](repeating: 0, count: 7))
    }

    @Test func otherTypes() {
        let long = String(repeating: "x", count: 40)
        let written = [
            bytes { $0.writeNil() }, bytes { $0.write(true) }, bytes { $0.write(1.5) }, bytes { $0.write("type") },
            bytes { $0.write(long) }, bytes { $0.writeArrayHeader(3) }, bytes { $0.writeArrayHeader(16) },
            bytes { $0.writeMapHeader(2) }, bytes { $0.writeMapHeader(70_000) },
        ]
        let expected: [[UInt8]] = [
            [0xC0], [0xC3], [0xCB, 0x3F, 0xF8, 0, 0, 0, 0, 0, 0], [0xA4] + Array("type".utf8),
            [0xD9, 40] + Array(long.utf8), [0x93], [0xDC, 0x00, 0x10], [0x82], [0xDF, 0x00, 0x01, 0x11, 0x70],
        ]
        #expect(written == expected)
    }
}
