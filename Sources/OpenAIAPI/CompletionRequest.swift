/// `POST /v1/completions`'s body: OpenAI's legacy text completion with vLLM's sampling extensions.
/// `prompt` is a string, a list of strings, a list of token ids or a list of such lists; each prompt gets
/// `n` choices.
public struct CompletionRequest: Codable, SamplingFields, StructuredOutputFields {
    public var model: String?
    public var prompt: PromptInput
    public var max_tokens: Int?
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
    /// Return this many most likely alternatives per position, with the chosen token's log-probability.
    public var logprobs: Int?
    public var stream: Bool?
    public var stream_options: StreamOptions?
    public var ignore_eos: Bool?
    public var min_tokens: Int?
    public var user: String?
    /// vLLM: add the model's BOS to text prompts (default true).
    public var add_special_tokens: Bool?
    public var response_format: ResponseFormat?
    public var structured_outputs: StructuredOutputs?
    public var guided_json: AnyJSON?
    public var guided_regex: String?
    public var guided_choice: [String]?
    public var guided_grammar: String?
    public var guided_whitespace_pattern: String?
    public var classify: Bool?
}

/// A completion request's prompts: texts, or token id lists.
public enum PromptInput: Codable, Sendable, Equatable {
    case texts([String])
    case tokens([[Int]])

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if let text = try? container.decode(String.self) {
            self = .texts([text])
        } else if let texts = try? container.decode([String].self) {
            self = .texts(texts)
        } else if let ids = try? container.decode([Int].self) {
            self = .tokens([ids])
        } else if let lists = try? container.decode([[Int]].self) {
            self = .tokens(lists)
        } else {
            throw DecodingError.typeMismatch(
                PromptInput.self,
                .init(
                    codingPath: decoder.codingPath,
                    debugDescription: "a string, a list of strings, a list of token ids, or a list of such lists"
                )
            )
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .texts(let texts): try texts.count == 1 ? container.encode(texts[0]) : container.encode(texts)
        case .tokens(let lists): try lists.count == 1 ? container.encode(lists[0]) : container.encode(lists)
        }
    }
}
