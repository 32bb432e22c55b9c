import GGUF

/// SentencePiece-style vocabulary (GGUF `tokenizer.ggml.model` = `llama`, as Gemma ships): pieces with
/// scores, spaces written as U+2581, byte-fallback tokens `<0xXX>`.
///
/// Encoding follows llama.cpp's SPM tokenizer: special tokens are split out first; each text fragment
/// (with a leading space where `spacePrefix` puts one) has its spaces escaped, starts as one symbol per UTF-8 character, and the adjacent pair whose
/// concatenation is the highest-scoring vocabulary piece is merged until none is left; a symbol that is
/// not a piece falls back to its bytes' `<0xXX>` tokens.
public final class SentencePieceTokenizer: Tokenizer {
    public let tokens: [String]
    public let types: [TokenType]
    public let scores: [Float]
    public let specialIDs: SpecialTokens
    public let spacePrefix: SpacePrefix
    public var addSpacePrefix: Bool { spacePrefix != .none }

    /// Which text fragments get a leading space (U+2581).
    public enum SpacePrefix: String, Sendable {
        /// None (`add_space_prefix` false).
        case none
        /// SentencePiece's and llama.cpp's (and Llama 2's Prepend normalizer's): every fragment that starts
        /// the text or follows a special token.
        case sentencePiece
        /// Hugging Face's Metaspace pre-tokenizer, `prepend_scheme` always: the same fragments, unless one
        /// already starts with a space.
        case metaspaceAlways = "always"
        /// Metaspace with `prepend_scheme` first: only a fragment at the very start of the text, unless it
        /// starts with a space.
        case metaspaceFirst = "first"
    }

    /// Swerve's own metadata key for a Metaspace prefix rule (`SpacePrefix` raw value), which GGUF has no
    /// key for: a checkpoint's tokenizer.json sets it; GGUF files use `tokenizer.ggml.add_space_prefix`.
    public static let metaspaceKey = "tokenizer.swerve.metaspace_prepend_scheme"

    let idByPiece: [[UInt8]: Int32]
    let byteTokens: [Int32]
    let tokenBytes: [[UInt8]]
    let splitter: SpecialTokenSplitter

    static let spaceMarker: [UInt8] = Array("\u{2581}".utf8)

    public convenience init(gguf: GGUFFile) throws(TokenizerError) {
        let (tokens, types) = try vocabularyMetadata(gguf, model: "llama")
        guard let scores = gguf["tokenizer.ggml.scores"]?.doubles else {
            throw .missingMetadata("tokenizer.ggml.scores")
        }
        try self.init(
            tokens: tokens,
            types: types,
            scores: scores.map(Float.init),
            specialIDs: SpecialTokens(gguf: gguf),
            spacePrefix: gguf[Self.metaspaceKey]?.string.flatMap(SpacePrefix.init(rawValue:))
                ?? (gguf["tokenizer.ggml.add_space_prefix"]?.bool ?? true ? .sentencePiece : .none)
        )
    }

    public init(
        tokens: [String],
        types: [TokenType],
        scores: [Float],
        specialIDs: SpecialTokens,
        spacePrefix: SpacePrefix
    ) throws(TokenizerError) {
        guard scores.count == tokens.count else {
            throw .inconsistent("\(tokens.count) tokens but \(scores.count) scores")
        }
        try checkVocabulary(tokens: tokens, types: types, specialIDs: specialIDs)
        self.tokens = tokens
        self.types = types
        self.scores = scores
        self.specialIDs = specialIDs
        self.spacePrefix = spacePrefix
        var idByPiece: [[UInt8]: Int32] = [:]
        idByPiece.reserveCapacity(tokens.count)
        var byteTokens = [Int32](repeating: -1, count: 256)
        var tokenBytes: [[UInt8]] = []
        tokenBytes.reserveCapacity(tokens.count)
        for (id, text) in tokens.enumerated() {
            let raw = Array(text.utf8)
            if idByPiece[raw] == nil { idByPiece[raw] = Int32(id) }
            switch types[id] {
            case .byte:
                if let byte = Self.byteValue(text) {
                    if byteTokens[Int(byte)] < 0 { byteTokens[Int(byte)] = Int32(id) }
                    tokenBytes.append([byte])
                } else {
                    tokenBytes.append(raw)
                }
            case .normal: tokenBytes.append(Self.unescapeSpaces(raw))
            case .unknown: tokenBytes.append(Array("\u{2585}".utf8))
            default: tokenBytes.append(raw)
            }
        }
        self.idByPiece = idByPiece
        self.byteTokens = byteTokens
        self.tokenBytes = tokenBytes
        self.splitter = SpecialTokenSplitter(tokens: tokens, types: types)
    }

