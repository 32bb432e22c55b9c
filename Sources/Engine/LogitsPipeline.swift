import Grammar
import SwerveCore

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
/// A row whose steps 2 and 3 change nothing (and that no classification reads) runs 1, 4 and 5 on the
/// backend, where its logits are (`chooseOnBackend`: `Backend.sample` with `RowSampling`, whose functions
/// the host's sampler runs too), and only its token comes back.
///
/// Allocates nothing per token unless log-probabilities are asked for.
struct LogitsPipeline {
    /// The token a constrained sequence ends with when the bans leave nothing its grammar allows.
    let endOfSequence: Int32
    /// The raw row, for log-probabilities.
    var raw: [Float]
    /// The union of a step's grammar masks (one bit per token), for the sparse output head.
    var head: [UInt64]

    /// A step's rows chosen on the backend (`chooseOnBackend`), in reused buffers: the requests, their
    /// grammar masks (`maskWords` words each), what came back, and each logits row's request (-1: the host
    /// pipeline's, `choose`).
    var requests: [RowSampling] = []
    var masks: [UInt64]
    var chosen: [SampledToken]
    var top: [SampledToken]
    var backendRequest: [Int]
    let maskWords: Int

    init(vocabularySize: Int, endOfGeneration: Set<Int32>, logitRows: Int) {
        endOfSequence = endOfGeneration.min() ?? 0
        raw = [Float](repeating: 0, count: vocabularySize)
        maskWords = (vocabularySize + 63) / 64
        head = [UInt64](repeating: 0, count: maskWords)
        requests.reserveCapacity(logitRows)
        masks = [UInt64](repeating: 0, count: logitRows * maskWords)
        chosen = [SampledToken](repeating: SampledToken(token: 0, logprob: 0), count: logitRows)
        top = [SampledToken](
            repeating: SampledToken(token: 0, logprob: 0),
            count: logitRows * SamplingParameters.maxLogprobs
        )
        backendRequest = [Int](repeating: -1, count: logitRows)
    }

    /// Whether the backend can run `sequence`'s whole pipeline: nothing changes its logits
    /// before the mask (no bias, penalties or live `min_tokens` bans) and no classification reads them.
    static func runsOnBackend(_ sequence: SequenceState) -> Bool {
        let parameters = sequence.sampler.parameters
        return !parameters.adjustsLogits && !parameters.classify
            && (sequence.banned.isEmpty || sequence.generated >= parameters.minTokens)
    }

    /// Has the backend choose the tokens of every sampled row whose pipeline it can run (`runsOnBackend`,
    /// not a scoring fork's): each row's grammar mask is the matcher's state after the draft tokens before
    /// it, and its draw the sequence's next after one per earlier sampled row (peeked: the caller takes
    /// each draw it uses, `Sampler.consumeDraw`), so the tokens are the host pipeline's. `chosenAt` then
    /// answers per row.
    mutating func chooseOnBackend(
        _ batch: Scheduler.Batch,
        _ sequences: [Int: SequenceState],
        scoring: [Int: Int],
        runner: ModelRunner
    ) {
        requests.removeAll(keepingCapacity: true)
        backendRequest.withUnsafeMutableBufferPointer { $0.update(repeating: -1) }
        var row = 0
        for entry in batch.entries where entry.samples {
            defer { row += entry.logitRows }
            guard scoring[entry.id] == nil, let sequence = sequences[entry.id], Self.runsOnBackend(sequence) else {
                continue
            }
            var matcher = sequence.matcher
            let draft = entry.draftTokens
            for i in 0..<entry.logitRows {
                var request = sequence.sampler.rowSampling(row: row + i, draw: i)
                request.fallback = endOfSequence
                request.logprobs = sequence.sampler.parameters.logprobs ?? -1
                if let constraint = matcher, !constraint.isDead {
                    request.mask = requests.count * maskWords
                    let mask = constraint.automaton.mask(constraint.state)
                    masks.withUnsafeMutableBufferPointer { words in
                        let start = request.mask
                        let count = min(mask.count, maskWords)
                        for w in 0..<count { words[start + w] = mask[w] }
                        for w in count..<maskWords { words[start + w] = 0 }
                    }
                }
                backendRequest[row + i] = requests.count
                requests.append(request)
                if i < entry.draft { matcher?.accept(draft[draft.startIndex + i]) }
            }
        }
        requests.withUnsafeBufferPointer { requests in
            masks.withUnsafeBufferPointer { masks in
                chosen.withUnsafeMutableBufferPointer { chosen in
                    top.withUnsafeMutableBufferPointer { top in
                        runner.sample(
                            requests,
                            masks: masks,
                            into: chosen,
                            top: top,
                            topStride: SamplingParameters.maxLogprobs
                        )
                    }
                }
            }
        }
    }

    /// The token the backend chose at logits row `row` for `sequence` (taking its draw), with its
    /// log-probabilities when asked; nil: the row runs through `choose`.
    func chosenAt(_ row: Int, for sequence: inout SequenceState) -> (token: Int32, logprobs: TokenLogprobs?)? {
        let index = backendRequest[row]
        guard index >= 0 else { return nil }
        sequence.sampler.consumeDraw()
        let token = chosen[index]
        guard let count = sequence.sampler.parameters.logprobs else { return (token.token, nil) }
        let logprobs = top.withUnsafeBufferPointer { top in
            TokenLogprobs(
                token,
                top: UnsafeBufferPointer(rebasing: top[(index * SamplingParameters.maxLogprobs)...]),
                count: count
            )
        }
        return (token.token, logprobs)
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
            } else if matcher.automaton.mask(matcher.state).withUnsafeBufferPointer({
                RowSampling.applyMask($0, to: logits)
            }) {
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
}
