import Grammar

/// How one row of logits becomes one token, the order written in this one place (vLLM's, with the
/// grammar's mask where vLLM applies structured output's bitmask):
///
/// 1. the raw row is kept when the request asks for log-probabilities (vLLM reports them before any
///    processor);
/// 2. `min_tokens`: end of sequence and the stop token ids are banned until that many tokens came;
/// 3. logit bias, then the repetition, frequency and presence penalties (`Sampler.adjust`);
/// 4. the grammar's token mask, for a constrained sequence; for greedy sampling the best token is tried
///    first and the mask is built only if the grammar refuses it (the same token either way);
/// 5. the sampler: greedy, or temperature with min-p, top-k and top-p (`Sampler.sample`).
///
/// Allocates nothing per token unless log-probabilities are asked for.
struct LogitsPipeline {
    /// The token a constrained sequence ends with when the bans leave nothing its grammar allows.
    let endOfSequence: Int32
    /// The raw row, for log-probabilities.
    var raw: [Float]
    /// The union of a step's grammar masks (one bit per token), for the sparse output head.
    var head: [UInt64]

    init(vocabularySize: Int, endOfGeneration: Set<Int32>) {
        endOfSequence = endOfGeneration.min() ?? 0
        raw = [Float](repeating: 0, count: vocabularySize)
        head = [UInt64](repeating: 0, count: (vocabularySize + 63) / 64)
    }

    /// The output head's columns for `batch` (its grammar-sparse head): only the tokens the grammars allow
    /// at its logits rows (the state after each draft token for a draft's rows), when every sampled row is
    /// constrained, needs nothing of the other tokens (no log-probabilities, classification or scoring fork,
    /// no dead grammar) and they are at most `limit`; nil for the full head. Step 4 masks every other token
    /// anyway, so the tokens chosen are those of the full head.
    mutating func sparseHead(_ batch: Scheduler.Batch, _ sequences: [Int: SequenceState], limit: Int) -> [UInt64]? {
        var any = false
        head.withUnsafeMutableBufferPointer { $0.update(repeating: 0) }
        for entry in batch.entries where entry.samples {
            guard let sequence = sequences[entry.id], var matcher = sequence.matcher,
                sequence.sampler.parameters.logprobs == nil, !sequence.sampler.parameters.classify
            else { return nil }
            let draft = entry.draftTokens
            for i in 0..<entry.logitRows {
                guard !matcher.isDead else { return nil }
                let mask = matcher.automaton.mask(matcher.state)
                head.withUnsafeMutableBufferPointer { union in
                    for w in 0..<min(union.count, mask.count) { union[w] |= mask[w] }
                }
                if i < entry.draft { matcher.accept(draft[draft.startIndex + i]) }
            }
            any = true
        }
        guard any, head.reduce(0, { $0 + $1.nonzeroBitCount }) <= limit else { return nil }
        return head
    }

    /// The token `sequence` takes from `logits` (changed in place), `earlier` tokens after its last output
    /// token, and its log-probabilities when the request asks for them.
    mutating func choose(
        _ logits: UnsafeMutableBufferPointer<Float>,
        for sequence: inout SequenceState,
        earlier: Int
    ) -> (token: Int32, logprobs: TokenLogprobs?) {
        // Fields read one by one: copying the whole parameters (bias table, stop strings) would retain them
        // for every token.
        let top = sequence.sampler.parameters.logprobs
        if top != nil { raw.withUnsafeMutableBufferPointer { _ = $0.update(fromContentsOf: logits) } }
        let banned = sequence.generated + earlier < sequence.sampler.parameters.minTokens ? sequence.banned : []
        sequence.sampler.adjust(logits, banned: banned)
        let token: Int32
        if let matcher = sequence.matcher, !matcher.isDead {
            let best = sequence.sampler.isGreedy ? Sampler.argmax(UnsafeBufferPointer(logits)) : -1
            if best >= 0 && matcher.allows(best) {
                token = best
            } else if Self.applyMask(matcher.automaton.mask(matcher.state), to: logits) {
                token = sequence.sampler.sample(UnsafeBufferPointer(logits))
            } else {
                // Nothing the grammar allows survived the bans (min_tokens against a finished grammar): the
                // grammar wins, and the output ends.
                token = endOfSequence
            }
        } else {
            token = sequence.sampler.sample(UnsafeBufferPointer(logits))
        }
        guard let top else { return (token, nil) }
        return (token, raw.withUnsafeBufferPointer { TokenLogprobs(logits: $0, token: token, top: top) })
    }

    /// Sets every logit the mask refuses to -inf; false when nothing finite is left.
    static func applyMask(_ mask: [UInt64], to logits: UnsafeMutableBufferPointer<Float>) -> Bool {
        var alive = false
        mask.withUnsafeBufferPointer { words in
            for w in 0..<words.count {
                let word = words[w]
                let base = w << 6
                let end = min(base + 64, logits.count)
                if word == 0 {
                    for i in base..<end { logits[i] = -.infinity }
                    continue
                }
                for i in base..<end {
                    if word & (1 << UInt64(i - base)) == 0 {
                        logits[i] = -.infinity
                    } else if logits[i] > -.infinity {
                        alive = true
                    }
                }
            }
        }
        return alive
    }
}
