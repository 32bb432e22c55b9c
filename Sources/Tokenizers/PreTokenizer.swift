/// Splits text into the words BPE merges within, following the regexes of a GGUF `tokenizer.ggml.pre` type,
/// as llama.cpp's `unicode_regex_split` applies them: each regex in turn splits every piece the previous ones
/// left, its matches and the text between them each becoming a piece.
///
/// Each rule is a hand-written matcher equivalent to its regex, so no regex engine runs per request:
/// - `gpt2`: `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`
/// - `llama3`: case-insensitive contractions, `[^\r\n\p{L}\p{N}]?\p{L}+`, `\p{N}{1,3}`,
///   ` ?[^\s\p{L}\p{N}]+[\r\n]*`, `\s*[\r\n]+`, `\s+(?!\S)`, `\s+`; Qwen2 takes digits one at a time
///   (`\p{N}`), Qwen3.5 also lets letter runs take combining marks (`[\p{L}\p{M}]+`)
/// - the others (`\p{N}`, `\s?\p{L}+`, `[0-9][0-9][0-9]`, `\s+$`, …): runs of one character class
/// Lookaheads never see past the end of the piece being split, as in llama.cpp.
public enum PreTokenizer: String, Sendable, CaseIterable {
    case gpt2 = "gpt-2"
    case smollm
    case llama3 = "llama-bpe"
    case qwen2
    case qwen35
    case falcon
    case deepseekCoder = "deepseek-coder"
    case deepseekLLM = "deepseek-llm"
    /// llama.cpp's regexes for a BPE vocabulary that names no pre-tokenizer.
    case standard = "default"

    /// The splitter for a `tokenizer.ggml.pre` value, accepting llama.cpp's aliases of each.
    public init?(ggufName: String) {
        switch ggufName {
        case "gpt-2", "phi-2", "mpt", "olmo", "jais", "trillion", "jina-es", "jina-de", "jina-v2-es", "jina-v2-de",
            "gigachat", "a.x-4.0", "mellum", "modern-bert":
            self = .gpt2
        case "smollm", "starcoder", "refact", "command-r", "codeshell", "exaone", "minerva-7b": self = .smollm
        case "llama-bpe", "llama3", "llama-v3", "falcon3", "falcon-h1", "pixtral", "midm-2.0", "lfm2", "dbrx",
            "smaug-bpe", "chatglm-bpe":
            self = .llama3
        case "qwen2", "deepseek-r1-qwen", "stablelm2", "hunyuan": self = .qwen2
        case "qwen35": self = .qwen35
        case "falcon": self = .falcon
        case "deepseek-coder": self = .deepseekCoder
        case "deepseek-llm": self = .deepseekLLM
        case "default": self = .standard
        default: return nil
        }
    }

    /// Whether a word found whole in the vocabulary skips merging (Llama 3's `ignore_merges`).
    var ignoresMerges: Bool { self == .llama3 }

    /// The rules applied in turn, each to every piece the ones before it left: built once per pre-tokenizer,
    /// so splitting a text allocates no rule list.
    var rules: [SplitRule] { Self.ruleTable[self]! }

    private static let ruleTable = Dictionary(uniqueKeysWithValues: allCases.map { ($0, $0.makeRules()) })

    private func makeRules() -> [SplitRule] {
        switch self {
        case .gpt2: [.gpt2]
        case .smollm: [.run(.number, max: 1), .gpt2]
        case .llama3: [.llama3(maxDigits: 3, marks: false)]
        case .qwen2: [.llama3(maxDigits: 1, marks: false)]
        case .qwen35: [.llama3(maxDigits: 1, marks: true)]
        case .falcon: [.run(.falconPunctuation, max: nil), .gpt2, .asciiDigitTriples]
        case .deepseekCoder:
            [
                .run(.newline, max: 1), .spaceThenRun(.letter), .spaceThenRun(.punctuation), .run(.cjk, max: nil),
                .run(.number, max: 1),
            ]
        case .deepseekLLM:
            [
                .run(.newline, max: 1), .spaceThenRun(.casedLetter), .spaceThenRun(.deepseekPunctuation),
                .trailingWhitespace, .run(.cjk, max: nil), .run(.number, max: nil),
            ]
        case .standard: [.run(.falconPunctuation, max: nil), .gpt2, .run(.number, max: nil)]
        }
    }

