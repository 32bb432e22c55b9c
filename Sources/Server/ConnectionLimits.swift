import NIOCore
import Synchronization

/// What one HTTP connection may cost the server, enforced by `ConnectionGuard` below Hummingbird: how long
/// a client may take to send a request's headers and body, how long an idle keep-alive connection stays
/// open, how large a request's head may be, and how many connections are open at once. Each answer is an
/// OpenAI-shaped error with the status HTTP names for it (408, 414, 431, 503) before the connection closes,
/// so a slow, huge or flooding client costs a bounded amount and `/health` keeps answering.
public struct ConnectionLimits: Sendable, Equatable {
    /// `--header-timeout`: seconds from a request's first byte to the end of its headers (slowloris).
    public var headerTimeout: TimeAmount
    /// `--body-timeout`: seconds from the end of the headers to the end of the body.
    public var bodyTimeout: TimeAmount
    /// `--timeout-keep-alive` (uvicorn's flag, vLLM's `VLLM_HTTP_TIMEOUT_KEEP_ALIVE`): an idle connection
    /// between requests is closed after this long.
    public var keepAliveTimeout: TimeAmount
    /// `--h11-max-incomplete-event-size` (vLLM's flag): bytes of a request's head (request line and
    /// headers); more is a 431.
    public var maxHeaderBytes: Int
    /// `--h11-max-header-count` (vLLM's flag): header fields per request; more is a 431.
    public var maxHeaderCount: Int
    /// Bytes of the request line (method, target, version); more is a 414.
    public var maxRequestLineBytes: Int
    /// `--max-connections`: open connections at once. Past it a connection may still ask `/health`,
    /// `/ping`, `/version` or `/metrics`; anything else gets a 503 with `Retry-After`. A further
    /// `reservedConnections` past it are closed at once.
    public var maxConnections: Int

    /// Connections past `maxConnections` that still get an answer (503 or a public route) before those
    /// past both are closed unanswered.
    public static let reservedConnections = 64

    public init(
        headerTimeout: TimeAmount = .seconds(10),
        bodyTimeout: TimeAmount = .seconds(60),
        keepAliveTimeout: TimeAmount = .seconds(5),
        maxHeaderBytes: Int = 64 << 10,
        maxHeaderCount: Int = 256,
        maxRequestLineBytes: Int = 16 << 10,
        maxConnections: Int = 1000
    ) {
        self.headerTimeout = headerTimeout
        self.bodyTimeout = bodyTimeout
        self.keepAliveTimeout = keepAliveTimeout
        self.maxHeaderBytes = maxHeaderBytes
        self.maxHeaderCount = maxHeaderCount
        self.maxRequestLineBytes = maxRequestLineBytes
        self.maxConnections = maxConnections
    }
}

/// The number of open connections, shared by every connection's guard (any event loop).
public final class ConnectionCounter: Sendable {
    let open = Atomic<Int>(0)

    public init() {}

    public var current: Int { open.load(ordering: .relaxed) }

    /// Counts a new connection; returns how many are open with it.
    func opened() -> Int { open.add(1, ordering: .relaxed).newValue }

    func closed() { open.subtract(1, ordering: .relaxed) }
}
