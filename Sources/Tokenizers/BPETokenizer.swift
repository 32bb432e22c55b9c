import GGUF
import Synchronization

/// Byte-level BPE (GPT-2 style) built from GGUF metadata: vocabulary, merges, token types, pre-tokenizer.
///
/// Encoding matches llama.cpp's `llama_tokenize` with `parse_special` on: special tokens found in the text
/// (longest first) become their ids, the rest is split by the pre-tokenizer and each word merged by rank.
/// Merges work on token ids, not strings, so a word costs a few heap operations per merge and no string
/// building. Written here because no Swift package reads GGUF vocabularies or matches llama.cpp exactly.
public final class BPETokenizer: Tokenizer {
    /// Vocabulary strings as stored (byte-level alphabet for normal tokens).
    public let tokens: [String]
    public let types: [TokenType]
    public let preTokenizer: PreTokenizer
    public let specialIDs: SpecialTokens

    /// Raw bytes of each token (normal tokens decoded from the byte-level alphabet).
    let tokenBytes: [[UInt8]]
    /// Token of each single byte, or -1.
    let byteTokens: [Int32]
    /// Bytes of merge results that are not themselves vocabulary entries, numbered from `tokens.count`.
    let extraSymbols: [[UInt8]]
    /// (left << 32 | right) -> (rank, merged symbol).
    let merges: [UInt64: Merge]
    /// Normal tokens by their raw bytes, for `ignoresMerges` whole-word lookups.
    let wordIDs: [[UInt8]: Int32]
    let splitter: SpecialTokenSplitter
    /// Ids of long text fragments seen recently. Special tokens split the text and each fragment is
    /// encoded on its own, so a repeated fragment (a chat's system prompt between `<|im_start|>` and
    /// `<|im_end|>`) can reuse its ids exactly; this takes the system prompt's share of a Pika request's
    /// tokenization (most of it) off every request after the first.
    let fragmentCache = Mutex([[UInt8]: [Int]]())
    static let cachedFragmentBytes = 256
    static let cachedFragmentLimit = 512

    struct Merge: Sendable {
        let rank: Int32
        let result: Int32
    }

    /// Builds the tokenizer of a GGUF model whose `tokenizer.ggml.model` is `gpt2`.
    public convenience init(gguf: GGUFFile) throws(TokenizerError) {
        let (tokens, types) = try vocabularyMetadata(gguf, model: "gpt2")
        guard let merges = gguf["tokenizer.ggml.merges"]?.strings else {
            throw .missingMetadata("tokenizer.ggml.merges")
        }
        let preName = gguf["tokenizer.ggml.pre"]?.string ?? "gpt-2"
        guard let pre = PreTokenizer(ggufName: preName) else { throw .unsupportedPreTokenizer(preName) }
        try self.init(
            tokens: tokens,
            types: types,
            merges: merges,
            preTokenizer: pre,
            specialIDs: SpecialTokens(gguf: gguf)
        )
    }

    public init(
        tokens: [String],
        types: [TokenType],
        merges mergeLines: [String],
        preTokenizer: PreTokenizer,
        specialIDs: SpecialTokens
    ) throws(TokenizerError) {
        try checkVocabulary(tokens: tokens, types: types, specialIDs: specialIDs)
        self.tokens = tokens
        self.types = types
        self.preTokenizer = preTokenizer
        self.specialIDs = specialIDs

        var tokenBytes: [[UInt8]] = []
        tokenBytes.reserveCapacity(tokens.count)
        var idByText: [String: Int32] = [:]
        var wordIDs: [[UInt8]: Int32] = [:]
        var byteTokens = [Int32](repeating: -1, count: 256)
        for (id, text) in tokens.enumerated() {
            let bytes = types[id] == .normal ? (ByteLevel.decode(text) ?? Array(text.utf8)) : Array(text.utf8)
            tokenBytes.append(bytes)
            if idByText[text] == nil { idByText[text] = Int32(id) }
            if types[id] == .normal {
                if wordIDs[bytes] == nil { wordIDs[bytes] = Int32(id) }
                if bytes.count == 1, byteTokens[Int(bytes[0])] < 0 { byteTokens[Int(bytes[0])] = Int32(id) }
            }
        }
        // Bytes with no vocabulary entry become symbols that emit nothing (as llama.cpp drops them).
        var extra: [[UInt8]] = []
        var extraByText: [String: Int32] = [:]
        func symbol(_ text: Substring) -> Int32 {
            let key = String(text)
            if let id = idByText[key] ?? extraByText[key] { return id }
            let id = Int32(tokens.count + extra.count)
            extra.append(ByteLevel.decode(key) ?? Array(key.utf8))
            extraByText[key] = id
            return id
        }
        for byte in 0..<256 where byteTokens[byte] < 0 {
            byteTokens[byte] = symbol(Substring(String(ByteLevel.byteToScalar[byte])))
        }
        var merges: [UInt64: Merge] = [:]
        merges.reserveCapacity(mergeLines.count)
        for (rank, line) in mergeLines.enumerated() {
            guard let space = line.firstIndex(of: " ") else {
                throw .inconsistent("merge \(rank) '\(line)' has no space between its two parts")
            }
            let left = line[..<space]
            let right = line[line.index(after: space)...]
            let key = UInt64(UInt32(symbol(left))) << 32 | UInt64(UInt32(symbol(right)))
            let result = symbol(Substring(left + right))
            if merges[key] == nil { merges[key] = Merge(rank: Int32(rank), result: result) }
        }
        self.tokenBytes = tokenBytes
        self.byteTokens = byteTokens
        self.extraSymbols = extra
        self.merges = merges
        self.wordIDs = wordIDs
        self.splitter = SpecialTokenSplitter(tokens: tokens, types: types)
    }

