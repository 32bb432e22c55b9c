import AsyncHTTPClient
import Crypto
import Foundation
import Logging
import NIOCore
import NIOHTTP1

/// Downloads files from a Hugging Face hub (`$HF_ENDPOINT`, default https://huggingface.co) by their
/// `resolve` URLs, resuming a partial download with an HTTP range request, and lists a repository's files
/// through the hub's API.
///
/// When the hub names the file's SHA-256 (`X-Linked-Etag` for LFS files) the download is checked against it.
struct HubDownloader {
    var endpoint: String
    var token: String?
    let logger: Logger

    init(endpoint: String, token: String?, logger: Logger) {
        var base = endpoint
        while base.hasSuffix("/") { base.removeLast() }
        self.endpoint = base
        self.token = token
        self.logger = logger
    }

    func url(owner: String, repo: String, path: String) -> String {
        let encoded = path.split(separator: "/").map {
            $0.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed) ?? String($0)
        }
        return "\(endpoint)/\(owner)/\(repo)/resolve/main/\(encoded.joined(separator: "/"))"
    }

    /// Downloads `paths` of the repository into `directory`, each to its own name there; a GGUF address's file
    /// must start with "GGUF" (`requireGGUF`).
    func download(
        owner: String,
        repo: String,
        paths: [String],
        into directory: URL,
        requireGGUF: Bool,
        progress: ProgressReporter
    ) async throws {
        try await withClient { client in
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            for path in paths {
                let file = directory.appendingPathComponent((path as NSString).lastPathComponent)
                try await fetch(
                    client: client,
                    url: url(owner: owner, repo: repo, path: path),
                    to: file,
                    requireGGUF: requireGGUF,
                    progress: progress
                )
            }
        }
    }

    /// The file names of a repository, from the hub's API (`/api/models/{owner}/{repo}`: `siblings`).
    func files(owner: String, repo: String) async throws -> [String] {
        let url = "\(endpoint)/api/models/\(owner)/\(repo)"
        return try await withClient { client in
            var request = HTTPClientRequest(url: url)
            request.headers.add(name: "User-Agent", value: "swerve")
            if let token, !token.isEmpty { request.headers.add(name: "Authorization", value: "Bearer \(token)") }
            let response: HTTPClientResponse
            do {
                response = try await client.execute(request, timeout: .seconds(60))
            } catch {
                throw ModelStoreError.fetchFailed("could not reach \(url): \(error)")
            }
            try Self.check(response.status, url: url, what: "the owner and repository")
            let body = try await response.body.collect(upTo: 16 << 20)
            guard let json = try? JSONSerialization.jsonObject(with: Data(body.readableBytesView)) as? [String: Any],
                let siblings = json["siblings"] as? [[String: Any]]
            else {
                throw ModelStoreError.fetchFailed("\(url) did not answer with the repository's file list (siblings)")
            }
            return siblings.compactMap { $0["rfilename"] as? String }
        }
    }

    /// Runs `body` with a client that follows redirects, shut down afterwards whatever happens.
    private func withClient<T>(_ body: (HTTPClient) async throws -> T) async throws -> T {
        let client = HTTPClient(
            eventLoopGroupProvider: .singleton,
            configuration: .init(redirectConfiguration: .follow(max: 10, allowCycles: false))
        )
        do {
            let result = try await body(client)
            try await client.shutdown()
            return result
        } catch {
            try? await client.shutdown()
            throw error
        }
    }

    /// Throws the person's next step for a status other than 200 or 206.
    static func check(_ status: HTTPResponseStatus, url: String, what: String) throws {
        switch status {
        case .ok, .partialContent: return
        case .notFound:
            throw ModelStoreError.fetchFailed("\(url) was not found (404): check \(what)")
        case .unauthorized, .forbidden:
            throw ModelStoreError.fetchFailed(
                "\(url) needs access (\(status.code)): set HF_TOKEN to a token that may read it"
            )
        default:
            throw ModelStoreError.fetchFailed("\(url) answered \(status.code) \(status.reasonPhrase)")
        }
    }

    private func fetch(
        client: HTTPClient,
        url: String,
        to file: URL,
        requireGGUF: Bool,
        progress: ProgressReporter
    ) async throws {
        let partial = file.appendingPathExtension("partial")
        var offset =
            (try? FileManager.default.attributesOfItem(atPath: partial.path)[.size] as? NSNumber)?.intValue ?? 0
        var request = HTTPClientRequest(url: url)
        request.headers.add(name: "User-Agent", value: "swerve")
        if let token, !token.isEmpty {
            request.headers.add(name: "Authorization", value: "Bearer \(token)")
        }
        if offset > 0 { request.headers.add(name: "Range", value: "bytes=\(offset)-") }
        logger.debug("GET \(url)\(offset > 0 ? " from byte \(offset)" : "")")
        let response: HTTPClientResponse
        do {
            response = try await client.execute(request, timeout: .hours(12))
        } catch {
            throw ModelStoreError.fetchFailed("could not reach \(url): \(error)")
        }
        switch response.status {
        case .ok:
            offset = 0
        case .partialContent:
            let range = response.headers.first(name: "Content-Range") ?? ""
            guard range.hasPrefix("bytes \(offset)-") else {
                throw ModelStoreError.fetchFailed("\(url) answered range '\(range)' to a request from byte \(offset)")
            }
        case .rangeNotSatisfiable:
            // The partial file is as long as the whole (or longer): start again.
            try? FileManager.default.removeItem(at: partial)
            return try await fetch(client: client, url: url, to: file, requireGGUF: requireGGUF, progress: progress)
        default:
            try Self.check(response.status, url: url, what: "the owner, repository and file name")
        }
        if offset == 0 { FileManager.default.createFile(atPath: partial.path, contents: nil) }
        var hasher = SHA256()
        let output = try FileHandle(forUpdating: partial)
        defer { try? output.close() }
        if offset > 0 {
            // Hash what is already on disk, then append.
            while let chunk = try output.read(upToCount: 1 << 20), !chunk.isEmpty { hasher.update(data: chunk) }
        }
        try output.truncate(atOffset: UInt64(offset))
        try output.seek(toOffset: UInt64(offset))
        let total = Self.totalSize(response.headers, offset: offset)
        let expected = Self.expectedSHA256(response.headers)
        progress.begin("downloading \(file.lastPathComponent)")
        var written = offset
        for try await buffer in response.body {
            let data = Data(buffer.readableBytesView)
            try ModelStore.append(data, to: output, path: partial.path, needed: total)
            hasher.update(data: data)
            written += data.count
            progress.update(written, of: total)
        }
        try output.close()
        if let total, written != total {
            throw ModelStoreError.fetchFailed("\(url) ended after \(written) of \(total) bytes; pull again to resume")
        }
        let header = try FileHandle(forReadingFrom: partial).read(upToCount: 4) ?? Data()
        guard !requireGGUF || header == Data("GGUF".utf8) else {
            try? FileManager.default.removeItem(at: partial)
            throw ModelStoreError.notGGUF(url)
        }
        let digest = hasher.finalize().hexString
        if let expected, expected != digest {
            try? FileManager.default.removeItem(at: partial)
            throw ModelStoreError.checksumMismatch(file: file.lastPathComponent, expected: expected, actual: digest)
        }
        try ModelStore.install(partial, as: file, sha256: digest)
        progress.finish(
            "\(file.lastPathComponent): \(ProgressReporter.megabytes(written))\(expected != nil ? ", SHA-256 verified" : "")"
        )
    }

    static func totalSize(_ headers: HTTPHeaders, offset: Int) -> Int? {
        if let range = headers.first(name: "Content-Range"), let slash = range.lastIndex(of: "/") {
            return Int(range[range.index(after: slash)...])
        }
        return headers.first(name: "Content-Length").flatMap(Int.init).map { $0 + offset }
    }

    /// The SHA-256 the hub states for the file, if it states one.
    static func expectedSHA256(_ headers: HTTPHeaders) -> String? {
        for name in ["X-Linked-Etag", "ETag"] {
            guard var value = headers.first(name: name) else { continue }
            value = value.replacingOccurrences(of: "W/", with: "").trimmingCharacters(
                in: CharacterSet(charactersIn: "\"")
            )
            if value.count == 64, value.allSatisfy(\.isHexDigit) { return value.lowercased() }
        }
        return nil
    }
}
