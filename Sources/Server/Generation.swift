import Engine
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import OpenAIAPI

/// One HTTP request's work in the engine: one engine request per prompt (each with `n` completions),
/// their outputs merged into one sequence of (choice index, output) where choice = prompt × n + completion,
/// as OpenAI numbers choices. Aborts whatever has not finished when the connection closes or the consumer stops early (a failed write,
/// task cancelled).
struct Generation: Sendable {
    let id: String
    let model: ServedModel
    let n: Int
    let streams: [Engine.Outputs]
    let requestIDs: [String]
    /// Prompt tokens over all prompts (for the log line of a request that did not finish).
    let promptTokens: Int

    /// Submits every prompt, each with `timeout` (`--request-timeout`: the engine ends what still runs then
    /// with `EngineError.deadlineExceeded`); throws (nothing submitted that is not aborted) if the engine
    /// refuses one.
    init(
        id: String,
        model: ServedModel,
        prompts: [[Int32]],
        parameters: [SamplingParameters],
        timeout: Duration? = nil,
        channel: (any Channel)? = nil
    ) throws(OpenAIError) {
        self.id = id
        self.model = model
        n = parameters.first?.n ?? 1
        var streams: [Engine.Outputs] = []
        var ids: [String] = []
        for (i, prompt) in prompts.enumerated() {
            let requestID = prompts.count == 1 ? id : "\(id)-\(i)"
            do {
                streams.append(
                    try model.engine.generate(
                        EngineRequest(
                            id: requestID,
                            prompt: prompt,
                            parameters: parameters[i],
                            timeout: timeout.map { $0 / .seconds(1) }
                        )
                    )
                )
                ids.append(requestID)
            } catch {
                for id in ids { model.engine.abort(id) }
                throw OpenAIError(error)
            }
        }
        self.streams = streams
        requestIDs = ids
        promptTokens = prompts.reduce(0) { $0 + $1.count }
        // The connection closing (client gone) aborts at once, even mid-prefill with nothing written yet.
        // Aborting a finished request is a no-op, so the callback may outlive the request.
        channel?.closeFuture.whenComplete { [engine = model.engine, ids] _ in
            for id in ids { engine.abort(id) }
        }
    }

    /// Calls `body` with every output in arrival order; returns once every completion has finished, with
    /// the request's span: earliest arrival and first token, latest finish. A request that ends otherwise
    /// (the client went away, an error, shutdown) is aborted and logged with what it did (nil span: no
    /// second, finished-request line).
    func run(
        logger: RequestLogger?,
        _ body: (Int, RequestOutput) async throws -> Void
    ) async throws -> RequestTimings? {
        var finished = 0
        var generated = 0
        var span: RequestTimings?
        let started = ContinuousClock.now
        func aborted(_ reason: String) {
            for id in requestIDs { model.engine.abort(id) }
            logger?.aborted(
                id,
                promptTokens: promptTokens,
                outputTokens: generated,
                finished: finished,
                of: streams.count * n,
                after: ContinuousClock.now - started,
                reason: reason
            )
        }
        do {
            try await forEachOutput { prompt, output in
                if let violation = output.constraintViolation { throw EngineError.invalidOutput(violation) }
                let choice = prompt * n + output.index
                generated += output.tokenIDs.count
                if let timings = output.timings, output.usage != nil {
                    finished += 1
                    span = span?.union(timings) ?? timings
                }
                try await body(choice, output)
            }
        } catch {
            aborted(error is CancellationError ? "cancelled" : "\(error)")
            throw error
        }
        guard finished == streams.count * n else {
            aborted("the connection closed")
            return nil
        }
        return span
    }

    /// Iterates one stream directly, or several merged through a forwarding task group.
    func forEachOutput(_ body: (Int, RequestOutput) async throws -> Void) async throws {
        if streams.count == 1 {
            for try await output in streams[0] { try await body(0, output) }
            return
        }
        let (merged, continuation) = AsyncThrowingStream<(Int, RequestOutput), any Error>.makeStream()
        let streams = streams
        let forwarder = Task {
            do {
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for (i, stream) in streams.enumerated() {
                        group.addTask { for try await output in stream { continuation.yield((i, output)) } }
                    }
                    try await group.waitForAll()
                }
                continuation.finish()
            } catch {
                continuation.finish(throwing: error)
            }
        }
        defer { forwarder.cancel() }
        for try await (prompt, output) in merged { try await body(prompt, output) }
    }

    /// Streams the generation as server-sent events of `envelope`: first `opening`'s choices if any (chat's
    /// role chunk), then one event per output that adds text or log-probabilities or finishes a choice,
    /// made by `choice`; after the last, the request is logged and, with `includeUsage`
    /// (`stream_options.include_usage`), a final event without choices carries the usage. With it, every
    /// other event says `"usage": null`, as OpenAI's do.
    func stream<Envelope: CompletionEnvelope>(
        to writer: inout any ResponseBodyWriter,
        envelope: Envelope,
        opening: [Envelope.Choice] = [],
        includeUsage: Bool,
        logger: RequestLogger?,
        choice: (Int, RequestOutput) -> Envelope.Choice
    ) async throws {
        var event = envelope
        event.usage = includeUsage ? Nullable(nil) : nil
        if !opening.isEmpty {
            event.choices = opening
            try await writer.write(JSONResponse.event(event))
        }
        var usages = [Usage?](repeating: nil, count: streams.count * n)
        let span = try await run(logger: logger) { index, output in
            guard !output.text.isEmpty || !output.logprobs.isEmpty || output.isFinished else { return }
            event.choices = [choice(index, output)]
            try await writer.write(JSONResponse.event(event))
            if let usage = output.usage { usages[index] = usage }
        }
        let usage = ChoiceAccumulator.usage(usages, n: n)
        if let span { logger?.log(id, usage, span) }
        if includeUsage {
            event.choices = []
            event.usage = Nullable(usage)
            try await writer.write(JSONResponse.event(event))
        }
    }

    /// Runs the generation to the end and returns the response: `envelope` with its choices (made by
    /// `choice`) and usage, and a `Server-Timing` header with the engine's share (arrival in the engine to
    /// its last token), so a client can tell the engine's time from the front end's. The request is logged.
    func respond<Envelope: CompletionEnvelope>(
        envelope: Envelope,
        logger: RequestLogger?,
        choice: (Int, ChoiceAccumulator) -> Envelope.Choice
    ) async throws -> Response {
        var choices = [ChoiceAccumulator](repeating: .init(), count: streams.count * n)
        let span = try await run(logger: logger) { index, output in choices[index].add(output) }
        let usage = ChoiceAccumulator.usage(choices, n: n)
        if let span { logger?.log(id, usage, span) }
        var body = envelope
        body.choices = choices.enumerated().map(choice)
        body.usage = Nullable(usage)
        var response = try JSONResponse.encode(body)
        if let span { response.headers[.serverTiming] = "engine;dur=\(String(format: "%.3f", span.endToEnd * 1000))" }
        return response
    }
}

/// A response the server fills with choices and usage: a chat completion or a text completion, whole or
/// as a streamed chunk.
protocol CompletionEnvelope: Encodable, Sendable {
    associatedtype Choice
    var choices: [Choice] { get set }
    var usage: Nullable<UsageInfo>? { get set }
}

extension ChatCompletion: CompletionEnvelope {}
extension Completion: CompletionEnvelope {}

extension HTTPField.Name {
    /// W3C Server Timing: the engine's share of a response.
    static let serverTiming = HTTPField.Name("Server-Timing")!
}
