/// Splits text into the words BPE merges within, following the regex of a GGUF `tokenizer.ggml.pre` type.
///
/// Each splitter is a hand-written matcher equivalent to its regex, so no regex engine runs per request:
/// - `gpt-2`: `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`
/// - `smollm`: first `\p{N}` (every digit a word of its own), then `gpt2` within each piece
/// - `llama-bpe` (Llama 3): case-insensitive contractions, `[^\r\n\p{L}\p{N}]?\p{L}+`, `\p{N}{1,3}`,
///   ` ?[^\s\p{L}\p{N}]+[\r\n]*`, `\s*[\r\n]+`, `\s+(?!\S)`, `\s+`
/// Lookaheads never see past the end of the piece being split, as in llama.cpp.
public enum PreTokenizer: String, Sendable, CaseIterable {
    case gpt2 = "gpt-2"
    case smollm
    case llama3 = "llama-bpe"

    /// The splitter for a `tokenizer.ggml.pre` value, accepting llama.cpp's aliases of each.
    public init?(ggufName: String) {
        switch ggufName {
        case "gpt-2", "phi-2": self = .gpt2
        case "smollm": self = .smollm
        case "llama-bpe", "llama3", "llama-v3", "falcon3", "pixtral": self = .llama3
        default: return nil
        }
    }

    /// Whether a word found whole in the vocabulary skips merging (Llama 3's `ignore_merges`).
    var ignoresMerges: Bool { self == .llama3 }

    /// Splits `scalars` into word ranges covering it in order.
    func split(_ scalars: [Unicode.Scalar]) -> [Range<Int>] {
        let classes = scalars.map(CodepointClass.of)
        var words: [Range<Int>] = []
        switch self {
        case .gpt2:
            Self.splitGPT2(scalars, classes, 0..<scalars.count, into: &words)
        case .llama3:
            Self.splitLlama3(scalars, classes, 0..<scalars.count, into: &words)
        case .smollm:
            var start = 0
            for i in 0..<scalars.count where classes[i].contains(.number) {
                if start < i { Self.splitGPT2(scalars, classes, start..<i, into: &words) }
                words.append(i..<(i + 1))
                start = i + 1
            }
            if start < scalars.count { Self.splitGPT2(scalars, classes, start..<scalars.count, into: &words) }
        }
        return words
    }

    private static func splitGPT2(
        _ s: [Unicode.Scalar],
        _ c: [CodepointClass],
        _ piece: Range<Int>,
        into words: inout [Range<Int>]
    ) {
        let end = piece.upperBound
        func cls(_ i: Int) -> CodepointClass { i < end ? c[i] : [] }
        func ch(_ i: Int) -> UInt32? { i < end ? s[i].value : nil }
        var pos = piece.lowerBound
        while pos < end {
            let start = pos
            let cp = s[pos].value
            if let length = Self.contraction(s, pos, end, ignoringCase: false) {
                pos += length
                words.append(start..<pos)
                continue
            }
            let space = cp == 0x20 ? 1 : 0
            let next = space == 1 ? cls(pos + 1) : c[pos]
            if next.contains(.letter) {
                pos += space
                while cls(pos).contains(.letter) { pos += 1 }
                words.append(start..<pos)
                continue
            }
            if next.contains(.number) {
                pos += space
                while cls(pos).contains(.number) { pos += 1 }
                words.append(start..<pos)
                continue
            }
            if next.isOther {
                pos += space
                while cls(pos).isOther { pos += 1 }
                words.append(start..<pos)
                continue
            }
            var spaces = 0
            while cls(pos + spaces).contains(.whitespace) { spaces += 1 }
            if spaces > 1 && pos + spaces < end {  // \s+(?!\S): leave the last space to the next word
                pos += spaces - 1
            } else if spaces > 0 {
                pos += spaces
            } else {
                pos += 1
            }
            words.append(start..<pos)
        }
    }

    private static func splitLlama3(
        _ s: [Unicode.Scalar],
        _ c: [CodepointClass],
        _ piece: Range<Int>,
        into words: inout [Range<Int>]
    ) {
        let end = piece.upperBound
        func cls(_ i: Int) -> CodepointClass { i < end ? c[i] : [] }
        func ch(_ i: Int) -> UInt32? { i < end ? s[i].value : nil }
        func isNewline(_ v: UInt32?) -> Bool { v == 0x0D || v == 0x0A }
        var pos = piece.lowerBound
        while pos < end {
            let start = pos
            let cp = s[pos].value
            let here = c[pos]
            if let length = Self.contraction(s, pos, end, ignoringCase: true) {
                pos += length
                words.append(start..<pos)
                continue
            }
            // [^\r\n\p{L}\p{N}]?\p{L}+
            if !isNewline(cp) && !here.contains(.number) && (here.contains(.letter) || cls(pos + 1).contains(.letter)) {
                pos += 1
                while cls(pos).contains(.letter) { pos += 1 }
                words.append(start..<pos)
                continue
            }
            // \p{N}{1,3}
            if here.contains(.number) {
                var run = 0
                while cls(pos).contains(.number) && run < 3 {
                    pos += 1
                    run += 1
                }
                words.append(start..<pos)
                continue
            }
            // ?[^\s\p{L}\p{N}]+[\r\n]*
            let space = cp == 0x20 ? 1 : 0
            let next = space == 1 ? cls(pos + 1) : here
            if next.isOther {
                pos += space
                while cls(pos).isOther { pos += 1 }
                while isNewline(ch(pos)) { pos += 1 }
                words.append(start..<pos)
                continue
            }
            var spaces = 0
            var afterNewline = 0
            while cls(pos + spaces).contains(.whitespace) {
                if isNewline(ch(pos + spaces)) { afterNewline = pos + spaces + 1 }
                spaces += 1
            }
            if afterNewline > 0 {  // \s*[\r\n]+
                pos = afterNewline
            } else if spaces > 1 && pos + spaces < end {  // \s+(?!\S)
                pos += spaces - 1
            } else if spaces > 0 {
                pos += spaces
            } else {
                pos += 1
            }
            words.append(start..<pos)
        }
    }

    /// Length of the contraction (`'s 't 'm 'd 're 've 'll`) starting at `pos`, if one does.
    private static func contraction(_ s: [Unicode.Scalar], _ pos: Int, _ end: Int, ignoringCase: Bool) -> Int? {
        guard s[pos] == "'", pos + 1 < end else { return nil }
        func at(_ i: Int) -> UInt32? {
            guard i < end else { return nil }
            let v = s[i].value
            return ignoringCase && v >= 0x41 && v <= 0x5A ? v + 0x20 : v
        }
        let c1 = at(pos + 1)
        // 's 't 'm 'd
        if c1 == 0x73 || c1 == 0x74 || c1 == 0x6D || c1 == 0x64 { return 2 }
        // 're 've 'll
        let c2 = at(pos + 2)
        if (c1 == 0x72 && c2 == 0x65) || (c1 == 0x76 && c2 == 0x65) || (c1 == 0x6C && c2 == 0x6C) { return 3 }
        return nil
    }
}
