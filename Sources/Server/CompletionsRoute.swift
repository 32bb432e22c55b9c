import Engine
import Foundation
import Hummingbird
import OpenAIAPI

extension OpenAIRoutes {
    /// `POST /v1/completions`: each prompt (text or token ids) gets `n` choices, numbered prompt × n + i.
    func completions(_ request: Request, context: ServerRequestContext) async throws -> Response {
        let model = try host.serving()
        let (body, raw) = try await RequestDecoding.decodeWithBody(
            CompletionRequest.self,
            from: request,
            limit: configuration.maxRequestBodyBytes
        )
        try checkModel(body.model, model)
        let constraint = try await constraint(for: body, body: raw, model)
        let prompts: [[Int32]]
        switch body.prompt {
        case .texts(let texts):
            let addSpecialTokens = body.add_special_tokens ?? true
            var encoded: [[Int32]] = []
            for text in texts {
                encoded.append(
                    try await PromptTokens.of(
                        text,
                        field: "prompt",
                        model: model,
                        maxModelLen: model.engine.maxModelLen
                    ) {
                        [prompts = model.prompts] in prompts.text($0, addSpecialTokens: addSpecialTokens)
                    }
                )
            }
            prompts = encoded
        case .tokens(let lists):
            prompts = lists.map { $0.map { Int32(clamping: $0) } }
        }
        guard !prompts.isEmpty, prompts.allSatisfy({ !$0.isEmpty }) else {
            throw OpenAIError.badRequest("prompt must not be empty", param: "prompt")
        }
        let parameters = try prompts.map { prompt throws(OpenAIError) in
            var parameters = try body.parameters(
                promptTokens: prompt.count,
                maxTokens: body.max_tokens,
                logprobs: body.logprobs,
                maxModelLen: model.engine.maxModelLen,
                promptField: "prompt",
                defaults: model.generationDefaults
            )
            parameters.constraint = constraint
            parameters.classify = body.classify == true
            return parameters
        }
        let generation = try Generation(
            id: "cmpl-\(Self.randomID())",
            model: model,
            prompts: prompts,
            parameters: parameters,
            timeout: configuration.requestTimeout,
            channel: context.channel
        )
        let envelope = Completion(
            id: generation.id,
            created: Int(Date().timeIntervalSince1970),
            model: body.model ?? model.name,
            system_fingerprint: fingerprint,
            choices: [],
            usage: nil
        )
        let formatter = LogprobsFormatter(tokenizer: model.engine.tokenizer)
        let choiceCount = prompts.count * generation.n
        let logger = requestLogger
        if body.stream == true {
            let includeUsage = body.stream_options?.include_usage == true
            return Self.eventStream { writer in
                var offsets = [Int](repeating: 0, count: choiceCount)
                try await generation.stream(
                    to: &writer,
                    envelope: envelope,
                    includeUsage: includeUsage,
                    logger: logger
                ) { index, output in
                    defer { offsets[index] += output.text.count }
                    return Completion.Choice(
                        index: index,
                        text: output.text,
                        logprobs: body.logprobs == nil
                            ? nil : formatter.completion(output.logprobs, offset: offsets[index]),
                        finish_reason: output.finishReason?.rawValue,
                        stop_reason: StopReasonValue(output.stopReason),
                        classification: ClassificationInfo.list(output.classifications)
                    )
                }
            }
        }
        return try await generation.respond(envelope: envelope, logger: logger) { index, choice in
            Completion.Choice(
                index: index,
                text: choice.text,
                logprobs: body.logprobs == nil ? nil : formatter.completion(choice.logprobs, offset: 0),
                finish_reason: choice.finishReason?.rawValue,
                stop_reason: StopReasonValue(choice.stopReason),
                classification: ClassificationInfo.list(choice.classifications)
            )
        }
    }
}
