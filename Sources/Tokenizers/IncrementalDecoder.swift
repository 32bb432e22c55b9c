/// Turns a stream of token ids into text deltas that never split a UTF-8 character.
///
/// Bytes of an incomplete character are held back until the token that completes it arrives, so each
/// character is emitted once, whole. Bytes that can never form a character come out as U+FFFD.
public struct IncrementalDecoder: Sendable {
    private let tokenizer: any Tokenizer
    private let renderSpecial: Bool
    private var pending: [UInt8] = []

    public init(tokenizer: any Tokenizer, renderSpecial: Bool = false) {
        self.tokenizer = tokenizer
        self.renderSpecial = renderSpecial
    }

    /// The text that token `id` completes (possibly empty).
    public mutating func append(_ id: Int) -> String {
        pending.append(contentsOf: tokenizer.bytes(of: id, renderSpecial: renderSpecial))
        let complete = Self.completePrefixLength(pending)
        guard complete > 0 else { return "" }
        let text = String(decoding: pending[..<complete], as: UTF8.self)
        pending.removeFirst(complete)
        return text
    }

    /// Whatever is still held back, replaced as needed (call at the end of a stream).
    public mutating func flush() -> String {
        defer { pending.removeAll() }
        return String(decoding: pending, as: UTF8.self)
    }

    /// Length of the longest prefix that does not end inside a character that may still be completed.
    static func completePrefixLength(_ bytes: [UInt8]) -> Int {
        var i = bytes.count
        var back = 0
        // Find the start of the last character (at most 3 continuation bytes back).
        while i > 0 && back < 4 {
            let byte = bytes[i - 1]
            if byte & 0xC0 != 0x80 { break }
            i -= 1
            back += 1
        }
        guard i > 0 else { return back >= 4 ? bytes.count : 0 }
        let lead = bytes[i - 1]
        let needed: Int
        switch lead {
        case 0xC2...0xDF: needed = 2
        case 0xE0...0xEF: needed = 3
        case 0xF0...0xF4: needed = 4
        default: return bytes.count  // ASCII or an invalid lead: nothing to wait for
        }
        let have = bytes.count - (i - 1)
        return have < needed ? i - 1 : bytes.count
    }
}