    public func encode(_ text: String, parseSpecial: Bool, addBOS: Bool) -> [Int] {
        var output: [Int] = []
        if addBOS, let bos = specialIDs.bos { output.append(bos) }
        for fragment in splitter.split(Array(text.utf8), parseSpecial: parseSpecial) {
            switch fragment {
            case .special(let id): output.append(id)
            case .text(let bytes) where bytes.count >= Self.cachedFragmentBytes:
                if let ids = fragmentCache.withLock({ $0[bytes] }) {
                    output += ids
                } else {
                    var ids: [Int] = []
                    encodeText(bytes, into: &ids)
                    output += ids
                    fragmentCache.withLock { cache in
                        if cache.count >= Self.cachedFragmentLimit { cache.removeAll(keepingCapacity: true) }
                        cache[bytes] = ids
                    }
                }
            case .text(let bytes): encodeText(bytes, into: &output)
            }
        }
        return output
    }

    private func encodeText(_ bytes: [UInt8], into output: inout [Int]) {
        let scalars = Array(String(decoding: bytes, as: UTF8.self).unicodeScalars)
        var word: [UInt8] = []
        var heap = BinaryHeap<MergeCandidate> { $0.precedes($1) }
        var symbols: [Symbol] = []
        for range in preTokenizer.split(scalars) {
            word.removeAll(keepingCapacity: true)
            for scalar in scalars[range] { UTF8.encode(scalar) { word.append($0) } }
            if preTokenizer.ignoresMerges, let id = wordIDs[word] {
                output.append(Int(id))
                continue
            }
            mergeWord(word, symbols: &symbols, heap: &heap, into: &output)
        }
    }

    struct Symbol {
        var id: Int32
        var prev: Int
        var next: Int
    }

    private func mergeWord(
        _ word: [UInt8],
        symbols: inout [Symbol],
        heap: inout BinaryHeap<MergeCandidate>,
        into output: inout [Int]
    ) {
        symbols.removeAll(keepingCapacity: true)
        for (i, byte) in word.enumerated() {
            symbols.append(Symbol(id: byteTokens[Int(byte)], prev: i - 1, next: i + 1 < word.count ? i + 1 : -1))
        }
        heap.removeAll()
        func push(_ left: Int) {
            let right = symbols[left].next
            guard left >= 0, right >= 0 else { return }
            let key = UInt64(UInt32(symbols[left].id)) << 32 | UInt64(UInt32(symbols[right].id))
            if let merge = merges[key] {
                heap.push(
                    .init(rank: merge.rank, left: Int32(left), leftID: symbols[left].id, rightID: symbols[right].id)
                )
            }
        }
        for i in 0..<(symbols.count - 1) { push(i) }
        while let top = heap.pop() {
            let left = Int(top.left)
            let right = symbols[left].next
            // Skip candidates made stale by an earlier merge.
            guard symbols[left].id == top.leftID, right >= 0, symbols[right].id == top.rightID,
                symbols[left].id >= 0
            else { continue }
            let key = UInt64(UInt32(top.leftID)) << 32 | UInt64(UInt32(top.rightID))
            guard let merge = merges[key] else { continue }
            symbols[left].id = merge.result
            let after = symbols[right].next
            symbols[left].next = after
            if after >= 0 { symbols[after].prev = left }
            symbols[right].id = -1
            if symbols[left].prev >= 0 { push(symbols[left].prev) }
            push(left)
        }
        var i = symbols.isEmpty ? -1 : 0
        while i >= 0 {
            let id = Int(symbols[i].id)
            if id < tokens.count {
                output.append(id)
            } else {
                // Not a vocabulary entry: llama.cpp emits the single-character tokens it can find.
                for byte in extraSymbols[id - tokens.count] where (33...126).contains(byte) {
                    let single = Int(byteTokens[Int(byte)])
                    if single < tokens.count { output.append(single) }
                }
            }
            i = symbols[i].next
        }
    }

    // MARK: Decoding

    public func bytes(of id: Int, renderSpecial: Bool) -> [UInt8] {
        pieceBytes(id, types: types, tokenBytes: tokenBytes, renderSpecial: renderSpecial)
    }
}

/// A merge candidate of byte-level BPE: lowest rank first, then the leftmost pair.
struct MergeCandidate {
    var rank: Int32
    var left: Int32
    var leftID: Int32
    var rightID: Int32

    func precedes(_ other: MergeCandidate) -> Bool {
        rank < other.rank || (rank == other.rank && left < other.left)
    }
}
