import Foundation
import HTTPTypes
import NIOCore
import NIOHTTP1

/// One connection's `ConnectionLimits`, enforced in the channel pipeline below Hummingbird: the request line's
/// length, the time a request's head and body may take, the idle keep-alive time, the connection count, and
/// the HTTP parser's errors — each answered in OpenAI's error shape with its status, where Hummingbird would
/// answer a bare 400 or keep the connection forever. Also closes HTTP/1.0 connections after their response
/// (`Connection: close`) unless they asked for keep-alive. Two handlers share it: `ByteHandler` before the
/// HTTP decoder (it sees bytes, so it knows a request has started and how long its first line is) and
/// `PartHandler` after it (it sees heads, bodies and ends both ways). Both run on the connection's event
/// loop, so the state needs no lock. Written here because neither Hummingbird nor NIO has these limits.
final class ConnectionGuard {
    enum Phase {
        /// Between requests: the keep-alive timer runs.
        case idle
        /// A request's bytes have started: the header timer runs.
        case head
        /// The head is in, the body is arriving: the body timer runs.
        case body
        /// The request is in; the response is being produced (no timer: `--request-timeout` is the engine's).
        case responding
        /// An error was answered; the connection is closing and reads are dropped.
        case closing
    }

    let limits: ConnectionLimits
    let counter: ConnectionCounter
    private var phase = Phase.idle
    private var counted = false
    private var overCapacity = false
    private var inRequestLine = true
    private var requestLineBytes = 0
    private var responseStarted = false
    private var responded = false
    private var closeAfterResponse = false
    /// The request is a `HEAD`: its response's body is dropped (the router answered it as a `GET`).
    private var headOnly = false
    private var timer: Scheduled<Void>?
    /// Where error responses are written (through the HTTP encoder): the part handler's context.
    private var parts: ChannelHandlerContext?

    init(limits: ConnectionLimits, counter: ConnectionCounter) {
        self.limits = limits
        self.counter = counter
    }

    // MARK: Events

    func opened() {
        guard !counted else { return }
        counted = true
        let open = counter.opened()
        if open > limits.maxConnections + ConnectionLimits.reservedConnections {
            phase = .closing
            parts?.close(promise: nil)
        } else {
            overCapacity = open > limits.maxConnections
            startIdle()
        }
    }

    func closed() {
        if counted { counter.closed() }
        counted = false
        cancelTimer()
        parts = nil
    }

    /// Bytes from the socket; false drops them (the connection is closing).
    func received(_ buffer: ByteBuffer) -> Bool {
        switch phase {
        case .closing: return false
        case .idle: start(.head, limits.headerTimeout) { $0.timedOut("request headers", "--header-timeout") }
        default: break
        }
        guard inRequestLine else { return true }
        let bytes = buffer.readableBytesView
        if let newline = bytes.firstIndex(of: UInt8(ascii: "\n")) {
            requestLineBytes += newline - bytes.startIndex
            inRequestLine = false
        } else {
            requestLineBytes += bytes.count
        }
        if requestLineBytes > limits.maxRequestLineBytes {
            respond(.uriTooLong, "the request line is longer than \(limits.maxRequestLineBytes) bytes")
            return false
        }
        return true
    }

    /// A decoded request head; false refuses it (answered already).
    func headReceived(_ head: inout HTTPRequestHead) -> Bool {
        guard phase != .closing else { return false }
        responded = false
        headOnly = head.method == .HEAD
        if overCapacity, !PublicRoutes.contains(head.uri) {
            respond(
                .serviceUnavailable,
                "the server has \(limits.maxConnections) connections open (--max-connections); retry shortly",
                headers: [("retry-after", "1")]
            )
            return false
        }
        if !head.isKeepAlive {
            closeAfterResponse = true
            head.headers.replaceOrAdd(name: "connection", value: "close")
        }
        start(.body, limits.bodyTimeout) { $0.timedOut("request body", "--body-timeout") }
        return true
    }

    func requestEnded() {
        guard phase != .closing else { return }
        inRequestLine = true
        requestLineBytes = 0
        if responded {
            startIdle()
        } else {
            cancelTimer()
            phase = .responding
        }
    }

    func responseHead(_ head: inout HTTPResponseHead) {
        responseStarted = true
        if closeAfterResponse { head.headers.replaceOrAdd(name: "connection", value: "close") }
    }

    func responseEnded() {
        responseStarted = false
        responded = true
        if phase == .responding { startIdle() }
    }

    /// The HTTP parser refused the bytes: 431 for a head over its limits, 400 for anything else malformed
    /// (a bad request line, broken chunked framing, a TLS hello on the plain port).
    func parserFailed(_ error: HTTPParserError) {
        if error == .headerOverflow {
            respond(
                .requestHeaderFieldsTooLarge,
                "the request headers are larger than \(limits.maxHeaderBytes) bytes or more than "
                    + "\(limits.maxHeaderCount) fields"
            )
        } else {
            respond(.badRequest, "malformed HTTP request (\(error))")
        }
    }

