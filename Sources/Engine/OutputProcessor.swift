import Grammar
import Tokenizers

/// Turns the tokens a step appended to each completion into what its client sees (vLLM's
/// `OutputProcessor`): incremental detokenization, stop strings (text held back while it may begin one),
/// the finish reason and stop reason, usage, the latency milestones, and the validation of a constrained
/// answer that ended with its grammar. One `Stream` per running completion.
struct OutputProcessor {
    /// One completion's output side.
    struct Stream {
        let requestID: String
        let index: Int
        var decoder: IncrementalDecoder
        /// Text bytes not emitted yet: the tail that may still turn out to start a stop string.
        var held: [UInt8] = []
        let stops: [[UInt8]]
        /// Bytes held back while they may begin a stop string: the longest stop string's length less one.
        let holdBack: Int
        let stopTokenIDs: Set<Int32>
        /// The constraint a finished answer is validated against, and the answer's bytes so far.
        let constraint: StructuredConstraint?
        var text: [UInt8] = []
        let promptTokens: Int
        var cachedPromptTokens = 0
        var outputCount = 0
        let arrival: Double
        var firstScheduled: Double?
        var firstToken: Double?
        var lastToken: Double?
    }

    let tokenizer: any Tokenizer
    /// The longest sequence (prompt and output) a completion can reach.
    let maxModelLen: Int
    var streams: [Int: Stream] = [:]

    init(tokenizer: any Tokenizer, maxModelLen: Int) {
        self.tokenizer = tokenizer
        self.maxModelLen = maxModelLen
    }

    mutating func add(
        _ id: Int,
        requestID: String,
        index: Int,
        parameters: SamplingParameters,
        prompt: Int,
        arrival: Double
    ) {
        var stream = Stream(
            requestID: requestID,
            index: index,
            decoder: IncrementalDecoder(tokenizer: tokenizer),
            stops: parameters.stop.map { Array($0.utf8) },
            holdBack: max(0, (parameters.stop.map(\.utf8.count).max() ?? 0) - 1),
            stopTokenIDs: Set(parameters.stopTokenIDs),
            constraint: parameters.constraint,
            promptTokens: prompt,
            arrival: arrival
        )
        if parameters.constraint != nil {
            // Room for the answer at 4 bytes a token, so a step's text seldom grows the array.
            stream.text.reserveCapacity(4 * min(parameters.maxTokens, maxModelLen - prompt))
        }
        streams[id] = stream
    }

    mutating func remove(_ id: Int) { streams[id] = nil }

    /// Notes when each of `batch`'s completions was first scheduled (for the queue time).
    mutating func scheduled(_ batch: Scheduler.Batch, at time: Double) {
        for entry in batch.entries where streams[entry.id]?.firstScheduled == nil {
            streams[entry.id]?.firstScheduled = time
        }
    }

    /// How many of `tokens` completion `id` keeps when a stop string ends it among them (the token whose
    /// text completes the stop string is the last), or nil. Decided before `Scheduler.update` on a copy of
    /// the stream, by the same scan `process` then runs on the stream itself, so the scheduler finishes the
    /// request in the step that found it (vLLM's output processor aborts it a step later).
    func stopStringEnd(_ id: Int, tokens: [Int32]) -> Int? {
        guard var stream = streams[id], !stream.stops.isEmpty else { return nil }
        return Self.scan(&stream, tokens[...]) { _ in }.map { $0.token + 1 }
    }

    /// Decodes `tokens` into `stream.held` (and its constraint text), calling `each` per token, up to and
    /// including the first whose text completes a stop string; returns that token's index, where the stop
    /// string starts in `held` and which it is.
    static func scan(
        _ stream: inout Stream,
        _ tokens: ArraySlice<Int32>,
        each: (Int32) -> Void
    ) -> (token: Int, start: Int, stop: [UInt8])? {
        for (i, token) in tokens.enumerated() {
            each(token)
            let piece = stream.decoder.append(Int(token)).utf8
            stream.held.append(contentsOf: piece)
            if stream.constraint != nil { stream.text.append(contentsOf: piece) }
            if let (start, stop) = firstStop(stream.stops, in: stream.held) { return (i, start, stop) }
        }
        return nil
    }

