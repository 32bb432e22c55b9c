import Engine
import Foundation
import Grammar
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import OpenAIAPI
import SwerveCore

/// The HTTP API: OpenAI's `/v1/chat/completions`, `/v1/completions` and `/v1/models`, and vLLM's
/// `/health`, `/version`, `/tokenize`, `/detokenize` and `/metrics`. Each handler asks the `ModelHost` for
/// the model (503 while loading or draining), decodes and checks the body (400s that name the field), and
/// hands the engine token ids. A client that disconnects aborts its request in the engine at once (see
/// `Generation`).
struct OpenAIRoutes: Sendable {
    let host: ModelHost
    let configuration: ServerConfiguration
    let requestLogger: RequestLogger?

    var fingerprint: String { "fp_swerve_\(configuration.version)" }

    /// Every route's path and methods (`HEAD` wherever `GET` is); a known path asked with
    /// another method is a 405 naming these (`OpenAIErrorMiddleware`).
    static let methods: [String: [HTTPRequest.Method]] = [
        "/v1/chat/completions": [.post], "/v1/completions": [.post], "/v1/models": [.get, .head],
        "/health": [.get, .head], "/ping": [.get, .post, .head], "/version": [.get, .head],
        "/metrics": [.get, .head], "/tokenize": [.post], "/detokenize": [.post],
        "/reset_prefix_cache": [.post], "/kv_events/cached_blocks": [.get, .head],
    ]

    func register(on router: Router<ServerRequestContext>) {
        func add(
            _ method: HTTPRequest.Method,
            _ path: String,
            _ handler: @escaping @Sendable (Request, ServerRequestContext) async throws -> Response
        ) {
            precondition(Self.methods[path]?.contains(method) == true, "\(method) \(path) missing from the table")
            router.on(RouterPath(path), method: method, use: handler)
            // HEAD runs the GET handler; `ConnectionGuard` drops the body from what it writes.
            if method == .get { router.on(RouterPath(path), method: .head, use: handler) }
        }
        add(.post, "/v1/chat/completions", chatCompletions)
        add(.post, "/v1/completions", completions)
        add(.get, "/v1/models") { _, _ in
            let model = try host.serving()
            return try JSONResponse.encode(ModelList(data: model.card))
        }
        // vLLM's /health, and /ping (SageMaker's name for it, GET or POST).
        let health: @Sendable (Request, ServerRequestContext) async throws -> Response = { _, _ in
            _ = try host.serving()
            return Response(status: .ok)
        }
        add(.get, "/health", health)
        add(.get, "/ping", health)
        add(.post, "/ping", health)
        add(.get, "/version") { _, _ in try JSONResponse.encode(VersionInfo(version: configuration.version)) }
        add(.get, "/metrics") { _, _ -> Response in
            Response(
                status: .ok,
                headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                body: ResponseBody(byteBuffer: ByteBuffer(bytes: host.metrics?.render() ?? []))
            )
        }
        add(.post, "/tokenize", tokenize)
        add(.post, "/detokenize", detokenize)
        // vLLM's endpoint (its dev mode): forgets the prefix cache, publishing AllBlocksCleared.
        add(.post, "/reset_prefix_cache") { _, _ -> Response in
            let model = try host.serving()
            guard await model.engine.withCore({ $0.resetPrefixCache() }) == true else {
                throw OpenAIError(
                    .conflict,
                    "the prefix cache cannot be reset while requests hold KV blocks; retry when idle"
                )
            }
            return Response(status: .ok)
        }
        // Swerve's own: the chain hashes of the cached blocks, to check a KV-event subscriber's view.
        add(.get, "/kv_events/cached_blocks") { _, _ -> Response in
            let model = try host.serving()
            let hashes = await model.engine.withCore { $0.cachedBlockHashes } ?? []
            return try JSONResponse.encode(CachedBlocks(block_hashes: hashes.sorted()))
        }
    }

    /// `/kv_events/cached_blocks`' answer.
    struct CachedBlocks: Encodable {
        var block_hashes: [UInt64]
    }

