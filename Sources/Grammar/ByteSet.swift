/// A set of byte values (256 bits): the terminal of every grammar rule, since grammars here match the
/// UTF-8 bytes that tokens stand for.
public struct ByteSet: Hashable, Sendable, CustomStringConvertible {
    public var words: (UInt64, UInt64, UInt64, UInt64)

    public init() { words = (0, 0, 0, 0) }

    public init(_ byte: UInt8) {
        self.init()
        insert(byte)
    }

    /// The bytes `range.lowerBound...range.upperBound`.
    public init(_ range: ClosedRange<UInt8>) {
        self.init()
        for byte in range { insert(byte) }
    }

    public init<S: Sequence>(bytes: S) where S.Element == UInt8 {
        self.init()
        for byte in bytes { insert(byte) }
    }

    public static let all: ByteSet = ByteSet(0...255)

    @inline(__always)
    public func contains(_ byte: UInt8) -> Bool {
        let bit = UInt64(1) << UInt64(byte & 63)
        switch byte >> 6 {
        case 0: return words.0 & bit != 0
        case 1: return words.1 & bit != 0
        case 2: return words.2 & bit != 0
        default: return words.3 & bit != 0
        }
    }

    public mutating func insert(_ byte: UInt8) {
        let bit = UInt64(1) << UInt64(byte & 63)
        switch byte >> 6 {
        case 0: words.0 |= bit
        case 1: words.1 |= bit
        case 2: words.2 |= bit
        default: words.3 |= bit
        }
    }

    public func union(_ other: ByteSet) -> ByteSet {
        var result = self
        result.words = (
            words.0 | other.words.0, words.1 | other.words.1, words.2 | other.words.2, words.3 | other.words.3
        )
        return result
    }

    public var inverted: ByteSet {
        var result = self
        result.words = (~words.0, ~words.1, ~words.2, ~words.3)
        return result
    }

    public var count: Int {
        words.0.nonzeroBitCount + words.1.nonzeroBitCount + words.2.nonzeroBitCount + words.3.nonzeroBitCount
    }

    public var isEmpty: Bool { count == 0 }

    /// The only member, when there is exactly one.
    public var single: UInt8? {
        guard count == 1 else { return nil }
        return (0...255).first { contains(UInt8($0)) }.map(UInt8.init)
    }

    public static func == (a: ByteSet, b: ByteSet) -> Bool {
        a.words.0 == b.words.0 && a.words.1 == b.words.1 && a.words.2 == b.words.2 && a.words.3 == b.words.3
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(words.0)
        hasher.combine(words.1)
        hasher.combine(words.2)
        hasher.combine(words.3)
    }

    public var description: String {
        var parts: [String] = []
        var byte = 0
        while byte < 256 {
            guard contains(UInt8(byte)) else {
                byte += 1
                continue
            }
            var end = byte
            while end + 1 < 256 && contains(UInt8(end + 1)) { end += 1 }
            func show(_ b: Int) -> String {
                (0x21..<0x7F).contains(b) && b != 0x5D && b != 0x5C && b != 0x2D
                    ? String(UnicodeScalar(UInt8(b))) : "\\x" + String(b, radix: 16, uppercase: true)
            }
            parts.append(end == byte ? show(byte) : "\(show(byte))-\(show(end))")
            byte = end + 1
        }
        return "[" + parts.joined() + "]"
    }
}
