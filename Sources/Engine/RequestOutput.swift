/// What one engine step adds to one completion of a request: new text and tokens, their log-probabilities
/// if asked for, and, on the last output, why it finished and the token counts.
public struct RequestOutput: Sendable, Equatable {
    public var requestID: String
    /// Which of the request's `n` completions.
    public var index: Int
    /// Text the new tokens complete (stop strings and what follows them never appear).
    public var text: String
    public var tokenIDs: [Int32]
    public var logprobs: [TokenLogprobs]
    public var finishReason: FinishReason?
    /// The stop string or stop token id that ended the completion, if one did.
    public var stopReason: StopReason?
    /// Set on the completion's last output.
    public var usage: Usage?
    /// When the step that produced this output finished (`EngineCore.now()` seconds).
    public var time: Double = 0
    /// Seconds since the completion's previous output (nil on its first): vLLM's inter-token latency.
    public var interTokenLatency: Double?
    /// Set on the completion's last output: when it arrived, was first scheduled and first sampled.
    public var timings: RequestTimings?
    /// Set on the last output of a constrained completion that ended with its grammar but whose text fails
    /// the constraint's own check (a grammar bug: the server answers it with an error, not the text).
    public var constraintViolation: String?
    /// One-pass classifications decided for the tokens of this output.
    public var classifications: [Classification] = []

    public var isFinished: Bool { finishReason != nil }
}

/// A finished completion's milestones in `EngineCore.now()` seconds, from which the server's latency
/// histograms (queue, prefill, decode, end to end) are derived as vLLM derives them.
public struct RequestTimings: Sendable, Equatable {
    public var arrival: Double
    public var firstScheduled: Double
    public var firstToken: Double
    public var finished: Double

    public var queue: Double { firstScheduled - arrival }
    public var timeToFirstToken: Double { firstToken - arrival }
    public var prefill: Double { firstToken - firstScheduled }
    public var decode: Double { finished - firstToken }
    public var endToEnd: Double { finished - arrival }

    /// The span covering both: earliest arrival, scheduling and first token, latest finish.
    public func union(_ other: RequestTimings) -> RequestTimings {
        RequestTimings(
            arrival: min(arrival, other.arrival),
            firstScheduled: min(firstScheduled, other.firstScheduled),
            firstToken: min(firstToken, other.firstToken),
            finished: max(finished, other.finished)
        )
    }
}

/// What ended a completion with `FinishReason.stop`.
public enum StopReason: Sendable, Equatable {
    case string(String)
    case token(Int32)
}

/// Token counts of one completion, as OpenAI's `usage` reports them.
public struct Usage: Sendable, Equatable {
    public var promptTokens: Int
    public var completionTokens: Int
    /// Prompt tokens served from the prefix cache.
    public var cachedPromptTokens: Int
}

/// A request as the engine takes it: an id unique among running requests, the prompt's token ids, and how
/// to sample.
public struct EngineRequest: Sendable {
    public var id: String
    public var prompt: [Int32]
    public var parameters: SamplingParameters
    /// Seconds the request may run from its arrival (`--request-timeout`); past it the engine aborts it and
    /// its stream ends with `EngineError.deadlineExceeded`. nil: no limit.
    public var timeout: Double?

    public init(id: String, prompt: [Int32], parameters: SamplingParameters, timeout: Double? = nil) {
        self.id = id
        self.prompt = prompt
        self.parameters = parameters
        self.timeout = timeout
    }
}

/// One choice between literals decided by one-pass classification: every alternative (an enum value, a
/// choice string) with its log-likelihood under the model, and which one was taken (the most likely).
public struct Classification: Sendable, Equatable {
    public var alternatives: [String]
    public var logprobs: [Float]
    public var chosen: Int
}