    func tokenize(_ request: Request, context: ServerRequestContext) async throws -> Response {
        let model = try host.serving()
        let body = try await RequestDecoding.decode(
            TokenizeRequest.self,
            from: request,
            limit: configuration.maxRequestBodyBytes
        )
        try checkModel(body.model, model)
        let tokens: [Int32]
        // Every token, however many (vLLM's /tokenize does not refuse long texts), but tokenized off the pool.
        if let messages = body.messages {
            tokens = try await Self.chatPrompt(
                messages,
                model,
                addGenerationPrompt: body.add_generation_prompt ?? true,
                maxModelLen: nil
            )
        } else if let prompt = body.prompt {
            let addSpecialTokens = body.add_special_tokens ?? true
            tokens = try await PromptTokens.of(prompt, field: "prompt", model: model, maxModelLen: nil) {
                [prompts = model.prompts] in prompts.text($0, addSpecialTokens: addSpecialTokens)
            }
        } else {
            throw OpenAIError.badRequest("give either prompt or messages", param: "prompt")
        }
        return try JSONResponse.encode(
            TokenizeResponse(tokens: tokens.map(Int.init), max_model_len: model.engine.maxModelLen)
        )
    }

    func detokenize(_ request: Request, context: ServerRequestContext) async throws -> Response {
        let model = try host.serving()
        let body = try await RequestDecoding.decode(
            DetokenizeRequest.self,
            from: request,
            limit: configuration.maxRequestBodyBytes
        )
        try checkModel(body.model, model)
        let vocabulary = model.engine.tokenizer.vocabularySize
        if let bad = body.tokens.first(where: { $0 < 0 || $0 >= vocabulary }) {
            throw OpenAIError.badRequest("token \(bad) is not in the vocabulary of \(vocabulary)", param: "tokens")
        }
        return try JSONResponse.encode(DetokenizeResponse(prompt: model.engine.tokenizer.decode(body.tokens)))
    }

    /// 404 unless the request names this model (or none).
    func checkModel(_ requested: String?, _ model: ServedModel) throws(OpenAIError) {
        guard model.answers(to: requested) else {
            throw OpenAIError(
                .notFound,
                "The model `\(requested ?? "")` does not exist; this server serves \(model.names.joined(separator: ", "))",
                param: "model",
                code: "model_not_found"
            )
        }
    }

    /// The compiled structured-output constraint a request asks for, if any (400s for a bad one).
    func constraint(
        for fields: some StructuredOutputFields,
        body: JSONValue,
        _ model: ServedModel
    ) async throws -> StructuredConstraint? {
        let request = try fields.constraintSpec { () throws(JSONError) in body }
        guard let (spec, param) = request else {
            if fields.classify == true {
                throw OpenAIError.badRequest(
                    "classify needs a structured output constraint with a choice to score: structured_outputs.choice, "
                        + "or a JSON schema with enum fields",
                    param: "classify"
                )
            }
            return nil
        }
        return try await model.engine.constraint(spec, param: param)
    }

    static func randomID() -> String { UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased() }

    /// A `text/event-stream` response whose events `produce` writes, closed by `data: [DONE]`. An engine
    /// failure mid-stream becomes an error event, as vLLM sends one; so does the stream being cut because
    /// the server's shutdown timeout ran out (the task cancelled), so a client can tell it from an answer.
    static func eventStream(
        _ produce: @escaping @Sendable (inout any ResponseBodyWriter) async throws -> Void
    )
        -> Response
    {
        Response(
            status: .ok,
            headers: [.contentType: "text/event-stream", .cacheControl: "no-cache"],
            body: ResponseBody { writer in
                do {
                    try await produce(&writer)
                } catch let error as EngineError {
                    try await writer.write(JSONResponse.event(OpenAIError(error).body))
                } catch is CancellationError {
                    try await writer.write(JSONResponse.event(OpenAIError(EngineError.shutDown).body))
                }
                try await writer.write(JSONResponse.done)
                try await writer.finish(nil)
            }
        )
    }
}
