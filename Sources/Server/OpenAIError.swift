import Engine
import HTTPTypes
import Hummingbird
import NIOCore
import OpenAIAPI

/// Every error the server answers with: an HTTP status and OpenAI's error body, so the `openai` client
/// raises its typed exception (`BadRequestError`, `AuthenticationError`, `NotFoundError`, ...) with the
/// message. Hummingbird's own errors (unknown route, body too large) are turned into one of these by
/// `OpenAIErrorMiddleware`, so no response leaves in another shape.
public struct OpenAIError: HTTPResponseError, Equatable, CustomStringConvertible {
    public var status: HTTPResponse.Status
    public var message: String
    public var type: String
    public var param: String?
    public var code: String?
    /// Headers the answer carries besides the JSON body (`Allow` on a 405, `Retry-After` on a 503).
    public var headers: HTTPFields

    public init(
        _ status: HTTPResponse.Status,
        _ message: String,
        param: String? = nil,
        code: String? = nil,
        headers: HTTPFields = [:]
    ) {
        self.status = status
        self.message = message
        self.param = param
        self.code = code
        self.headers = headers
        type =
            switch status.code {
            case 401: "authentication_error"
            case 404: "not_found_error"
            case 429: "rate_limit_error"
            case 503: "service_unavailable_error"
            case 500...: "server_error"
            default: "invalid_request_error"
            }
    }

    public var description: String { "\(status.code): \(message)" }

    public static func badRequest(_ message: String, param: String? = nil, code: String? = nil) -> OpenAIError {
        OpenAIError(.badRequest, message, param: param, code: code)
    }

    public var body: ErrorResponse { ErrorResponse(message: message, type: type, param: param, code: code) }

    public func response(from request: Request, context: some RequestContext) throws -> Response {
        var response = try JSONResponse.encode(body)
        response.status = status
        response.headers.append(contentsOf: headers)
        return response
    }

    /// The engine's refusal or ending of a request: the client's mistake (400), the server's state (503), a
    /// deadline passed (504) or a bug (500).
    init(_ error: EngineError) {
        switch error {
        case .shutDown: self.init(.serviceUnavailable, "the server is shutting down; retry on another replica")
        case .overloaded: self.init(.serviceUnavailable, error.description, headers: [.retryAfter: "1"])
        case .invalidOutput: self.init(.internalServerError, error.description, code: "invalid_output")
        case .deadlineExceeded: self.init(.gatewayTimeout, error.description, code: "request_timeout")
        case .promptTooLong: self.init(.badRequest, error.description, code: "context_length_exceeded")
        case .invalidParameter(let message):
            // The engine's messages start with the field they are about: "top_p must be in (0, 1], got 2".
            let field = message.prefix { $0.isLetter || $0 == "_" }
            self.init(.badRequest, message, param: field.isEmpty ? nil : String(field))
        default: self.init(.badRequest, error.description)
        }
    }
}