    /// The output of completion `id` for the tokens `update` appended (`outcome`), with their
    /// log-probabilities and the classifications they decided. A finished completion's stream is removed.
    mutating func process(
        _ id: Int,
        tokens: [Int32],
        _ outcome: Scheduler.Outcome,
        logprobs: [TokenLogprobs],
        classifications: [Classification],
        now: Double
    ) -> RequestOutput? {
        // Taken out of the table while it changes, so its buffers are not copied on write.
        guard var stream = streams.removeValue(forKey: id) else { return nil }
        var output = RequestOutput(
            requestID: stream.requestID,
            index: stream.index,
            text: "",
            // The step's own array when every token was appended (no copy; the usual case).
            tokenIDs: outcome.appended == tokens.count ? tokens : Array(tokens.prefix(outcome.appended)),
            logprobs: [],
            finishReason: outcome.reason,
            time: now
        )
        output.classifications = classifications
        if stream.outputCount == 0 { stream.cachedPromptTokens = outcome.cachedPromptTokens }
        var reason = outcome.reason
        var stopString: String?
        var scanned = 0
        let found = Self.scan(&stream, tokens.prefix(outcome.appended)) { _ in
            if scanned < logprobs.count { output.logprobs.append(logprobs[scanned]) }
            scanned += 1
        }
        stream.outputCount += scanned
        if let found {
            // `stopStringEnd` found it too: the scheduler appended no token after it.
            stream.held.removeSubrange(found.start...)
            stopString = String(decoding: found.stop, as: UTF8.self)
            reason = .stop
            output.stopReason = .string(stopString!)
        }
        if outcome.stoppedByToken && stopString == nil {
            // The scheduler stops on a stop token, which is not part of the output.
            let token = tokens[outcome.appended]
            if stream.stopTokenIDs.contains(token) { output.stopReason = .token(token) }
        }
        if let last = stream.lastToken { output.interTokenLatency = now - last } else { stream.firstToken = now }
        stream.lastToken = now
        guard let reason else {
            let safe = Self.safeLength(stream.held, holdBack: stream.holdBack)
            output.text = String(decoding: stream.held[..<safe], as: UTF8.self)
            stream.held.removeSubrange(..<safe)
            streams[id] = stream
            return output
        }
        if stopString == nil {
            let tail = stream.decoder.flush().utf8
            stream.held.append(contentsOf: tail)
            if stream.constraint != nil { stream.text.append(contentsOf: tail) }
        }
        output.text = String(decoding: stream.held, as: UTF8.self)
        output.finishReason = reason
        if let constraint = stream.constraint, reason == .stop, output.stopReason == nil {
            output.constraintViolation = constraint.violation(String(decoding: stream.text, as: UTF8.self))
        }
        output.usage = Usage(
            promptTokens: stream.promptTokens,
            completionTokens: stream.outputCount,
            cachedPromptTokens: stream.cachedPromptTokens
        )
        output.timings = RequestTimings(
            arrival: stream.arrival,
            firstScheduled: stream.firstScheduled ?? now,
            firstToken: stream.firstToken ?? now,
            finished: now
        )
        return output
    }

    /// The earliest stop string in `text`: where it starts, and which.
    static func firstStop(_ stops: [[UInt8]], in text: [UInt8]) -> (Int, [UInt8])? {
        var best: (Int, [UInt8])?
        for stop in stops where stop.count <= text.count {
            for start in 0...(text.count - stop.count) where best.map({ start < $0.0 }) ?? true {
                if text[start..<(start + stop.count)].elementsEqual(stop) {
                    best = (start, stop)
                    break
                }
            }
        }
        return best
    }

    /// How much of `held` can be emitted: all but the last `holdBack` bytes (a stop string may begin
    /// there), never cutting a UTF-8 character.
    static func safeLength(_ held: [UInt8], holdBack: Int) -> Int {
        var cut = max(0, held.count - holdBack)
        while cut > 0 && cut < held.count && held[cut] & 0xC0 == 0x80 { cut -= 1 }
        return cut
    }
}
