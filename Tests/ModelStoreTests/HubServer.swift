import Crypto
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import Synchronization

/// A local stand-in for the Hugging Face hub: serves files at `/{owner}/{repo}/resolve/main/{file}` with
/// range requests and `X-Linked-Etag`, and records the `Range` header of every request.
final class HubServer: Sendable {
    let files: [String: [UInt8]]
    /// Digest to announce per path, overriding the real one (to test mismatches).
    let announced: [String: String]
    let ranges = Mutex<[String?]>([])

    init(files: [String: [UInt8]], announced: [String: String] = [:]) {
        self.files = files
        self.announced = announced
    }

    var requestCount: Int { ranges.withLock { $0.count } }

    /// Runs `body` with the base URL of a live server on a free loopback port.
    func run(_ body: @escaping @Sendable (String) async throws -> Void) async throws {
        let router = Router()
        router.get("/:owner/:repo/resolve/main/:file") { request, context -> Response in
            let path = [
                context.parameters.get("owner")!, context.parameters.get("repo")!, context.parameters.get("file")!,
            ].joined(separator: "/")
            let range = request.headers[.range]
            self.ranges.withLock { $0.append(range) }
            guard let bytes = self.files[path] else { return Response(status: .notFound) }
            let digest = self.announced[path] ?? SHA256.hash(data: bytes).map { String(format: "%02x", $0) }.joined()
            var headers: HTTPFields = [.eTag: "\"\(digest)\""]
            var start = 0
            if let range, range.hasPrefix("bytes="),
                let from = Int(range.dropFirst(6).split(separator: "-").first ?? "")
            {
                guard from < bytes.count else { return Response(status: .rangeNotSatisfiable) }
                start = from
                headers[.contentRange] = "bytes \(from)-\(bytes.count - 1)/\(bytes.count)"
            }
            headers[HTTPField.Name("X-Linked-Etag")!] = "\"\(digest)\""
            let body = ByteBuffer(bytes: bytes[start...])
            return Response(
                status: start > 0 ? .partialContent : .ok,
                headers: headers,
                body: .init(byteBuffer: body)
            )
        }
        let app = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)))
        try await app.test(.live) { client in
            try await body("http://127.0.0.1:\(client.port!)")
        }
    }
}
