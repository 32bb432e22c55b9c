import Engine
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import OpenAIAPI
import Tokenizers

extension OpenAIRoutes {
    /// `POST /v1/chat/completions`: renders the conversation through the model's chat template, then
    /// generates, answering whole or as server-sent `chat.completion.chunk`s.
    func chatCompletions(_ request: Request, context: ServerRequestContext) async throws -> Response {
        let model = try host.serving()
        let (body, raw) = try await RequestDecoding.decodeWithBody(
            ChatCompletionRequest.self,
            from: request,
            limit: configuration.maxRequestBodyBytes
        )
        try checkModel(body.model, model)
        let constraint = try await constraint(for: body, body: raw, model)
        let prompt = try await Self.chatPrompt(
            body.messages,
            model,
            addGenerationPrompt: body.add_generation_prompt ?? true,
            maxModelLen: model.engine.maxModelLen
        )
        if body.top_logprobs != nil && body.logprobs != true {
            throw OpenAIError.badRequest("top_logprobs needs logprobs: true", param: "top_logprobs")
        }
        var parameters = try body.parameters(
            promptTokens: prompt.count,
            maxTokens: body.max_completion_tokens ?? body.max_tokens,
            logprobs: body.logprobs == true ? (body.top_logprobs ?? 0) : nil,
            maxModelLen: model.engine.maxModelLen,
            promptField: "messages",
            defaults: model.generationDefaults
        )
        parameters.constraint = constraint
        parameters.classify = body.classify == true
        let generation = try Generation(
            id: "chatcmpl-\(Self.randomID())",
            model: model,
            prompts: [prompt],
            parameters: [parameters],
            timeout: configuration.requestTimeout,
            channel: context.channel
        )
        let envelope = ChatCompletion(
            id: generation.id,
            object: "chat.completion",
            created: Int(Date().timeIntervalSince1970),
            model: body.model ?? model.name,
            system_fingerprint: fingerprint,
            choices: [],
            usage: nil
        )
        let formatter = LogprobsFormatter(tokenizer: model.engine.tokenizer)
        let logger = requestLogger
        if body.stream == true {
            let includeUsage = body.stream_options?.include_usage == true
            return Self.eventStream { writer in
                var chunk = envelope
                chunk.object = "chat.completion.chunk"
                try await generation.stream(
                    to: &writer,
                    envelope: chunk,
                    opening: (0..<generation.n).map {
                        ChatCompletion.Choice(index: $0, delta: .init(role: "assistant", content: ""))
                    },
                    includeUsage: includeUsage,
                    logger: logger
                ) { index, output in
                    ChatCompletion.Choice(
                        index: index,
                        delta: .init(content: output.text.isEmpty && output.isFinished ? nil : output.text),
                        logprobs: output.logprobs.isEmpty ? nil : formatter.chat(output.logprobs),
                        finish_reason: output.finishReason?.rawValue,
                        stop_reason: StopReasonValue(output.stopReason),
                        classification: ClassificationInfo.list(output.classifications)
                    )
                }
            }
        }
        return try await generation.respond(envelope: envelope, logger: logger) { index, choice in
            ChatCompletion.Choice(
                index: index,
                message: .init(role: "assistant", content: choice.text),
                logprobs: parameters.logprobs == nil ? nil : formatter.chat(choice.logprobs),
                finish_reason: choice.finishReason?.rawValue,
                stop_reason: StopReasonValue(choice.stopReason),
                classification: ClassificationInfo.list(choice.classifications)
            )
        }
    }

    /// The conversation's prompt ids (`PromptTokens`: refused early past `maxModelLen`, long ones tokenized
    /// off the pool). Text parts of a message are joined with newlines; other parts are refused (a text
    /// model cannot read them).
    static func chatPrompt(
        _ messages: [ChatMessage],
        _ model: ServedModel,
        addGenerationPrompt: Bool,
        maxModelLen: Int?
    ) async throws -> [Int32] {
        guard !messages.isEmpty else { throw OpenAIError.badRequest("messages must not be empty", param: "messages") }
        var list: [JinjaValue] = []
        for (i, message) in messages.enumerated() {
            var text = ""
            switch message.content.value {
            case .text(let content): text = content
            case .parts(let parts):
                for part in parts {
                    guard part.type == "text", let content = part.text else {
                        throw OpenAIError.badRequest(
                            "content part type '\(part.type)' is not supported: this model reads text only",
                            param: "messages[\(i)].content"
                        )
                    }
                    text += text.isEmpty ? content : "\n" + content
                }
            case nil: break
            }
            list.append(.object(JinjaObject([("role", .string(message.role)), ("content", .string(text))])))
        }
        let text: String
        do {
            text = try model.prompts.renderChat(.array(list), addGenerationPrompt: addGenerationPrompt)
        } catch {
            throw OpenAIError.badRequest(
                "the chat template could not render these messages: \(error)",
                param: "messages"
            )
        }
        return try await PromptTokens.of(text, field: "messages", model: model, maxModelLen: maxModelLen) {
            [prompts = model.prompts] in prompts.chatTokens($0)
        }
    }
}
