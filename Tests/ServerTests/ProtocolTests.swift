import Foundation
import NIOCore
import Testing

@testable import Server

/// The server's HTTP layer as a hostile or careless client meets it, over real sockets (`RawConnection`):
/// the key on every spelling of a path, `HEAD`, 405, the parser's errors in OpenAI's shape with their status,
/// slow clients closed by the header, body and keep-alive timeouts, HTTP/1.0's `Connection: close`, and the
/// connection cap that still lets `/health` through.
@Suite struct ProtocolTests {
    /// Small sizes and connection cap; timers that outlast any test, so that a close can only be the
    /// behaviour under test (in CI the suite shares two cores with model tests, and timers run late).
    static let limits = ConnectionLimits(
        headerTimeout: .seconds(300),
        bodyTimeout: .seconds(300),
        keepAliveTimeout: .seconds(300),
        maxHeaderBytes: 8 << 10,
        maxHeaderCount: 32,
        maxRequestLineBytes: 4 << 10,
        maxConnections: 4
    )

    static func server(apiKey: String? = nil, limits: ConnectionLimits = limits) async throws -> TestServer {
        var configuration = ServerConfiguration(apiKey: apiKey, limits: limits)
        configuration.apiKey = apiKey
        return try await TestServer.start(configuration, load: TestServer.synthetic())
    }

    /// Sends `request` on a new connection and reads one response.
    static func exchange(_ server: TestServer, _ request: String) async throws -> RawResponse {
        let connection = try RawConnection(port: server.running.port)
        await connection.send(request)
        return try #require(await connection.receiveResponse(), "no response to \(request.prefix(60))")
    }

    /// The body is OpenAI's error object; returns its message.
    @discardableResult
    static func openAIError(
        _ response: RawResponse,
        _ status: Int,
        sourceLocation: SourceLocation = #_sourceLocation
    )
        throws -> String
    {
        #expect(response.status == status, "\(response.status) \(response.body)", sourceLocation: sourceLocation)
        let object = try TestServer.json(response.body)
        let error = try #require(object["error"] as? [String: Any], "\(response.body)", sourceLocation: sourceLocation)
        #expect(error.keys.sorted() == ["code", "message", "param", "type"], sourceLocation: sourceLocation)
        return error["message"] as? String ?? ""
    }

    @Test func theKeyIsNeededOnEverySpellingOfAPath() async throws {
        let server = try await Self.server(apiKey: "sk-swerve")
        defer { Task { await server.stop() } }
        let body = #"{"model": "tiny", "messages": [{"role": "user", "content": "a"}], "max_tokens": 1}"#
        for target in [
            "//v1/models", "///v1/models", "/v1//models", "/v1/models?x=/health", "/tokenize", "/detokenize",
        ] {
            let response = try await Self.exchange(server, "GET \(target) HTTP/1.1\r\nHost: x\r\n\r\n")
            #expect(response.status == 401, "\(target): \(response.status)")
        }
        for target in ["//v1/chat/completions", "///v1/chat/completions", "/v1/chat//completions"] {
            let response = try await Self.exchange(
                server,
                "POST \(target) HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                    + "Content-Length: \(body.utf8.count)\r\n\r\n\(body)"
            )
            try Self.openAIError(response, 401)
        }
        // A longer key that starts with the right one, and the right one: only the second passes.
        let wrong = try await Self.exchange(
            server,
            "GET /v1/models HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer sk-swerve\(String(repeating: "0", count: 256))\r\n\r\n"
        )
        #expect(wrong.status == 401)
        let right = try await Self.exchange(
            server,
            "GET //v1/models HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer sk-swerve\r\n\r\n"
        )
        #expect(right.status == 200)
        for target in ["/health", "//health", "/ping", "/version", "/metrics"] {
            let response = try await Self.exchange(server, "GET \(target) HTTP/1.1\r\nHost: x\r\n\r\n")
            #expect(response.status == 200, "\(target) is public: \(response.status)")
        }
    }

    @Test func modelsListsNoAbsolutePath() async throws {
        let server = try await TestServer.start(load: TestServer.synthetic(root: "/srv/private/models/tiny.gguf"))
        defer { Task { await server.stop() } }
        let (status, body) = try await server.send(.GET, "/v1/models")
        #expect(status == 200 && !body.contains("/srv/private"), "\(body)")
        let model = try #require((try TestServer.json(body)["data"] as? [[String: Any]])?.first)
        #expect(model["root"] as? String == "tiny.gguf")
    }

