import Engine
import Models
import OpenAIAPI

extension SamplingFields {
    /// The engine's parameters for one prompt of `promptTokens` tokens. Without `max_tokens` the completion
    /// may use the rest of the context, as vLLM does; with it, prompt + `max_tokens` must fit in
    /// `maxModelLen` (a 400 that names both numbers otherwise). The engine checks the remaining ranges. A
    /// field the request leaves out takes the model's `defaults` (its generation_config.json), then vLLM's.
    func parameters(
        promptTokens: Int,
        maxTokens requested: Int?,
        logprobs: Int?,
        maxModelLen: Int,
        promptField: String,
        defaults: GenerationDefaults = GenerationDefaults()
    ) throws(OpenAIError) -> SamplingParameters {
        guard promptTokens < maxModelLen else {
            throw OpenAIError.badRequest(
                "This model's maximum context length is \(maxModelLen) tokens (--max-model-len). However, your "
                    + "\(promptField) has \(promptTokens) tokens. Please shorten it.",
                param: promptField,
                code: "context_length_exceeded"
            )
        }
        // Compared without adding: `max_tokens` may be as large as the JSON number allows.
        if let requested, requested >= 1, requested > maxModelLen - promptTokens {
            throw OpenAIError.badRequest(
                "This model's maximum context length is \(maxModelLen) tokens (--max-model-len). However, you "
                    + "requested \(UInt(promptTokens) + UInt(requested)) tokens (\(promptTokens) in the \(promptField), "
                    + "\(requested) in the completion). Please reduce the length of the \(promptField) or completion.",
                param: "max_tokens",
                code: "context_length_exceeded"
            )
        }
        var bias: [Int32: Float] = [:]
        for (key, value) in logit_bias ?? [:] {
            guard let id = Int32(key) else {
                throw OpenAIError.badRequest("logit_bias keys must be token ids, got '\(key)'", param: "logit_bias")
            }
            bias[id] = Float(value)
        }
        return SamplingParameters(
            n: n ?? 1,
            temperature: Float(temperature ?? defaults.temperature ?? 1),
            topP: Float(top_p ?? defaults.topP ?? 1),
            topK: top_k ?? defaults.topK ?? 0,
            minP: Float(min_p ?? defaults.minP ?? 0),
            seed: seed.map { UInt64(bitPattern: Int64($0)) },
            presencePenalty: Float(presence_penalty ?? 0),
            frequencyPenalty: Float(frequency_penalty ?? 0),
            repetitionPenalty: Float(repetition_penalty ?? defaults.repetitionPenalty ?? 1),
            logitBias: bias,
            maxTokens: requested ?? min(defaults.maxTokens ?? .max, maxModelLen - promptTokens),
            minTokens: min_tokens ?? 0,
            stop: stop?.values ?? [],
            stopTokenIDs: (stop_token_ids ?? []).map { Int32(clamping: $0) },
            ignoreEOS: ignore_eos ?? false,
            logprobs: logprobs
        )
    }
}
