import Foundation
import Glibc
import Synchronization

/// A TCP connection to a test server that sends exactly the bytes a test gives it (no HTTP client would send
/// a malformed request, a TLS hello on the plain port, or a header a byte per second). Its blocking calls run
/// on a thread of their own, never the cooperative pool.
final class RawConnection: @unchecked Sendable {
    let socket: Int32
    /// Set once `hangUp(after:within:)` has closed the socket, so `deinit` does not close it twice.
    private let closed = Mutex(false)

    init(port: Int) throws {
        socket = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(socket, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard socket >= 0, connected == 0 else {
            close(socket)
            throw POSIXError(.ECONNREFUSED)
        }
    }

    deinit { if !closed.withLock({ $0 }) { close(socket) } }

    /// Writes `bytes` (false when the server has closed the connection).
    @discardableResult
    func send(_ bytes: [UInt8]) async -> Bool {
        await Self.blocking {
            bytes.withUnsafeBytes { Glibc.send(self.socket, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
                == bytes.count
        }
    }

    func send(_ text: String) async -> Bool { await send(Array(text.utf8)) }

    /// Reads until the server closes the connection or `seconds` pass; returns what arrived and whether the
    /// connection was closed.
    func receiveUntilClosed(within seconds: Double) async -> (text: String, closed: Bool) {
        await Self.blocking {
            var bytes: [UInt8] = []
            let deadline = Date().addingTimeInterval(seconds)
            var buffer = [UInt8](repeating: 0, count: 65536)
            while Date() < deadline {
                var poller = pollfd(fd: self.socket, events: Int16(POLLIN), revents: 0)
                let wait = Int32(max(1, deadline.timeIntervalSinceNow * 1000))
                guard poll(&poller, 1, wait) > 0 else { continue }
                let count = recv(self.socket, &buffer, buffer.count, 0)
                if count <= 0 { return (String(decoding: bytes, as: UTF8.self), true) }
                bytes += buffer[..<count]
            }
            return (String(decoding: bytes, as: UTF8.self), false)
        }
    }

    /// Reads until what arrived contains `marker` (or `seconds` pass), then closes the socket on the reading
    /// thread itself: a client that goes away mid-stream at once, however long the awaiting task then waits
    /// for a cooperative thread on a loaded machine. Returns what arrived.
    func hangUp(after marker: String, within seconds: Double) async -> String {
        await Self.blocking {
            var bytes: [UInt8] = []
            let deadline = Date().addingTimeInterval(seconds)
            var buffer = [UInt8](repeating: 0, count: 65536)
            while Date() < deadline, !String(decoding: bytes, as: UTF8.self).contains(marker) {
                var poller = pollfd(fd: self.socket, events: Int16(POLLIN), revents: 0)
                guard poll(&poller, 1, 100) > 0 else { continue }
                let count = recv(self.socket, &buffer, buffer.count, 0)
                if count <= 0 { break }
                bytes += buffer[..<count]
            }
            self.closed.withLock {
                close(self.socket)
                $0 = true
            }
            return String(decoding: bytes, as: UTF8.self)
        }
    }

    /// Reads one response: its head and a `Content-Length` body (or until the server closes).
    func receiveResponse(within seconds: Double = 30) async -> RawResponse? {
        await Self.blocking {
            var bytes: [UInt8] = []
            let deadline = Date().addingTimeInterval(seconds)
            var buffer = [UInt8](repeating: 0, count: 65536)
            while Date() < deadline {
                if let response = RawResponse(bytes), response.complete { return response }
                var poller = pollfd(fd: self.socket, events: Int16(POLLIN), revents: 0)
                guard poll(&poller, 1, 100) > 0 else { continue }
                let count = recv(self.socket, &buffer, buffer.count, 0)
                if count <= 0 { return RawResponse(bytes) }
                bytes += buffer[..<count]
            }
            return nil
        }
    }

    static func blocking<T: Sendable>(_ work: @escaping @Sendable () -> T) async -> T {
        await withCheckedContinuation { continuation in
            Thread { continuation.resume(returning: work()) }.start()
        }
    }
}

/// One HTTP/1.1 response as bytes on the wire: status, headers (names lowercased), body.
struct RawResponse: Sendable {
    let status: Int
    let headers: [String: String]
    let body: String
    /// The body has all of `Content-Length`'s bytes.
    let complete: Bool

    init?(_ bytes: [UInt8]) {
        let text = String(decoding: bytes, as: UTF8.self)
        guard let end = text.range(of: "\r\n\r\n") else { return nil }
        let lines = text[..<end.lowerBound].components(separatedBy: "\r\n")
        let statusLine = lines[0].split(separator: " ")
        guard statusLine.count >= 2, let status = Int(statusLine[1]) else { return nil }
        var headers: [String: String] = [:]
        for line in lines.dropFirst() {
            guard let colon = line.firstIndex(of: ":") else { continue }
            headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(
                in: .whitespaces
            )
        }
        self.status = status
        self.headers = headers
        let body = String(text[end.upperBound...])
        self.body = body
        complete = headers["content-length"].flatMap(Int.init).map { body.utf8.count >= $0 } ?? false
    }
}
