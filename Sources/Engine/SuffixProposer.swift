/// Suffix decoding (vLLM's `suffix` method, after Arctic Inference's SuffixDecoding): the outputs of the
/// last `maxCachedRequests` finished completions are counted by context (what followed every run of up to
/// `depth` tokens before each output token, prompt tokens included), and a sequence is drafted by
/// matching its longest recent context and following the most frequent continuations while their
/// cumulative probability stays at least `minProbability`, at most `specFactor` × the matched length
/// tokens. Answers that repeat across requests (Pika's `","learn_score":true}`) are drafted from the
/// others'; where the cache knows nothing, an unconstrained sequence's own prompt and output are looked up
/// as `ngram` does.
///
/// The counts are a variable-order table keyed by a 64-bit hash of each context rather than a suffix tree
/// (the same queries, fewer pointers); a hash collision can only make a draft wrong, and sampling rejects
/// wrong drafts. Each cached completion keeps its last tokens so that evicting it takes its counts back.
/// Written here: no Swift package offers it.
final class SuffixProposer: DraftProposer {
    let count: Int
    let depth: Int
    let maxCachedRequests: Int
    let specFactor: Double
    let minProbability: Double
    var draftsConstrained: Bool { true }
    /// The sequence's own tokens, where the cache has no match.
    let lookup: NgramProposer

    struct Context: Hashable {
        var length: Int32
        var hash: UInt64
    }

    /// Next-token counts after each context seen. Its size grows with the cached outputs' distinct
    /// contexts (at most `depth` per output token).
    private(set) var next: [Context: [Int32: Int]] = [:]
    /// Cached completions' tokens (the `depth` before the output, then the output) and where the output
    /// starts, oldest first from `oldest`.
    private var cached: [(tokens: [Int32], outputStart: Int)] = []
    private var oldest = 0

    init(_ config: SpeculativeConfig) {
        count = config.numSpeculativeTokens
        depth = config.suffixMaxTreeDepth
        maxCachedRequests = config.suffixMaxCachedRequests
        specFactor = config.suffixMaxSpecFactor
        minProbability = config.suffixMinTokenProbability
        lookup = NgramProposer(shortest: 2, longest: min(depth, 8), count: count)
    }

    /// Completions whose counts the cache holds.
    var cachedCount: Int { cached.count - oldest }

    /// The hashes of the contexts of 1...`depth` tokens ending just before `end` (index 0: one token).
    @inline(__always)
    func contexts(_ t: UnsafeBufferPointer<Int32>, before end: Int, into hashes: inout [Context]) {
        hashes.removeAll(keepingCapacity: true)
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        var m = 1
        while m <= depth && end - m >= 0 {
            hash = (hash ^ UInt64(UInt32(bitPattern: t[end - m]))) &* 0x0000_0100_0000_01b3
            hash ^= hash >> 29
            hashes.append(Context(length: Int32(m), hash: hash))
            m += 1
        }
    }

    func propose(_ tokens: [Int32], limit: Int, ownTokens: Bool) -> [Int32] {
        let budget = min(count, limit)
        guard budget > 0, !next.isEmpty else { return ownTokens ? lookup.propose(tokens, limit: budget) : [] }
        var working = Array(tokens.suffix(depth))
        var draft: [Int32] = []
        var hashes: [Context] = []
        hashes.reserveCapacity(depth)
        var probability = 1.0
        var most = budget
        while draft.count < most {
            let end = working.count
            working.withUnsafeBufferPointer { contexts($0, before: end, into: &hashes) }
            guard
                let (length, counts) = hashes.reversed().lazy.compactMap({ c in self.next[c].map { (c.length, $0) } })
                    .first
            else { break }
            if draft.isEmpty { most = min(budget, max(1, Int(specFactor * Double(length)))) }
            var total = 0
            var best: (token: Int32, count: Int) = (0, 0)
            for (token, n) in counts {
                total += n
                if n > best.count || (n == best.count && token < best.token) { best = (token, n) }
            }
            probability *= Double(best.count) / Double(total)
            guard probability >= minProbability else { break }
            draft.append(best.token)
            working.append(best.token)
        }
        return draft.isEmpty && ownTokens ? lookup.propose(tokens, limit: budget) : draft
    }

    func finished(_ tokens: [Int32], promptLength: Int) {
        let start = max(0, promptLength - depth)
        guard promptLength < tokens.count else { return }
        let kept = Array(tokens[start...])
        add(kept, outputStart: promptLength - start, by: 1)
        cached.append((kept, promptLength - start))
        if cachedCount > maxCachedRequests {
            let evicted = cached[oldest]
            add(evicted.tokens, outputStart: evicted.outputStart, by: -1)
            oldest += 1
            if oldest > 1024 && oldest * 2 > cached.count {
                cached.removeFirst(oldest)
                oldest = 0
            }
        }
    }

    /// Counts (or, with `by` -1, uncounts) every output token of `tokens` after each of its contexts.
    private func add(_ tokens: [Int32], outputStart: Int, by delta: Int) {
        var hashes: [Context] = []
        tokens.withUnsafeBufferPointer { t in
            for i in outputStart..<t.count {
                contexts(t, before: i, into: &hashes)
                for context in hashes {
                    let n = (next[context]?[t[i]] ?? 0) + delta
                    if n > 0 {
                        next[context, default: [:]][t[i]] = n
                    } else {
                        next[context]?[t[i]] = nil
                        if next[context]?.isEmpty == true { next[context] = nil }
                    }
                }
            }
        }
    }
}
