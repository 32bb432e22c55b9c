/// The sampling fields chat and text completions share, under OpenAI's and vLLM's wire names; the server
/// turns them into the engine's `SamplingParameters` once, whichever endpoint they came through.
public protocol SamplingFields: Sendable {
    var model: String? { get }
    var max_tokens: Int? { get }
    var temperature: Double? { get }
    var top_p: Double? { get }
    var top_k: Int? { get }
    var min_p: Double? { get }
    var n: Int? { get }
    var stop: OneOrMany<String>? { get }
    var stop_token_ids: [Int]? { get }
    var seed: Int? { get }
    var presence_penalty: Double? { get }
    var frequency_penalty: Double? { get }
    var repetition_penalty: Double? { get }
    var logit_bias: [String: Double]? { get }
    var stream: Bool? { get }
    var stream_options: StreamOptions? { get }
    var ignore_eos: Bool? { get }
    var min_tokens: Int? { get }
    var user: String? { get }
}

/// `stream_options`: `include_usage` adds a last chunk with the request's token counts.
public struct StreamOptions: Codable, Sendable, Equatable {
    public var include_usage: Bool?

    public init(include_usage: Bool? = nil) { self.include_usage = include_usage }
}
