import Foundation

/// How the HTTP front end behaves, from `swerve serve`'s frontend flags (vLLM's names in comments).
public struct ServerConfiguration: Sendable {
    /// `--host` / `--port` (port 0 picks a free one; tests use it).
    public var host: String
    public var port: Int
    /// `--api-key` (or `--api-key-file`, or `VLLM_API_KEY`): when set, every route but `/health`, `/ping`,
    /// `/version` and `/metrics` needs `Authorization: Bearer <key>`.
    public var apiKey: String?
    /// `--enable-log-requests`: one log line per finished request.
    public var logRequests: Bool
    /// `--custom-histogram-buckets`: edges (seconds) of the latency histograms.
    public var histogramBuckets: [Double]
    /// Request bodies larger than this are refused with 413.
    public var maxRequestBodyBytes: Int
    /// Reported by `/version` and in `system_fingerprint`.
    public var version: String
    /// `--shutdown-timeout`: how long in-flight requests get after SIGTERM; those still running shortly before
    /// it are ended with an error (`ModelHost.drainSignal`). nil: no limit.
    public var shutdownTimeout: Duration?
    /// `--request-timeout`: the longest a generation request may run, from its arrival to its last token;
    /// past it the request is aborted and answered 504 (a stream: an error event and `[DONE]`). nil: no limit.
    public var requestTimeout: Duration?
    /// Timeouts and sizes per connection, and the connection cap.
    public var limits: ConnectionLimits
    /// The open connections, counted by every connection's guard.
    public let connections = ConnectionCounter()

    public init(
        host: String = "0.0.0.0",
        port: Int = 8000,
        apiKey: String? = nil,
        logRequests: Bool = false,
        histogramBuckets: [Double] = ServerConfiguration.defaultHistogramBuckets,
        maxRequestBodyBytes: Int = 16 << 20,
        version: String = ServerConfiguration.swerveVersion,
        limits: ConnectionLimits = ConnectionLimits()
    ) {
        self.limits = limits
        self.host = host
        self.port = port
        self.apiKey = apiKey
        self.logRequests = logRequests
        self.histogramBuckets = histogramBuckets
        self.maxRequestBodyBytes = maxRequestBodyBytes
        self.version = version
    }

    public static let swerveVersion = "0.5.0"

    /// Latency bucket edges in seconds. vLLM's request-latency buckets start at 0.3 s, which hides a
    /// sub-50 ms target; these start at 1 ms and are dense up to 100 ms.
    public static let defaultHistogramBuckets: [Double] = [
        0.001, 0.002, 0.005, 0.0075, 0.01, 0.015, 0.02, 0.025, 0.03, 0.04, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.5,
        0.75, 1, 2.5, 5, 10, 20, 40, 80,
    ]

    /// The API key `swerve serve` requires: `flag` (`--api-key`), else the first line of `file`
    /// (`--api-key-file`, kept out of `ps`), else `VLLM_API_KEY` in `environment`; nil when none is set.
    public static func apiKey(flag: String?, file: String?, environment: [String: String]) throws -> String? {
        if let flag { return flag }
        if let file {
            guard let text = try? String(contentsOfFile: file, encoding: .utf8) else {
                throw InvalidFlag(description: "--api-key-file: cannot read \(file)")
            }
            guard let key = text.split(whereSeparator: \.isNewline).first.map(String.init), !key.isEmpty else {
                throw InvalidFlag(description: "--api-key-file: \(file) is empty")
            }
            return key
        }
        return environment["VLLM_API_KEY"].flatMap { $0.isEmpty ? nil : $0 }
    }

    /// A flag whose value cannot be used, and why.
    public struct InvalidFlag: Error, CustomStringConvertible {
        public var description: String
    }
}
