import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import Server
import Testing

/// The routes that need no engine, driven through Hummingbird's router test framework (no socket, no
/// model): 503s in OpenAI's shape while the model loads or after it failed, the API key before any route,
/// unknown routes, `/version`, and an oversized body refused before it is read whole.
@Suite struct RouteTests {
    struct NeverLoads: Error {}

    /// An application whose model is still loading (its host never runs), or has failed to.
    static func application(
        _ configuration: ServerConfiguration = ServerConfiguration(),
        failed: Bool = false
    ) async -> some ApplicationProtocol {
        let host = ModelHost(configuration: configuration) { throw NeverLoads() }
        if failed { try? await host.run() }
        return buildApplication(configuration: configuration, host: host)
    }

    static func error(_ buffer: ByteBuffer) throws -> [String: Any] {
        let object = try JSONSerialization.jsonObject(with: Data(buffer: buffer)) as? [String: Any] ?? [:]
        let error = object["error"] as? [String: Any] ?? [:]
        #expect(error.keys.sorted() == ["code", "message", "param", "type"], "OpenAI's error shape: \(object)")
        return error
    }

    @Test func whileLoadingEveryModelRouteAnswers503() async throws {
        try await Self.application().test(.router) { client in
            for (method, path) in [
                (HTTPRequest.Method.get, "/health"), (.get, "/v1/models"), (.post, "/v1/completions"),
            ] {
                try await client.execute(uri: path, method: method, body: ByteBuffer(string: #"{"prompt": "a"}"#)) {
                    #expect($0.status == .serviceUnavailable, "\(path)")
                    let error = try Self.error($0.body)
                    #expect(error["message"] as? String == "the model is still loading; retry shortly")
                }
            }
        }
    }

    @Test func aFailedLoadSaysWhy() async throws {
        try await Self.application(failed: true).test(.router) { client in
            try await client.execute(uri: "/health", method: .get) {
                #expect($0.status == .serviceUnavailable)
                let message = try Self.error($0.body)["message"] as? String ?? ""
                #expect(message.hasPrefix("the model failed to load: ") && message.contains("NeverLoads"), "\(message)")
            }
        }
    }

    @Test func theKeyIsCheckedBeforeAnyV1Route() async throws {
        var configuration = ServerConfiguration()
        configuration.apiKey = "sk-swerve"
        try await Self.application(configuration).test(.router) { client in
            try await client.execute(uri: "/v1/models", method: .get) {
                #expect($0.status == .unauthorized)
                let error = try Self.error($0.body)
                #expect(error["type"] as? String == "authentication_error")
            }
            try await client.execute(uri: "/v1/models", method: .get, headers: [.authorization: "Bearer nope"]) {
                #expect($0.status == .unauthorized)
            }
            // The right key reaches the route (which says the model is loading); /health needs no key.
            try await client.execute(uri: "/v1/models", method: .get, headers: [.authorization: "Bearer sk-swerve"]) {
                #expect($0.status == .serviceUnavailable)
            }
            try await client.execute(uri: "/health", method: .get) { #expect($0.status == .serviceUnavailable) }
        }
    }

    @Test func unknownRoutesAreOpenAI404sAndVersionNeedsNoModel() async throws {
        try await Self.application().test(.router) { client in
            try await client.execute(uri: "/v1/nowhere", method: .post, body: ByteBuffer(string: "{}")) {
                #expect($0.status == .notFound)
                let error = try Self.error($0.body)
                #expect((error["message"] as? String ?? "").contains("no route"))
            }
            try await client.execute(uri: "/version", method: .get) {
                #expect($0.status == .ok)
                let object = try JSONSerialization.jsonObject(with: Data(buffer: $0.body)) as? [String: Any]
                #expect(object?["version"] as? String == ServerConfiguration.swerveVersion)
            }
        }
    }
}
