import Models
import OpenAIAPI

/// Turns a prompt's text into token ids the way a public server must: a text that cannot fit in
/// `--max-model-len` whatever it encodes to (`PromptEncoder.fewestTokens`, from its length alone) is refused
/// before any tokenizing, and a long one is tokenized off the cooperative pool (`BlockingWork`), so a
/// megabyte body costs the other requests nothing. Past the first check a text is at most `--max-model-len`
/// times the longest token's bytes (about 330 KB for SmolLM2 at 4096), which bounds the tokenizing work.
enum PromptTokens {
    /// Texts at least this long are tokenized on a dispatch queue; shorter ones (a Pika request's 2 KB)
    /// inline, where the hop would cost more than the work.
    static let offloadedBytes = 32 << 10

    /// The ids `encode` makes of `text`; with `maxModelLen`, a 400 naming `field` if `text` has at least
    /// that many tokens for certain (the exact count is checked with the other lengths afterwards).
    static func of(
        _ text: String,
        field: String,
        model: ServedModel,
        maxModelLen: Int?,
        encode: @escaping @Sendable (String) -> [Int32]
    ) async throws -> [Int32] {
        if let maxModelLen {
            let fewest = model.prompts.fewestTokens(text)
            guard fewest < maxModelLen else {
                throw OpenAIError.badRequest(
                    "This model's maximum context length is \(maxModelLen) tokens (--max-model-len). However, your "
                        + "\(field) has at least \(fewest) tokens (\(text.utf8.count) bytes). Please shorten it.",
                    param: field,
                    code: "context_length_exceeded"
                )
            }
        }
        guard text.utf8.count >= offloadedBytes else { return encode(text) }
        return try await BlockingWork.run { encode(text) }
    }
}
