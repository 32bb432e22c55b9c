import Crypto
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import Synchronization

/// A local stand-in for the Hugging Face hub: serves files at `/{owner}/{repo}/resolve/main/{file}` with
/// range requests and `X-Linked-Etag`, lists a repository's files at `/api/models/{owner}/{repo}`
/// (`siblings`, as the hub's API), and records the `Range` header of every file request.
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
        router.get("/api/models/:owner/:repo") { _, context -> Response in
            let prefix = context.parameters.get("owner")! + "/" + context.parameters.get("repo")! + "/"
            let names = self.files.keys.filter { $0.hasPrefix(prefix) }.map { String($0.dropFirst(prefix.count)) }
            guard !names.isEmpty else { return Response(status: .notFound) }
            let json = try JSONSerialization.data(withJSONObject: ["siblings": names.sorted().map { ["rfilename": $0] }]
            )
            return Response(status: .ok, body: .init(byteBuffer: ByteBuffer(bytes: json)))
        }
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
