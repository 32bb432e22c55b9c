/// A set of Unicode scalars as sorted, disjoint ranges: what a regex or EBNF character class, `.` or a JSON
/// string character matches. Turned into grammar alternatives over UTF-8 bytes (`alternatives`), either
/// raw or as the JSON string escapes that stand for them.
public struct CharacterClass: Equatable, Sendable {
    public private(set) var ranges: [ClosedRange<UInt32>]

    public init(_ ranges: [ClosedRange<UInt32>]) {
        self.ranges = Self.normalize(ranges)
    }

    public init(scalar: UInt32) { self.init([scalar...scalar]) }

    /// Every Unicode scalar value (surrogates excluded).
    public static let any = CharacterClass([0...0xD7FF, 0xE000...0x10FFFF])
    public static let digit = CharacterClass([0x30...0x39])
    public static let word = CharacterClass([0x30...0x39, 0x41...0x5A, 0x5F...0x5F, 0x61...0x7A])
    public static let space = CharacterClass([0x09...0x0D, 0x20...0x20])

    public var isEmpty: Bool { ranges.isEmpty }

    static func normalize(_ input: [ClosedRange<UInt32>]) -> [ClosedRange<UInt32>] {
        var result: [ClosedRange<UInt32>] = []
        for range in input.sorted(by: { $0.lowerBound < $1.lowerBound }) {
            if let last = result.last, range.lowerBound <= last.upperBound &+ 1 {
                result[result.count - 1] = last.lowerBound...max(last.upperBound, range.upperBound)
            } else {
                result.append(range)
            }
        }
        // Surrogates are not scalars.
        var clipped: [ClosedRange<UInt32>] = []
        for range in result {
            if range.upperBound < 0xD800 || range.lowerBound > 0xDFFF {
                clipped.append(range)
            } else {
                if range.lowerBound < 0xD800 { clipped.append(range.lowerBound...0xD7FF) }
                if range.upperBound > 0xDFFF { clipped.append(0xE000...range.upperBound) }
            }
        }
        return clipped
    }

    public func union(_ other: CharacterClass) -> CharacterClass { CharacterClass(ranges + other.ranges) }

    /// The scalars not in this class.
    public var inverted: CharacterClass {
        var result: [ClosedRange<UInt32>] = []
        var next: UInt32 = 0
        for range in ranges {
            if range.lowerBound > next { result.append(next...(range.lowerBound - 1)) }
            next = range.upperBound + 1
        }
        if next <= 0x10FFFF { result.append(next...0x10FFFF) }
        return CharacterClass(result)
    }

    public func contains(_ scalar: UInt32) -> Bool { ranges.contains { $0.contains(scalar) } }

    public func subtracting(_ other: CharacterClass) -> CharacterClass {
        var result: [ClosedRange<UInt32>] = []
        for range in ranges {
            var pieces = [range]
            for cut in other.ranges {
                pieces = pieces.flatMap { piece -> [ClosedRange<UInt32>] in
                    guard cut.overlaps(piece) else { return [piece] }
                    var kept: [ClosedRange<UInt32>] = []
                    if piece.lowerBound < cut.lowerBound { kept.append(piece.lowerBound...(cut.lowerBound - 1)) }
                    if piece.upperBound > cut.upperBound { kept.append((cut.upperBound + 1)...piece.upperBound) }
                    return kept
                }
            }
            result += pieces
        }
        return CharacterClass(result)
    }

    /// Grammar alternatives matching one scalar of the class as UTF-8; with `json`, as the content of a JSON
    /// string: `"`, `\` and control characters as their escapes, everything else raw.
    public func alternatives(json: Bool = false) -> [[Grammar.Symbol]] {
        var plain = self
        var escaped: [[Grammar.Symbol]] = []
        if json {
            let special = CharacterClass([0...0x1F, 0x22...0x22, 0x5C...0x5C])
            plain = subtracting(special)
            let allControls = CharacterClass([0...0x1F]).subtracting(self).isEmpty
            if allControls {
                // Every control character: the short escapes, and \u00XX for all of them.
                let hex = ByteSet(bytes: Array("0123456789abcdefABCDEF".utf8))
                escaped.append([.bytes(ByteSet(0x5C)), .bytes(ByteSet(bytes: Array("bfnrt".utf8)))])
                escaped.append(GrammarBuilder.literal("\\u00") + [.bytes(ByteSet(0x30...0x31)), .bytes(hex)])
            }
            for range in ranges where range.lowerBound <= 0x5C {
                for scalar in range.lowerBound...min(range.upperBound, 0x5C)
                where special.contains(scalar) && !(allControls && scalar < 0x20) {
                    escaped.append(GrammarBuilder.literal(Self.jsonEscape(scalar)))
                }
            }
        }
        var single = ByteSet()
        var multi: [[Grammar.Symbol]] = []
        for range in plain.ranges {
            for sequence in Self.utf8Sequences(range.lowerBound, range.upperBound) {
                if sequence.count == 1 {
                    for byte in sequence[0] { single.insert(byte) }
                } else {
                    multi.append(sequence.map { .bytes(ByteSet($0)) })
                }
            }
        }
        return (single.isEmpty ? [] : [[.bytes(single)]]) + multi + escaped
    }

    static func jsonEscape(_ scalar: UInt32) -> String {
        switch scalar {
        case 0x22: return "\\\""
        case 0x5C: return "\\\\"
        case 0x0A: return "\\n"
        case 0x0D: return "\\r"
        case 0x09: return "\\t"
        case 0x08: return "\\b"
        case 0x0C: return "\\f"
        default:
            let hex = String(scalar, radix: 16)
            return "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
        }
    }

    /// The UTF-8 encodings of scalars `low...high` as sequences of byte ranges (each sequence matches a
    /// contiguous block of scalars with one byte range per position), the classic split at encoding-length
    /// and continuation-byte boundaries.
    static func utf8Sequences(_ low: UInt32, _ high: UInt32) -> [[ClosedRange<UInt8>]] {
        guard low <= high else { return [] }
        for boundary: UInt32 in [0x7F, 0x7FF, 0xFFFF] where low <= boundary && high > boundary {
            return utf8Sequences(low, boundary) + utf8Sequences(boundary + 1, high)
        }
        if high <= 0x7F { return [[UInt8(low)...UInt8(high)]] }
        let length = high <= 0x7FF ? 2 : high <= 0xFFFF ? 3 : 4
        for i in 1..<length {
            let m: UInt32 = (1 << (6 * UInt32(i))) - 1
            if low & ~m != high & ~m {
                if low & m != 0 { return utf8Sequences(low, low | m) + utf8Sequences((low | m) + 1, high) }
                if high & m != m { return utf8Sequences(low, (high & ~m) - 1) + utf8Sequences(high & ~m, high) }
            }
        }
        let a = encode(low)
        let b = encode(high)
        return [zip(a, b).map { $0...$1 }]
    }

    static func encode(_ scalar: UInt32) -> [UInt8] {
        Array(String(UnicodeScalar(scalar).map(Character.init) ?? " ").utf8)
    }
}
