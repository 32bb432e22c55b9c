/// A vocabulary entry's kind, as GGUF's `tokenizer.ggml.token_type` numbers it.
public enum TokenType: Int, Sendable {
    case undefined = 0
    case normal = 1
    case unknown = 2
    case control = 3
    case userDefined = 4
    case unused = 5
    case byte = 6

    /// Whether text containing this token's string is tokenized to the token itself (special tokens).
    var isSpecial: Bool { self == .control || self == .userDefined || self == .unknown }
}