    /// Splits `scalars` into word ranges covering it in order.
    func split(_ scalars: [Unicode.Scalar]) -> [Range<Int>] {
        let classes = scalars.map(CodepointClass.of)
        let rules = self.rules
        var words: [Range<Int>] = []
        guard !scalars.isEmpty else { return words }
        rules[0].split(scalars, classes, 0..<scalars.count, into: &words)
        var next: [Range<Int>] = []
        for rule in rules.dropFirst() {
            next.removeAll(keepingCapacity: true)
            for piece in words { rule.split(scalars, classes, piece, into: &next) }
            swap(&words, &next)
        }
        return words
    }
}

/// One regex of a pre-tokenizer, as a matcher: it splits a piece into its matches and the text between them.
enum SplitRule: Equatable {
    case gpt2
    case llama3(maxDigits: Int, marks: Bool)
    /// `X+` (or `X` alone, `max: 1`): runs of one class.
    case run(ScalarSet, max: Int?)
    /// `\s?X+`.
    case spaceThenRun(ScalarSet)
    /// `[0-9][0-9][0-9]`.
    case asciiDigitTriples
    /// `\s+$`.
    case trailingWhitespace

    func split(_ s: [Unicode.Scalar], _ c: [CodepointClass], _ piece: Range<Int>, into words: inout [Range<Int>]) {
        switch self {
        case .gpt2: Self.splitGPT2(s, c, piece, into: &words)
        case .llama3(let maxDigits, let marks): Self.splitLlama3(s, c, piece, maxDigits, marks, into: &words)
        default: splitMatches(s, c, piece, into: &words)
        }
    }

    /// Leftmost-first matches, with the text between them kept as pieces (llama.cpp's `std::regex` path).
    private func splitMatches(
        _ s: [Unicode.Scalar],
        _ c: [CodepointClass],
        _ piece: Range<Int>,
        into words: inout [Range<Int>]
    ) {
        var gapStart = piece.lowerBound
        var pos = piece.lowerBound
        while pos < piece.upperBound {
            guard let end = match(at: pos, s, c, piece.upperBound) else {
                pos += 1
                continue
            }
            if gapStart < pos { words.append(gapStart..<pos) }
            words.append(pos..<end)
            pos = end
            gapStart = end
        }
        if gapStart < piece.upperBound { words.append(gapStart..<piece.upperBound) }
    }

    /// The end of the match starting at `pos`, if one does.
    private func match(at pos: Int, _ s: [Unicode.Scalar], _ c: [CodepointClass], _ end: Int) -> Int? {
        func run(_ set: ScalarSet, from start: Int, max: Int?) -> Int {
            var i = start
            while i < end && set.contains(s[i], c[i]) && (max.map { i - start < $0 } ?? true) { i += 1 }
            return i
        }
        switch self {
        case .run(let set, let max):
            let stop = run(set, from: pos, max: max)
            return stop > pos ? stop : nil
        case .spaceThenRun(let set):
            let start =
                c[pos].contains(.whitespace) && pos + 1 < end && set.contains(s[pos + 1], c[pos + 1]) ? pos + 1 : pos
            let stop = run(set, from: start, max: nil)
            return stop > start ? stop : nil
        case .asciiDigitTriples:
            let stop = run(.asciiDigit, from: pos, max: 3)
            return stop - pos == 3 ? stop : nil
        case .trailingWhitespace:
            let stop = run(.whitespace, from: pos, max: nil)
            return stop == end && stop > pos ? stop : nil
        case .gpt2, .llama3: return nil
        }
    }

    fileprivate static func splitGPT2(
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
        _ maxDigits: Int,
        _ marks: Bool,
        into words: inout [Range<Int>]
    ) {
        // Letter runs take combining marks too (Qwen3.5), and the "other" class then excludes them.
        let letters: CodepointClass = marks ? [.letter, .mark] : .letter
        func isOther(_ k: CodepointClass) -> Bool { k.isOther && (!marks || !k.contains(.mark)) }
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
            if !isNewline(cp) && !here.contains(.number)
                && (!here.isDisjoint(with: letters) || !cls(pos + 1).isDisjoint(with: letters))
            {
                pos += 1
                while !cls(pos).isDisjoint(with: letters) { pos += 1 }
                words.append(start..<pos)
                continue
            }
            // \p{N}{1,3} (or \p{N})
            if here.contains(.number) {
                var run = 0
                while cls(pos).contains(.number) && run < maxDigits {
                    pos += 1
                    run += 1
                }
                words.append(start..<pos)
                continue
            }
            // ?[^\s\p{L}\p{N}]+[\r\n]*
            let space = cp == 0x20 ? 1 : 0
            let next = space == 1 ? cls(pos + 1) : here
            if isOther(next) {
                pos += space
                while isOther(cls(pos)) { pos += 1 }
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
