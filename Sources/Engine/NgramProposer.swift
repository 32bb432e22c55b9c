/// Prompt-lookup drafting (vLLM's `ngram` method): the sequence's last n tokens, for n from
/// `longest` down to `shortest`, are looked for earlier in its own prompt and output; at the first n that
/// occurs, the draft is what followed its most recent occurrence with `count` tokens after it (in a short
/// loop the latest one is cut by the end of the sequence), or else its earliest, the longest there is. Text a
/// model repeats from its input (SmolLM2 echoing an unconstrained Pika prompt, a file edited in place) is
/// drafted whole.
final class NgramProposer: DraftProposer {
    let shortest: Int
    let longest: Int
    /// Draft tokens proposed at most.
    let count: Int
    var draftsConstrained: Bool { false }

    init(_ config: SpeculativeConfig) {
        shortest = config.promptLookupMin
        longest = config.promptLookupMax
        count = config.numSpeculativeTokens
    }

    init(shortest: Int, longest: Int, count: Int) {
        self.shortest = shortest
        self.longest = longest
        self.count = count
    }

    /// Up to `count` tokens to follow `tokens` (empty: no suffix of `shortest` tokens or more recurs).
    func propose(_ tokens: [Int32], limit: Int = .max, ownTokens: Bool = true) -> [Int32] {
        let count = min(count, limit)
        return tokens.withUnsafeBufferPointer { t in
            let end = t.count
            var n = min(longest, end - 1)
            while n >= shortest {
                // Earlier starts, most recent first; the match may overlap the suffix itself.
                var start = end - n - 1
                var earliest = -1
                while start >= 0 {
                    var i = 0
                    while i < n && t[start + i] == t[end - n + i] { i += 1 }
                    if i == n {
                        if start + n + count <= end { return Array(t[(start + n)..<(start + n + count)]) }
                        earliest = start
                    }
                    start -= 1
                }
                if earliest >= 0 { return Array(t[(earliest + n)..<end]) }
                n -= 1
            }
            return []
        }
    }

    /// Prompt lookup keeps nothing across requests.
    func finished(_ tokens: [Int32], promptLength: Int) {}
}
