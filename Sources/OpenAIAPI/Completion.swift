/// A text completion as OpenAI returns it (`object: "text_completion"`), whole or as one streamed chunk.
public struct Completion: Codable, Sendable, Equatable {
    public var id: String
    public var object: String
    public var created: Int
    public var model: String
    public var system_fingerprint: String
    public var choices: [Choice]
    public var usage: Nullable<UsageInfo>?

    public init(
        id: String,
        created: Int,
        model: String,
        system_fingerprint: String,
        choices: [Choice],
        usage: Nullable<UsageInfo>?
    ) {
        self.id = id
        object = "text_completion"
        self.created = created
        self.model = model
        self.system_fingerprint = system_fingerprint
        self.choices = choices
        self.usage = usage
    }

    /// One completion of one prompt (index = prompt × n + completion), or a chunk of it.
    public struct Choice: Codable, Sendable, Equatable {
        public var index: Int
        public var text: String
        public var logprobs: Nullable<CompletionLogprobs>
        public var finish_reason: Nullable<String>
        public var stop_reason: Nullable<StopReasonValue>
        /// Swerve: the one-pass classifications made for this choice (with `classify`).
        public var classification: [ClassificationInfo]?

        public init(
            index: Int,
            text: String,
            logprobs: CompletionLogprobs? = nil,
            finish_reason: String? = nil,
            stop_reason: StopReasonValue? = nil,
            classification: [ClassificationInfo]? = nil
        ) {
            self.index = index
            self.text = text
            self.logprobs = Nullable(logprobs)
            self.finish_reason = Nullable(finish_reason)
            self.stop_reason = Nullable(stop_reason)
            self.classification = classification
        }
    }
}

/// The legacy completions log-probabilities: parallel lists over the generated tokens.
public struct CompletionLogprobs: Codable, Sendable, Equatable {
    public var tokens: [String]
    public var token_logprobs: [Double]
    /// Per position, the most likely alternatives by token text.
    public var top_logprobs: [[String: Double]]
    /// Where each token starts in the choice's text (characters).
    public var text_offset: [Int]

    public init(tokens: [String], token_logprobs: [Double], top_logprobs: [[String: Double]], text_offset: [Int]) {
        self.tokens = tokens
        self.token_logprobs = token_logprobs
        self.top_logprobs = top_logprobs
        self.text_offset = text_offset
    }
}
