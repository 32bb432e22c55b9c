import AsyncHTTPClient
import Foundation
import NIOCore
import Server
import Testing

/// `--max-waiting-requests`: past the bound a request gets a 503 with `Retry-After` in OpenAI's shape at
/// once (never queued without end), counted in `/metrics`, while `/health` keeps answering.
@Suite struct OverloadTests {
    @Test func pastTheWaitingBoundRequestsAre503sWithRetryAfter() async throws {
        let server = try await TestServer.start(load: TestServer.synthetic(maxNumSeqs: 1, maxWaitingRequests: 2))
        defer { Task { await server.stop() } }
        let body = #"{"prompt": "a b", "max_tokens": 60, "ignore_eos": true}"#
        let results = try await withThrowingTaskGroup(of: (Int, String?, String).self) { group in
            for _ in 0..<12 {
                group.addTask {
                    var request = HTTPClientRequest(url: server.base + "/v1/completions")
                    request.method = .POST
                    request.headers.add(name: "content-type", value: "application/json")
                    request.body = .bytes(ByteBuffer(string: body))
                    let response = try await HTTPClient.shared.execute(request, timeout: .seconds(120))
                    let text = String(buffer: try await response.body.collect(upTo: 1 << 20))
                    return (Int(response.status.code), response.headers.first(name: "retry-after"), text)
                }
            }
            var all: [(Int, String?, String)] = []
            for try await result in group { all.append(result) }
            return all
        }
        let refused = results.filter { $0.0 == 503 }
        #expect(results.allSatisfy { $0.0 == 200 || $0.0 == 503 }, "\(results.map { $0.0 })")
        #expect(!refused.isEmpty && results.contains { $0.0 == 200 }, "\(results.map { $0.0 })")
        for (_, retryAfter, text) in refused {
            #expect(retryAfter == "1")
            let error = try #require(try TestServer.json(text)["error"] as? [String: Any])
            #expect((error["message"] as? String)?.contains("--max-waiting-requests") == true, "\(text)")
            #expect(error["type"] as? String == "service_unavailable_error")
        }
        #expect(try await server.send(.GET, "/health").status == 200)
        let metrics = try await server.send(.GET, "/metrics").body
        let line = metrics.split(separator: "\n").first { $0.hasPrefix("swerve:num_requests_rejected_total") }
        #expect(line?.split(separator: " ").last.flatMap { Double($0) } == Double(refused.count), "\(line ?? "")")
    }
}
