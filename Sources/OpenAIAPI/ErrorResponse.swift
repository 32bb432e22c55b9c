/// OpenAI's error body, `{"error": {"message", "type", "param", "code"}}`, which its clients turn into typed
/// exceptions (`BadRequestError`, `NotFoundError`, ...) by status.
public struct ErrorResponse: Codable, Sendable, Equatable {
    public var error: Body

    public init(message: String, type: String, param: String? = nil, code: String? = nil) {
        error = Body(message: message, type: type, param: Nullable(param), code: Nullable(code))
    }

    /// What went wrong, which kind of error, which request field, and a machine-readable code.
    public struct Body: Codable, Sendable, Equatable {
        public var message: String
        public var type: String
        public var param: Nullable<String>
        public var code: Nullable<String>
    }
}