    // MARK: Answers

    private func timedOut(_ what: String, _ flag: String) {
        let seconds = Double(phase == .head ? limits.headerTimeout.nanoseconds : limits.bodyTimeout.nanoseconds) / 1e9
        respond(.requestTimeout, "the \(what) did not arrive within \(seconds) s (\(flag))")
    }

    /// Answers `status` with OpenAI's error body (unless a response has started), then closes: output at
    /// once, the whole connection shortly after, so the client reads the answer rather than a reset.
    private func respond(_ status: HTTPResponseStatus, _ message: String, headers extra: [(String, String)] = []) {
        guard phase != .closing, let context = parts else { return }
        phase = .closing
        cancelTimer()
        guard !responseStarted else {
            context.close(promise: nil)
            return
        }
        let error = OpenAIError(HTTPResponse.Status(code: Int(status.code)), message)
        let body = ByteBuffer(bytes: [UInt8]((try? JSONResponse.encoder.encode(error.body)) ?? Data()))
        var headers = HTTPHeaders([
            ("content-type", "application/json"), ("content-length", "\(body.readableBytes)"), ("connection", "close"),
        ])
        headers.add(contentsOf: extra)
        context.write(
            NIOAny(HTTPServerResponsePart.head(HTTPResponseHead(version: .http1_1, status: status, headers: headers))),
            promise: nil
        )
        context.write(NIOAny(HTTPServerResponsePart.body(.byteBuffer(body))), promise: nil)
        context.writeAndFlush(NIOAny(HTTPServerResponsePart.end(nil)), promise: nil)
        context.close(mode: .output, promise: nil)
        timer = context.eventLoop.assumeIsolated().scheduleTask(in: .seconds(2)) { context.close(promise: nil) }
    }

    // MARK: Timers

    private func startIdle() {
        start(.idle, limits.keepAliveTimeout) { $0.parts?.close(promise: nil) }
    }

    private func start(_ next: Phase, _ delay: TimeAmount, _ expire: @escaping (ConnectionGuard) -> Void) {
        cancelTimer()
        phase = next
        guard let context = parts else { return }
        timer = context.eventLoop.assumeIsolated().scheduleTask(in: delay) { [weak self] in
            guard let self, self.phase == next else { return }
            expire(self)
        }
    }

    private func cancelTimer() {
        timer?.cancel()
        timer = nil
    }
}

extension ConnectionGuard {
    /// Before the HTTP decoder: counts the connection, starts the header timer on a request's first byte,
    /// measures the request line.
    final class ByteHandler: ChannelInboundHandler, RemovableChannelHandler {
        typealias InboundIn = ByteBuffer
        typealias InboundOut = ByteBuffer
        let connection: ConnectionGuard

        init(_ connection: ConnectionGuard) { self.connection = connection }

        func channelActive(context: ChannelHandlerContext) {
            connection.opened()
            context.fireChannelActive()
        }

        func channelInactive(context: ChannelHandlerContext) {
            connection.closed()
            context.fireChannelInactive()
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            if connection.received(unwrapInboundIn(data)) { context.fireChannelRead(data) }
        }
    }

    /// After the HTTP decoder, before Hummingbird's codec: sees request and response parts, and the parser's
    /// errors (answered here, so Hummingbird never sees them).
    final class PartHandler: ChannelDuplexHandler, RemovableChannelHandler {
        typealias InboundIn = HTTPServerRequestPart
        typealias InboundOut = HTTPServerRequestPart
        typealias OutboundIn = HTTPServerResponsePart
        typealias OutboundOut = HTTPServerResponsePart
        let connection: ConnectionGuard

        init(_ connection: ConnectionGuard) { self.connection = connection }

        func handlerAdded(context: ChannelHandlerContext) {
            connection.parts = context
            if context.channel.isActive { connection.opened() }
        }

        func handlerRemoved(context: ChannelHandlerContext) { connection.parts = nil }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            switch unwrapInboundIn(data) {
            case .head(var head):
                guard connection.headReceived(&head) else { return }
                context.fireChannelRead(wrapInboundOut(.head(head)))
            case .body:
                guard connection.phase != .closing else { return }
                context.fireChannelRead(data)
            case .end:
                guard connection.phase != .closing else { return }
                connection.requestEnded()
                context.fireChannelRead(data)
            }
        }

        func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
            switch unwrapOutboundIn(data) {
            case .head(var head):
                connection.responseHead(&head)
                context.write(wrapOutboundOut(.head(head)), promise: promise)
            case .body:
                guard !connection.headOnly else {
                    promise?.succeed()
                    return
                }
                context.write(data, promise: promise)
            case .end:
                context.write(data, promise: promise)
                connection.responseEnded()
            }
        }

        func errorCaught(context: ChannelHandlerContext, error: any Error) {
            guard let error = error as? HTTPParserError else { return context.fireErrorCaught(error) }
            connection.parserFailed(error)
        }
    }
}
