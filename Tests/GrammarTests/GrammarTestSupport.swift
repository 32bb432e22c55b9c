import Grammar
import TestSupport

/// A small vocabulary for grammar tests: every single byte, some multi-byte pieces that cross grammar
/// boundaries (`{"`, `":"`, `","`, `true}`), and an end-of-sequence token without bytes.
enum TestVocabulary {
    static let pieces: [String] = [
        "{\"", "\":\"", "\",\"", "\":", "\",", "true", "false", "null", "}", "true}", "false}", "\"}", "em", "otion",
        "emotion", "happy", "happy_2", "_2", "learn", "_score", "score", "thats", "_right", "right", "ab", "abc", "12",
        "123", "-1", "0.", ".5", "e+", "[\"", "\"]", "],", "},{\"", " ", "  ", "\n", "é", "Xin chào", "\\\"", "\\n",
        "2024-", "-01", "T12", ":00", "Z\"", "@", ".com", "aaaa", "name", "age", "tags", "\":[", "\":{", "id",
    ]

    static let eos: Int32 = 256

    static let vocabulary: TokenVocabulary = {
        var bytes: [[UInt8]] = (0..<256).map { [UInt8($0)] }
        bytes.append([])  // end of sequence
        bytes += pieces.map { Array($0.utf8) }
        bytes.append([])  // another control token: never allowed
        return TokenVocabulary(tokenBytes: bytes, endOfSequence: [eos])
    }()

    static func constraint(_ spec: ConstraintSpec) throws -> StructuredConstraint {
        try StructuredConstraint(spec, vocabulary: vocabulary)
    }

    static func schema(_ json: String) throws -> StructuredConstraint { try constraint(.jsonSchema(json)) }
}

extension StructuredConstraint {
    /// Whether the grammar matches `text` whole.
    func matches(_ text: String) -> Bool {
        let state = automaton.run(from: automaton.initialState, bytes: Array(text.utf8))
        return state != GrammarAutomaton.dead && automaton.canEnd(state)
    }
}

extension SeededRandom {
    /// A uniform index below `n`.
    mutating func below(_ n: Int) -> Int { Int.random(in: 0..<n, using: &self) }
}

func allowedTokens(_ mask: [UInt64], size: Int) -> [Int32] {
    (0..<size).filter { mask[$0 >> 6] & (1 << UInt64($0 & 63)) != 0 }.map(Int32.init)
}
