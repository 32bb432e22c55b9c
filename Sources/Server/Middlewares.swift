import Engine
import HTTPTypes
import Hummingbird

/// Answers every error in OpenAI's shape: the engine's (a deadline, shutdown) as `OpenAIError(_:)` maps
/// them, Hummingbird's (unknown route 404, a known path with the wrong method 405 with `Allow`, body too
/// large 413, ...) with their status, anything unexpected as a 500 that says what failed. Outermost, so
/// nothing escapes it.
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
        } catch let error as EngineError {
            throw OpenAIError(error)
        } catch let error as HTTPError {
            guard error.status == .notFound else {
                throw OpenAIError(error.status, error.body ?? error.status.reasonPhrase)
            }
            let path = PublicRoutes.normalized(request.uri.path)
            guard let allowed = OpenAIRoutes.methods[path] else {
                throw OpenAIError(.notFound, "no route \(request.method) \(request.uri.path)")
            }
            let names = allowed.map(\.rawValue).joined(separator: ", ")
            throw OpenAIError(
                .methodNotAllowed,
                "\(request.method) is not allowed on \(path); it answers \(names)",
                headers: [.allow: names]
            )
        } catch let error as any HTTPResponseError {
            throw OpenAIError(error.status, "\(error)")
        } catch {
            throw OpenAIError(.internalServerError, "internal error: \(error)")
        }
    }
}

/// `--api-key`: every route but `PublicRoutes` needs `Authorization: Bearer <key>`, compared in constant
/// time. The check is on the path as the router matches it (empty segments dropped), so `//v1/models`
/// cannot pass unchecked as a path that merely fails to start with `/v1`.
struct APIKeyMiddleware<Context: RequestContext>: RouterMiddleware {
    let expected: [UInt8]

    init(key: String) { expected = Array("Bearer \(key)".utf8) }

    func handle(
        _ request: Request,
        context: Context,
        next: (Request, Context) async throws -> Response
    )
        async throws -> Response
    {
        if !PublicRoutes.contains(request.uri.path),
            !Self.constantTimeEquals(Array((request.headers[.authorization] ?? "").utf8), expected)
        {
            throw OpenAIError(.unauthorized, "invalid or missing API key", code: "invalid_api_key")
        }
        return try await next(request, context)
    }

    /// Whether `given` equals `expected`, in time that depends only on their lengths (no early exit at the
    /// first differing byte, which would tell an attacker how much of a guess was right).
    static func constantTimeEquals(_ given: [UInt8], _ expected: [UInt8]) -> Bool {
        var difference = UInt(bitPattern: given.count ^ expected.count)
        for index in expected.indices {
            difference |= UInt(expected[index] ^ (index < given.count ? given[index] : 0))
        }
        return difference == 0
    }
}

/// The routes anyone may call when `--api-key` is set (vLLM's open list), and the path normalization the
/// key check and the connection limit share.
enum PublicRoutes {
    static let paths: Set<String> = ["/health", "/ping", "/version", "/metrics"]

    /// `target`'s path without query or fragment and with empty segments dropped, as the router matches it.
    static func normalized(_ target: String) -> String {
        let path = target.prefix { $0 != "?" && $0 != "#" }
        return "/" + path.split(separator: "/").joined(separator: "/")
    }

    static func contains(_ target: String) -> Bool { paths.contains(normalized(target)) }
}
