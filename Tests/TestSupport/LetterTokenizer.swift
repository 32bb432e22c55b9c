import Tokenizers

/// A tokenizer for synthetic models: token 0 is the end-of-sequence control token, token i > 0 is the
/// i-th of a run of short letter pieces ("a ", "b ", ..., "ab ", ...), so outputs read as text and stop
/// strings can be tested without a real vocabulary.
public struct LetterTokenizer: Tokenizer {
    public let tokens: [String]
    public let types: [TokenType]
    public let specialIDs: SpecialTokens
    /// Each token's bytes, made once (as a real tokenizer keeps them), so decoding allocates nothing.
    let tokenBytes: [[UInt8]]

    public init(vocabularySize: Int) {
        var tokens = ["</s>"]
        let letters = Array("abcdefghijklmnopqrstuvwxyz")
        for i in 1..<vocabularySize {
            let first = letters[(i - 1) % 26]
            tokens.append((i - 1) < 26 ? "\(first) " : "\(first)\(letters[(i - 1) / 26 % 26]) ")
        }
        self.tokens = tokens
        tokenBytes = tokens.map { Array($0.utf8) }
        types = [.control] + Array(repeating: .normal, count: vocabularySize - 1)
        specialIDs = SpecialTokens(eos: 0)
    }

    public func encode(_ text: String, parseSpecial: Bool, addBOS: Bool) -> [Int] {
        text.split(separator: " ").compactMap { piece in tokens.firstIndex(of: piece + " ") }
    }

    public func bytes(of id: Int, renderSpecial: Bool) -> [UInt8] {
        types[id] == .control && !renderSpecial ? [] : tokenBytes[id]
    }
}