    @Test func theKeyComparisonLooksAtEveryByte() {
        let key = Array("Bearer sk".utf8)
        #expect(APIKeyMiddleware<ServerRequestContext>.constantTimeEquals(key, key))
        for given in ["Bearer sj", "Bearer s", "Bearer skk", "", "Bearer sk" + String(repeating: "\0", count: 256)] {
            #expect(
                !APIKeyMiddleware<ServerRequestContext>.constantTimeEquals(Array(given.utf8), key),
                "\(given.count)"
            )
        }
    }

    @Test func headAnswersWhereGetDoesAndAWrongMethodIs405() async throws {
        let server = try await Self.server()
        defer { Task { await server.stop() } }
        for target in ["/health", "/v1/models", "/version"] {
            let connection = try RawConnection(port: server.running.port)
            await connection.send("HEAD \(target) HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            let (text, closed) = await connection.receiveUntilClosed(within: 120)
            let response = try #require(RawResponse(Array(text.utf8)), "\(target): \(text)")
            #expect(response.status == 200 && closed, "\(target): \(text)")
            #expect(response.body.isEmpty, "HEAD \(target) has no body: \(response.body.prefix(80))")
        }
        let response = try await Self.exchange(server, "GET /v1/chat/completions HTTP/1.1\r\nHost: x\r\n\r\n")
        let message = try Self.openAIError(response, 405)
        #expect(response.headers["allow"] == "POST", "\(response.headers)")
        #expect(message.contains("/v1/chat/completions"))
        let delete = try await Self.exchange(server, "DELETE /health HTTP/1.1\r\nHost: x\r\n\r\n")
        try Self.openAIError(delete, 405)
        #expect(delete.headers["allow"] == "GET, HEAD")
    }

    @Test func theParsersErrorsAreOpenAIErrorsWithTheirStatus() async throws {
        let server = try await Self.server()
        defer { Task { await server.stop() } }
        let chunked = try await Self.exchange(
            server,
            "POST /v1/completions HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nZZ\r\nabc\r\n0\r\n\r\n"
        )
        try Self.openAIError(chunked, 400)
        let headers = try await Self.exchange(
            server,
            "GET /health HTTP/1.1\r\nHost: x\r\nX-Big: \(String(repeating: "a", count: 10_000))\r\n\r\n"
        )
        try Self.openAIError(headers, 431)
        let many = (0..<40).map { "X-\($0): 1\r\n" }.joined()
        try Self.openAIError(try await Self.exchange(server, "GET /health HTTP/1.1\r\nHost: x\r\n\(many)\r\n"), 431)
        let line = try await Self.exchange(
            server,
            "GET /\(String(repeating: "a", count: 5000)) HTTP/1.1\r\nHost: x\r\n\r\n"
        )
        try Self.openAIError(line, 414)
        try Self.openAIError(try await Self.exchange(server, "NOT AN HTTP REQUEST\r\n\r\n"), 400)
        // The first bytes of a TLS ClientHello, sent to the plain-HTTP port.
        let hello = try RawConnection(port: server.running.port)
        await hello.send(
            [0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xFC, 0x03, 0x03] + Array(repeating: 0x42, count: 64)
        )
        try Self.openAIError(try #require(await hello.receiveResponse()), 400)
        // The server is still serving.
        #expect(try await Self.exchange(server, "GET /health HTTP/1.1\r\nHost: x\r\n\r\n").status == 200)
    }

    /// The timers under test: 1 s for headers and body, 2 s idle.
    static var hasty: ConnectionLimits {
        var limits = Self.limits
        limits.headerTimeout = .seconds(1)
        limits.bodyTimeout = .seconds(1)
        limits.keepAliveTimeout = .seconds(2)
        return limits
    }

    @Test func slowAndIdleClientsAreClosedByTheTimeouts() async throws {
        let server = try await Self.server(limits: Self.hasty)
        defer { Task { await server.stop() } }
        // Slowloris: a header byte every 200 ms never finishes the head; 408 after the 1 s header timeout.
        let slow = try RawConnection(port: server.running.port)
        let started = ContinuousClock.now
        await slow.send("GET /health HTTP/1.1\r\n")
        for byte in "X-Slow: aaaaaaaaaaaaaaaaaaaaaaaa" {
            guard await slow.send(String(byte)) else { break }
            try await Task.sleep(for: .milliseconds(200))
            if ContinuousClock.now - started > .seconds(4) { break }
        }
        let (text, closed) = await slow.receiveUntilClosed(within: 50)
        // Generous: the suite runs beside model tests on two cores. The 408 itself can only come from the
        // header timer.
        #expect(closed && ContinuousClock.now - started < .seconds(60), "slowloris kept its connection")
        try Self.openAIError(try #require(RawResponse(Array(text.utf8)), "\(text)"), 408)
        // A body that stops arriving: 408 after the body timeout.
        let body = try RawConnection(port: server.running.port)
        await body.send("POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"prompt\"")
        let (bodyText, bodyClosed) = await body.receiveUntilClosed(within: 20)
        #expect(bodyClosed)
        try Self.openAIError(try #require(RawResponse(Array(bodyText.utf8)), "\(bodyText)"), 408)
        // A connection that sends nothing, or nothing after a request, is closed after the keep-alive time.
        let idle = try RawConnection(port: server.running.port)
        let idleStart = ContinuousClock.now
        #expect(await idle.receiveUntilClosed(within: 20).closed)
        #expect(ContinuousClock.now - idleStart >= .milliseconds(1500))
        let kept = try RawConnection(port: server.running.port)
        await kept.send("GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        let (keptText, keptClosed) = await kept.receiveUntilClosed(within: 20)
        #expect(RawResponse(Array(keptText.utf8))?.status == 200 && keptClosed)
    }

    @Test func http10ConnectionsCloseAfterTheirResponse() async throws {
        let server = try await Self.server()
        defer { Task { await server.stop() } }
        let connection = try RawConnection(port: server.running.port)
        await connection.send("GET /health HTTP/1.0\r\n\r\n")
        let (text, closed) = await connection.receiveUntilClosed(within: 120)
        let response = try #require(RawResponse(Array(text.utf8)), "\(text)")
        #expect(response.status == 200)
        #expect(response.headers["connection"].map { $0.lowercased() } == "close", "\(response.headers)")
        #expect(closed, "closed after the response (the keep-alive timeout is 300 s)")
    }

    @Test func pastMaxConnectionsOnlyPublicRoutesAnswer() async throws {
        let server = try await Self.server()
        defer { Task { await server.stop() } }
        var held: [RawConnection] = []
        for _ in 0..<Self.limits.maxConnections {
            let connection = try RawConnection(port: server.running.port)
            await connection.send("GET /version HTTP/1.1\r\nHost: x\r\n\r\n")
            #expect(await connection.receiveResponse()?.status == 200)
            held.append(connection)
        }
        let refused = try await Self.exchange(server, "GET /v1/models HTTP/1.1\r\nHost: x\r\n\r\n")
        try Self.openAIError(refused, 503)
        #expect(refused.headers["retry-after"] == "1")
        #expect(try await Self.exchange(server, "GET /health HTTP/1.1\r\nHost: x\r\n\r\n").status == 200)
        held.removeAll()
        // Once the held connections are closed (the server sees it shortly), routes answer again.
        var status = 0
        for _ in 0..<100 where status != 200 {
            try await Task.sleep(for: .milliseconds(100))
            status = try await Self.exchange(server, "GET /v1/models HTTP/1.1\r\nHost: x\r\n\r\n").status
        }
        #expect(status == 200)
    }
}

/// Where `swerve serve` reads its API key from: the flag, a file (kept out of `ps`), or `VLLM_API_KEY`.
@Suite struct APIKeySourceTests {
    @Test func theFlagThenTheFileThenTheEnvironment() throws {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("key-\(UUID().uuidString)")
        try "sk-file\nignored\n".write(to: file, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: file) }
        let environment = ["VLLM_API_KEY": "sk-env"]
        #expect(try ServerConfiguration.apiKey(flag: "sk-flag", file: nil, environment: environment) == "sk-flag")
        #expect(try ServerConfiguration.apiKey(flag: nil, file: file.path, environment: environment) == "sk-file")
        #expect(try ServerConfiguration.apiKey(flag: nil, file: nil, environment: environment) == "sk-env")
        #expect(try ServerConfiguration.apiKey(flag: nil, file: nil, environment: ["VLLM_API_KEY": ""]) == nil)
        #expect(throws: ServerConfiguration.InvalidFlag.self) {
            try ServerConfiguration.apiKey(flag: nil, file: "/nonexistent/key", environment: [:])
        }
        try "\n".write(to: file, atomically: true, encoding: .utf8)
        #expect(throws: ServerConfiguration.InvalidFlag.self) {
            try ServerConfiguration.apiKey(flag: nil, file: file.path, environment: [:])
        }
    }
}
