import HTTPTypes
import Hummingbird

/// Answers every error in OpenAI's shape: Hummingbird's (unknown route 404, body too large 413, ...) with
/// their status, anything unexpected as a 500 that says what failed. Outermost, so nothing escapes it.
struct OpenAIErrorMiddleware<Context: RequestContext>: RouterMiddleware {
    func handle(
        _ request: Request,
        context: Context,
        next: (Request, Context) async throws -> Response
    )
        async throws -> Response
    {
        do {
            return try await next(request, context)
        } catch let error as OpenAIError {
            throw error
        } catch let error as HTTPError {
            let message =
                error.status == .notFound
                ? "no route \(request.method) \(request.uri.path)"
                : (error.body ?? error.status.reasonPhrase)
            throw OpenAIError(error.status, message)
        } catch let error as any HTTPResponseError {
            throw OpenAIError(error.status, "\(error)")
        } catch {
            throw OpenAIError(.internalServerError, "internal error: \(error)")
        }
    }
}

/// `--api-key`: `/v1` routes need `Authorization: Bearer <key>` (vLLM leaves `/health`, `/metrics`,
/// `/version` and `/tokenize` open).
struct APIKeyMiddleware<Context: RequestContext>: RouterMiddleware {
    let expected: String

    init(key: String) { expected = "Bearer \(key)" }

    func handle(
        _ request: Request,
        context: Context,
        next: (Request, Context) async throws -> Response
    )
        async throws -> Response
    {
        if request.uri.path.hasPrefix("/v1"), request.headers[.authorization] != expected {
            throw OpenAIError(.unauthorized, "invalid or missing API key", code: "invalid_api_key")
        }
        return try await next(request, context)
    }
}
