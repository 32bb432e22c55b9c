import Engine
import Foundation
import Grammar
import OpenAIAPI
import Server
import SwerveCore
import Tokenizers

/// What each piece of the HTTP front end costs for one request body, timed in process (no sockets): the
/// body parsed and decoded (Swerve's parser, and Foundation's `JSONDecoder` for comparison), the chat
/// template rendered, the prompt tokenized, a one-choice response encoded. `swerve bench http` prints it
/// next to the end-to-end comparison, so the overhead can be read piece by piece.
public enum FrontEndCosts {
    /// Median microseconds per piece over `iterations` runs.
    public static func measure(_ model: ServedModel, body: Data, iterations: Int) throws -> [(String, Double)] {
        func median(_ work: () throws -> Void) rethrows -> Double {
            var times: [Double] = []
            for _ in 0..<iterations { times.append(try Monotonic.time(work).seconds * 1e6) }
            return Percentile.median(times)
        }
        let bytes = Array(body)
        let parse = try median { _ = try JSONValue.parse(bytes: bytes) }
        let json = try JSONValue.parse(bytes: bytes)
        let decode = try median { _ = try JSONValueDecoder().decode(ChatCompletionRequest.self, from: json) }
        let foundation = try median { _ = try JSONDecoder().decode(ChatCompletionRequest.self, from: body) }
        let request = try JSONValueDecoder().decode(ChatCompletionRequest.self, from: json)
        let messages = JinjaValue.array(
            request.messages.map { message in
                var text = ""
                if case .text(let content) = message.content.value { text = content }
                return .object(JinjaObject([("role", .string(message.role)), ("content", .string(text))]))
            }
        )
        let render = try median { _ = try model.prompts.renderChat(messages) }
        let text = try model.prompts.renderChat(messages)
        let tokenize = median { _ = model.prompts.tokenizer.encode(text, addBOS: false) }
        let response = ChatCompletion(
            id: "chatcmpl-0123456789abcdef",
            object: "chat.completion",
            created: 0,
            model: model.name,
            system_fingerprint: "fp_swerve",
            choices: [
                .init(index: 0, message: .init(role: "assistant", content: #"{"emotion":"happy","learn_score":true}"#))
            ],
            usage: Nullable(UsageInfo(prompt_tokens: 428, completion_tokens: 17, cached_tokens: 416))
        )
        let encode = try median { _ = try JSONResponse.encode(response) }
        return [
            ("parse body (Swerve)", parse), ("decode request from parsed body", decode),
            ("Foundation JSONDecoder, for comparison", foundation), ("render chat template", render),
            ("tokenize prompt", tokenize), ("encode response", encode),
        ]
    }
}
