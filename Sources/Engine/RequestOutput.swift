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

    public var isFinished: Bool { finishReason != nil }
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

    public init(id: String, prompt: [Int32], parameters: SamplingParameters) {
        self.id = id
        self.prompt = prompt
        self.parameters = parameters
    }
}
