import CZeroMQ

/// One libzmq socket (through the `CZeroMQ` shim), owned by one thread at a time as libzmq requires.
struct ZMQSocket {
    let handle: UnsafeMutableRawPointer

    init(context: UnsafeMutableRawPointer, type: Int32) throws(KVEventsError) {
        guard let handle = swerve_zmq_socket(context, type) else {
            throw .configuration("zmq_socket: \(ZMQSocket.lastError)")
        }
        self.handle = handle
    }

    static var lastError: String { String(cString: swerve_zmq_strerror(swerve_zmq_errno())) }

    /// Loads libzmq, or says why it cannot.
    static func load() throws(KVEventsError) {
        var message = [CChar](repeating: 0, count: 512)
        guard swerve_zmq_load(&message, message.count) == 0 else {
            throw .configuration(
                "--kv-events-config needs libzmq: \(String(decoding: message.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))"
            )
        }
    }

    func set(_ option: Int32, _ value: Int32) { _ = swerve_zmq_setsockopt_int(handle, option, value) }

    /// Binds (an address with `*`, `::` or `0.0.0.0`, `ipc://`, `inproc://`) or connects (any other, to a
    /// subscriber that binds), as vLLM's publisher does; `field` names the flag field in the error.
    func open(_ endpoint: String, field: String, alwaysBind: Bool = false) throws(KVEventsError) {
        let binds =
            alwaysBind || endpoint.contains("*") || endpoint.contains("::") || endpoint.contains("0.0.0.0")
            || endpoint.hasPrefix("ipc://")
            || endpoint.hasPrefix("inproc://")
        let result = binds ? swerve_zmq_bind(handle, endpoint) : swerve_zmq_connect(handle, endpoint)
        guard result == 0 else {
            throw .configuration(
                "--kv-events-config field '\(field)': cannot \(binds ? "bind" : "connect") \(endpoint): \(ZMQSocket.lastError)"
            )
        }
    }

    /// Sends one frame without blocking; false when it would block (past the high-water mark).
    @discardableResult
    func send(_ bytes: [UInt8], more: Bool = false) -> Bool {
        let flags = SWERVE_ZMQ_DONTWAIT | (more ? SWERVE_ZMQ_SNDMORE : 0)
        return bytes.withUnsafeBytes { swerve_zmq_send(handle, $0.baseAddress, $0.count, flags) } >= 0
    }

    /// The next message's frames without blocking (nil when none is waiting); frames are cut at 256 bytes.
    func receive() -> [[UInt8]]? {
        var frames: [[UInt8]] = []
        var buffer = [UInt8](repeating: 0, count: 256)
        while true {
            let length = buffer.withUnsafeMutableBytes {
                swerve_zmq_recv(handle, $0.baseAddress, $0.count, frames.isEmpty ? SWERVE_ZMQ_DONTWAIT : 0)
            }
            guard length >= 0 else { return nil }
            frames.append(Array(buffer[..<min(Int(length), buffer.count)]))
            var more: Int32 = 0
            _ = swerve_zmq_getsockopt_int(handle, SWERVE_ZMQ_RCVMORE, &more)
            if more == 0 { return frames }
        }
    }

    func close() {
        set(SWERVE_ZMQ_LINGER, 0)
        _ = swerve_zmq_close(handle)
    }
}