    /// The byte a `<0xXX>` piece stands for.
    static func byteValue(_ text: String) -> UInt8? {
        guard text.count == 6, text.hasPrefix("<0x"), text.hasSuffix(">") else { return nil }
        return UInt8(text.dropFirst(3).prefix(2), radix: 16)
    }

    static func unescapeSpaces(_ bytes: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count)
        var i = 0
        while i < bytes.count {
            if i + 2 < bytes.count, bytes[i] == 0xE2, bytes[i + 1] == 0x96, bytes[i + 2] == 0x81 {
                out.append(0x20)
                i += 3
            } else {
                out.append(bytes[i])
                i += 1
            }
        }
        return out
    }

    public func encode(_ text: String, parseSpecial: Bool, addBOS: Bool) -> [Int] {
        var output: [Int] = []
        if addBOS, let bos = specialIDs.bos { output.append(bos) }
        var previousIsSpecial = true
        var first = true
        for fragment in splitter.split(Array(text.utf8), parseSpecial: parseSpecial) {
            defer { first = false }
            switch fragment {
            case .special(let id):
                output.append(id)
                previousIsSpecial = true
            case .text(let bytes):
                var escaped: [UInt8] = []
                escaped.reserveCapacity(bytes.count + 8)
                let prefixed =
                    switch spacePrefix {
                    case .none: false
                    case .sentencePiece: previousIsSpecial
                    case .metaspaceAlways: previousIsSpecial && bytes.first != 0x20
                    case .metaspaceFirst: first && bytes.first != 0x20
                    }
                if prefixed { escaped += Self.spaceMarker }
                for byte in bytes {
                    if byte == 0x20 { escaped += Self.spaceMarker } else { escaped.append(byte) }
                }
                encodePieces(escaped, into: &output)
                previousIsSpecial = false
            }
        }
        if addBOS && specialIDs.addEOS, let eos = specialIDs.eos { output.append(eos) }
        return output
    }

    struct Symbol {
        var start: Int
        var length: Int
        var prev: Int
        var next: Int
    }

    struct Candidate {
        var score: Float
        var left: Int
        var right: Int
        var size: Int

        /// Higher score first, then the leftmost pair.
        func precedes(_ other: Candidate) -> Bool {
            score > other.score || (score == other.score && left < other.left)
        }
    }

    private func encodePieces(_ text: [UInt8], into output: inout [Int]) {
        guard !text.isEmpty else { return }
        var symbols: [Symbol] = []
        var offset = 0
        while offset < text.count {
            let lead = text[offset]
            let length = min(
                text.count - offset,
                lead < 0x80 ? 1 : lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : lead >= 0xC0 ? 2 : 1
            )
            symbols.append(Symbol(start: offset, length: length, prev: symbols.count - 1, next: -1))
            offset += length
            if offset < text.count { symbols[symbols.count - 1].next = symbols.count }
        }
        var heap = BinaryHeap<Candidate> { $0.precedes($1) }
        func tryAdd(_ left: Int, _ right: Int) {
            guard left >= 0, right >= 0 else { return }
            let start = symbols[left].start
            let size = symbols[left].length + symbols[right].length
            guard let id = idByPiece[Array(text[start..<(start + size)])] else { return }
            heap.push(Candidate(score: scores[Int(id)], left: left, right: right, size: size))
        }
        for i in 1..<symbols.count { tryAdd(i - 1, i) }
        while let top = heap.pop() {
            let left = symbols[top.left]
            let right = symbols[top.right]
            guard left.length > 0, right.length > 0, left.length + right.length == top.size else { continue }
            symbols[top.left].length += right.length
            symbols[top.right].length = 0
            symbols[top.left].next = right.next
            if right.next >= 0 { symbols[right.next].prev = top.left }
            tryAdd(symbols[top.left].prev, top.left)
            tryAdd(top.left, symbols[top.left].next)
        }
        var i = 0
        while i >= 0 {
            let symbol = symbols[i]
            let piece = Array(text[symbol.start..<(symbol.start + symbol.length)])
            if let id = idByPiece[piece] {
                output.append(Int(id))
            } else {
                for byte in piece where byteTokens[Int(byte)] >= 0 { output.append(Int(byteTokens[Int(byte)])) }
            }
            i = symbol.next
        }
    }

    public func bytes(of id: Int, renderSpecial: Bool) -> [UInt8] {
        pieceBytes(id, types: types, tokenBytes: tokenBytes, renderSpecial: renderSpecial)
    }
}
