import Tokenizers

/// A tokenizer for structured-output tests on synthetic models: token 0 is end of sequence, then single
/// characters (enough for JSON: brackets, quotes, digits, letters) and, filling the vocabulary, pieces that
/// cross grammar boundaries (`{"`, `":"`, `","`, `true`). `encode` takes the longest piece at each point,
/// so jump-forward drafts mix single characters and pieces.
public struct ByteTokenizer: Tokenizer {
    public let tokens: [String]
    /// Each token's bytes, made once (a decoding engine asks for them every step).
    let tokenBytes: [[UInt8]]
    public let types: [TokenType]
    public let specialIDs: SpecialTokens

    public static let pieces = [
        "{\"", "\":\"", "\",\"", "\":", "true", "false", "null", "\"}", "name", "ok", "abc", "\",", "12", "\":[",
        "],", "}]",
    ]

    public init(vocabularySize: Int) {
        let characters = Array(#"{}[]":,.-+_ 0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ\/!?"#)
            .map(String.init)
        var tokens = ["</s>"] + characters
        for piece in Self.pieces where tokens.count < vocabularySize { tokens.append(piece) }
        while tokens.count < vocabularySize { tokens.append("#\(tokens.count)") }
        self.tokens = Array(tokens.prefix(vocabularySize))
        tokenBytes = self.tokens.map { Array($0.utf8) }
        types = [.control] + Array(repeating: .normal, count: vocabularySize - 1)
        specialIDs = SpecialTokens(eos: 0)
    }

    public func encode(_ text: String, parseSpecial: Bool, addBOS: Bool) -> [Int] {
        let bytes = Array(text.utf8)
        var out: [Int] = []
        var i = 0
        while i < bytes.count {
            var best = -1
            var length = 0
            for id in 1..<tokens.count {
                let piece = Array(tokens[id].utf8)
                if piece.count > length && i + piece.count <= bytes.count
                    && Array(bytes[i..<(i + piece.count)]) == piece
                {
                    best = id
                    length = piece.count
                }
            }
            guard best >= 0 else { break }
            out.append(best)
            i += length
        }
        return out
    }

    public func bytes(of id: Int, renderSpecial: Bool) -> [UInt8] {
        types[id] == .control && !renderSpecial ? [] : tokenBytes[id]
    }
}
