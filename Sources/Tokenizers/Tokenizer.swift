import GGUF

/// Text to token ids and back, for one model's vocabulary.
///
/// `encode` matches llama.cpp's `llama_tokenize` with `parse_special` on; `bytes(of:)` its
/// `token_to_piece`. Implementations: `BPETokenizer` (byte-level BPE, `tokenizer.ggml.model` = `gpt2`) and
/// `SentencePieceTokenizer` (`llama`, as Gemma ships).
public protocol Tokenizer: Sendable {
    /// Vocabulary strings as the file stores them.
    var tokens: [String] { get }
    var types: [TokenType] { get }
    var specialIDs: SpecialTokens { get }
    /// Token ids of `text`; special tokens written in the text are recognised when `parseSpecial` is set.
    func encode(_ text: String, parseSpecial: Bool, addBOS: Bool) -> [Int]
    /// The bytes token `id` stands for; control tokens are empty unless `renderSpecial`.
    func bytes(of id: Int, renderSpecial: Bool) -> [UInt8]
}

extension Tokenizer {
    public var vocabularySize: Int { tokens.count }

    public func encode(_ text: String, parseSpecial: Bool = true, addBOS: Bool = false) -> [Int] {
        encode(text, parseSpecial: parseSpecial, addBOS: addBOS)
    }

    /// Text of `ids`; invalid UTF-8 is replaced with U+FFFD.
    public func decode(_ ids: [Int], renderSpecial: Bool = true) -> String {
        var bytes: [UInt8] = []
        for id in ids { bytes.append(contentsOf: self.bytes(of: id, renderSpecial: renderSpecial)) }
        return String(decoding: bytes, as: UTF8.self)
    }
}

/// The tokenizer a GGUF file's `tokenizer.ggml.model` names.
public func makeTokenizer(gguf: GGUFFile) throws(TokenizerError) -> any Tokenizer {
    switch gguf["tokenizer.ggml.model"]?.string ?? "" {
    case "gpt2": try BPETokenizer(gguf: gguf)
    case "llama": try SentencePieceTokenizer(gguf: gguf)
    case let model: throw .unsupportedModel(model)
    }
}

/// The vocabulary strings and token types of a GGUF file whose `tokenizer.ggml.model` is `model`.
func vocabularyMetadata(_ gguf: GGUFFile, model expected: String) throws(TokenizerError) -> ([String], [TokenType]) {
    let model = gguf["tokenizer.ggml.model"]?.string ?? ""
    guard model == expected else { throw .unsupportedModel(model) }
    guard let tokens = gguf["tokenizer.ggml.tokens"]?.strings else { throw .missingMetadata("tokenizer.ggml.tokens") }
    let types = gguf["tokenizer.ggml.token_type"]?.ints ?? Array(repeating: 1, count: tokens.count)
    return (tokens, types.map { TokenType(rawValue: $0) ?? .normal })
}

/// The bytes of token `id`: empty when out of range, and for control and unknown tokens unless `renderSpecial`.
func pieceBytes(_ id: Int, types: [TokenType], tokenBytes: [[UInt8]], renderSpecial: Bool) -> [UInt8] {
    guard id >= 0, id < tokenBytes.count else { return [] }
    if !renderSpecial && (types[id] == .control || types[id] == .unknown) { return [] }
    return tokenBytes[id]
}

/// Checks what every vocabulary needs: one type per token, ids that fit in 32 bits, special ids inside it.
func checkVocabulary(tokens: [String], types: [TokenType], specialIDs: SpecialTokens) throws(TokenizerError) {
    guard types.count == tokens.count else {
        throw .inconsistent("\(tokens.count) tokens but \(types.count) token types")
    }
    guard tokens.count < Int32.max / 2 else { throw .inconsistent("vocabulary of \(tokens.count) is too large") }
    for (name, id) in specialIDs.all where id < 0 || id >= tokens.count {
        throw .inconsistent("\(name) token id \(id) is outside the vocabulary of \(tokens.count)")
    }
}

/// Splits text around the vocabulary's special tokens (control, user-defined, unknown), longest token
/// first over every remaining text fragment, as llama.cpp's `tokenizer_st_partition` does. User-defined
/// tokens (GPT-NeoX's runs of spaces) are split out even when special tokens are not parsed, as there.
struct SpecialTokenSplitter: Sendable {
    enum Fragment {
        case text([UInt8])
        case special(Int)
    }

    /// Special tokens to find in text, longest first; `always` for user-defined ones.
    let specials: [(bytes: [UInt8], id: Int, always: Bool)]
    let hasUserDefined: Bool

    init(tokens: [String], types: [TokenType]) {
        specials = tokens.indices
            .filter { types[$0].isSpecial && !tokens[$0].isEmpty }
            .map { (Array(tokens[$0].utf8), $0, types[$0] == .userDefined) }
            .sorted { $0.bytes.count > $1.bytes.count || ($0.bytes.count == $1.bytes.count && $0.id < $1.id) }
        hasUserDefined = specials.contains { $0.always }
    }

    func split(_ bytes: [UInt8], parseSpecial: Bool) -> [Fragment] {
        // Empty text has no fragment, so SentencePiece adds no space prefix to it (as llama.cpp).
        guard !bytes.isEmpty else { return [] }
        var fragments: [Fragment] = [.text(bytes)]
        guard parseSpecial || hasUserDefined else { return fragments }
        var present = [Bool](repeating: false, count: 256)
        for byte in bytes { present[Int(byte)] = true }
        for (needle, id, always) in specials
        where (parseSpecial || always) && present[Int(needle[0])] && needle.count <= bytes.count {
            var next: [Fragment] = []
            var changed = false
            for fragment in fragments {
                guard case .text(let hay) = fragment, hay.count >= needle.count else {
                    next.append(fragment)
                    continue
                }
                var start = 0
                var i = 0
                let first = needle[0]
                while i + needle.count <= hay.count {
                    if hay[i] == first && hay[i..<(i + needle.count)].elementsEqual(needle) {
                        if start < i { next.append(.text(Array(hay[start..<i]))) }
                        next.append(.special(id))
                        i += needle.count
                        start = i
                        changed = true
                    } else {
                        i += 1
                    }
                }
                if start == 0 {
                    next.append(fragment)
                } else if start < hay.count {
                    next.append(.text(Array(hay[start...])))
                }
            }
            if changed { fragments = next }
        }
        return fragments
    }
}
