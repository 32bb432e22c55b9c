/// `POST /tokenize` (vLLM): a text `prompt` or chat `messages` to token ids.
public struct TokenizeRequest: Codable, Sendable {
    public var model: String?
    public var prompt: String?
    public var messages: [ChatMessage]?
    /// Text prompts: add BOS as the model asks (default true).
    public var add_special_tokens: Bool?
    /// Chats: end with the assistant turn's opening (default true).
    public var add_generation_prompt: Bool?
}

/// The token ids, their count and the server's `--max-model-len`.
public struct TokenizeResponse: Codable, Sendable, Equatable {
    public var tokens: [Int]
    public var count: Int
    public var max_model_len: Int

    public init(tokens: [Int], max_model_len: Int) {
        self.tokens = tokens
        count = tokens.count
        self.max_model_len = max_model_len
    }
}

/// `POST /detokenize` (vLLM): token ids to text.
public struct DetokenizeRequest: Codable, Sendable {
    public var model: String?
    public var tokens: [Int]
}

/// The text of the ids.
public struct DetokenizeResponse: Codable, Sendable, Equatable {
    public var prompt: String

    public init(prompt: String) { self.prompt = prompt }
}
