/// Why the engine refuses a configuration or a request; messages say what to change.
public enum EngineError: Error, Equatable, CustomStringConvertible {
    case invalidParameter(String)
    case emptyPrompt
    case promptTooLong(tokens: Int, maxModelLen: Int)
    case duplicateRequest(String)
    case configuration(String)
    case shutDown
    /// `--max-waiting-requests` are queued already.
    case overloaded(limit: Int)
    /// The request ran longer than its deadline (`--request-timeout`, seconds) and was stopped.
    case deadlineExceeded(seconds: Double)
    /// A constrained answer failed its constraint's own validation (a grammar bug, never the client's).
    case invalidOutput(String)

    public var description: String {
        switch self {
        case .invalidParameter(let message): message
        case .emptyPrompt: "the prompt is empty"
        case .promptTooLong(let tokens, let maxModelLen):
            "this model's maximum context length is \(maxModelLen) tokens (--max-model-len), but the prompt has "
                + "\(tokens) tokens; shorten it, or raise --max-model-len"
        case .duplicateRequest(let id): "request id '\(id)' is already running"
        case .configuration(let message): message
        case .shutDown: "the engine is shutting down"
        case .overloaded(let limit):
            "the server has \(limit) requests waiting (--max-waiting-requests); retry shortly"
        case .deadlineExceeded(let seconds):
            "the request ran past its deadline of \(Self.text(seconds)) s (--request-timeout) and was stopped; "
                + "ask for fewer tokens, or raise --request-timeout"
        case .invalidOutput(let message):
            "the answer failed structured-output validation (\(message)); this is a bug in Swerve, please report it"
        }
    }

    /// Seconds as a person writes them: `600`, `0.5`.
    static func text(_ seconds: Double) -> String {
        seconds == seconds.rounded() && abs(seconds) < 1e15 ? "\(Int(seconds))" : "\(seconds)"
    }
}
