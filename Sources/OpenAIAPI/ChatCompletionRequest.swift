/// `POST /v1/chat/completions`'s body: OpenAI's fields plus vLLM's sampling extensions (`top_k`, `min_p`,
/// `repetition_penalty`, `ignore_eos`, `min_tokens`, `stop_token_ids`). Unknown fields are ignored, as
/// OpenAI's API does. Property names are the wire's, so the type reads like OpenAI's reference.
public struct ChatCompletionRequest: Codable, SamplingFields, StructuredOutputFields {
    public var model: String?
    public var messages: [ChatMessage]
    public var max_tokens: Int?
    /// OpenAI's newer name for `max_tokens`; wins when both are given.
    public var max_completion_tokens: Int?
    public var temperature: Double?
    public var top_p: Double?
    public var top_k: Int?
    public var min_p: Double?
    public var n: Int?
    public var stop: OneOrMany<String>?
    public var stop_token_ids: [Int]?
    public var seed: Int?
    public var presence_penalty: Double?
    public var frequency_penalty: Double?
    public var repetition_penalty: Double?
    public var logit_bias: [String: Double]?
    /// Return the chosen tokens' log-probabilities.
    public var logprobs: Bool?
    /// And this many alternatives per position (needs `logprobs`).
    public var top_logprobs: Int?
    public var stream: Bool?
    public var stream_options: StreamOptions?
    public var ignore_eos: Bool?
    public var min_tokens: Int?
    public var user: String?
    /// vLLM: end the rendered prompt with the assistant turn's opening (default true).
    public var add_generation_prompt: Bool?
    public var response_format: ResponseFormat?
    public var structured_outputs: StructuredOutputs?
    public var guided_json: AnyJSON?
    public var guided_regex: String?
    public var guided_choice: [String]?
    public var guided_grammar: String?
    public var guided_whitespace_pattern: String?
    public var classify: Bool?
}

/// One message of a conversation. `content` is a string or a list of parts, of which only text parts can be
/// read by a text model.
public struct ChatMessage: Codable, Sendable, Equatable {
    public var role: String
    public var content: Nullable<MessageContent>
    public var name: String?

    public init(role: String, content: String) {
        self.role = role
        self.content = Nullable(.text(content))
    }
}

/// A message's content: plain text, or OpenAI's list of typed parts.
public enum MessageContent: Codable, Sendable, Equatable {
    case text(String)
    case parts([Part])

    /// One content part; `text` is set for `type: "text"`.
    public struct Part: Codable, Sendable, Equatable {
        public var type: String
        public var text: String?
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if let text = try? container.decode(String.self) {
            self = .text(text)
        } else {
            self = .parts(try container.decode([Part].self))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .text(let text): try container.encode(text)
        case .parts(let parts): try container.encode(parts)
        }
    }
}
