/// A chat completion as OpenAI returns it (`object: "chat.completion"`), or, streamed, each of its chunks
/// (`object: "chat.completion.chunk"`): the same envelope with `delta`s instead of `message`s.
public struct ChatCompletion: Codable, Sendable, Equatable {
    public var id: String
    public var object: String
    public var created: Int
    public var model: String
    public var system_fingerprint: String
    public var choices: [Choice]
    /// Always present on a completion; on chunks only with `stream_options.include_usage`: `null` on each
    /// chunk but the last, which has no choices.
    public var usage: Nullable<UsageInfo>?

    public init(
        id: String,
        object: String,
        created: Int,
        model: String,
        system_fingerprint: String,
        choices: [Choice],
        usage: Nullable<UsageInfo>?
    ) {
        self.id = id
        self.object = object
        self.created = created
        self.model = model
        self.system_fingerprint = system_fingerprint
        self.choices = choices
        self.usage = usage
    }

    /// One of the `n` completions, whole (`message`) or a chunk of it (`delta`).
    public struct Choice: Codable, Sendable, Equatable {
        public var index: Int
        public var message: Message?
        public var delta: Message?
        public var logprobs: Nullable<ChatLogprobs>
        public var finish_reason: Nullable<String>
        /// vLLM: the stop string (or stop token id) that ended the choice.
        public var stop_reason: Nullable<StopReasonValue>
        /// Swerve: the one-pass classifications made for this choice (with `classify`).
        public var classification: [ClassificationInfo]?

        public init(
            index: Int,
            message: Message? = nil,
            delta: Message? = nil,
            logprobs: ChatLogprobs? = nil,
            finish_reason: String? = nil,
            stop_reason: StopReasonValue? = nil,
            classification: [ClassificationInfo]? = nil
        ) {
            self.index = index
            self.message = message
            self.delta = delta
            self.logprobs = Nullable(logprobs)
            self.finish_reason = Nullable(finish_reason)
            self.stop_reason = Nullable(stop_reason)
            self.classification = classification
        }
    }

    /// The assistant's message, or what a chunk adds to it.
    public struct Message: Codable, Sendable, Equatable {
        public var role: String?
        public var content: String?

        public init(role: String? = nil, content: String? = nil) {
            self.role = role
            self.content = content
        }
    }
}

/// Chat log-probabilities: one entry per generated token.
public struct ChatLogprobs: Codable, Sendable, Equatable {
    public var content: [TokenLogprob]

    public init(content: [TokenLogprob]) { self.content = content }

    /// A token, its log-probability and UTF-8 bytes, and (for the chosen token) the most likely alternatives.
    public struct TokenLogprob: Codable, Sendable, Equatable {
        public var token: String
        public var logprob: Double
        public var bytes: [Int]
        public var top_logprobs: [TokenLogprob]?

        public init(token: String, logprob: Double, bytes: [Int], top_logprobs: [TokenLogprob]? = nil) {
            self.token = token
            self.logprob = logprob
            self.bytes = bytes
            self.top_logprobs = top_logprobs
        }
    }
}

/// vLLM's `stop_reason`: the matched stop string, or the stop token id.
public enum StopReasonValue: Codable, Sendable, Equatable {
    case string(String)
    case token(Int)

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if let token = try? container.decode(Int.self) {
            self = .token(token)
        } else {
            self = .string(try container.decode(String.self))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .string(let text): try container.encode(text)
        case .token(let id): try container.encode(id)
        }
    }
}

/// Token counts, OpenAI's `usage`; `prompt_tokens_details.cached_tokens` counts prompt tokens served from
/// the prefix cache.
public struct UsageInfo: Codable, Sendable, Equatable {
    public var prompt_tokens: Int
    public var completion_tokens: Int
    public var total_tokens: Int
    public var prompt_tokens_details: PromptTokensDetails?

    public init(prompt_tokens: Int, completion_tokens: Int, cached_tokens: Int) {
        self.prompt_tokens = prompt_tokens
        self.completion_tokens = completion_tokens
        total_tokens = prompt_tokens + completion_tokens
        prompt_tokens_details = PromptTokensDetails(cached_tokens: cached_tokens)
    }

    /// How much of the prompt was cached.
    public struct PromptTokensDetails: Codable, Sendable, Equatable {
        public var cached_tokens: Int
    }
}
