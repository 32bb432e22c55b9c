import CZeroMQ
import Foundation
import SwerveCore
import Synchronization

/// Publishes the engine's KV-cache events as vLLM does (`vllm.distributed.kv_events.ZmqEventPublisher`):
/// each step's events are one MessagePack `KVEventBatch`, sent on a ZMQ PUB socket as three frames
/// (topic, 8-byte big-endian sequence number from 0, payload), and kept in a ring of `buffer_steps` batches
/// that a ROUTER socket replays: a request `[identity, "", start]` (start an 8-byte big-endian sequence
/// number) is answered with `[identity, "", topic, seq, payload]` for every kept batch from `start`, then
/// `[identity, "", "", -1, ""]`.
///
/// The engine's thread only queues a batch (`publish`, a short lock); a dedicated thread owns the sockets,
/// encodes and sends. Nothing waits on a subscriber: a full queue (`max_queue_size`) or a subscriber past
/// the PUB high-water mark (`hwm`, with ZMQ_XPUB_NODROP so the send reports it) drops the batch, counted
/// in `droppedBatches`; a dropped batch keeps its sequence number and stays in the replay ring, so a
/// subscriber that sees the gap can fetch it.
public final class ZMQEventPublisher: KVEventSink, @unchecked Sendable {
    public let config: KVEventsConfig
    let condition = NSCondition()
    // Guarded by `condition`.
    var queue: [(timestamp: Double, events: [KVCacheEvent])] = []
    var stopping = false
    let finished = DispatchSemaphore(value: 0)
    let dropped = Atomic<Int>(0)
    let sent = Atomic<Int>(0)
    let context: UnsafeMutableRawPointer
    let publisher: ZMQSocket
    let replay: ZMQSocket?

    /// Opens the sockets (so a bad endpoint is refused here, at startup) and starts the publisher thread.
    public init(_ config: KVEventsConfig) throws(KVEventsError) {
        try ZMQSocket.load()
        guard let context = swerve_zmq_ctx_new() else { throw .configuration("zmq_ctx_new: \(ZMQSocket.lastError)") }
        var opened: [ZMQSocket] = []
        do {
            let publisher = try ZMQSocket(context: context, type: SWERVE_ZMQ_PUB)
            opened.append(publisher)
            publisher.set(SWERVE_ZMQ_SNDHWM, Int32(clamping: config.hwm))
            publisher.set(SWERVE_ZMQ_XPUB_NODROP, 1)
            try publisher.open(config.endpoint, field: "endpoint")
            var replay: ZMQSocket?
            if let endpoint = config.replayEndpoint {
                let socket = try ZMQSocket(context: context, type: SWERVE_ZMQ_ROUTER)
                opened.append(socket)
                try socket.open(endpoint, field: "replay_endpoint", alwaysBind: true)
                replay = socket
            }
            self.publisher = publisher
            self.replay = replay
        } catch {
            for socket in opened { socket.close() }
            _ = swerve_zmq_ctx_term(context)
            throw error
        }
        self.config = config
        self.context = context
        let thread = Thread { [self] in run() }
        thread.name = "swerve-kv-events"
        thread.start()
    }

    /// Batches sent on the PUB socket.
    public var publishedBatches: Int { sent.load(ordering: .relaxed) }
    /// Batches dropped: the queue was full or a subscriber was past the high-water mark.
    public var droppedBatches: Int { dropped.load(ordering: .relaxed) }

    public func publish(_ events: [KVCacheEvent]) {
        let timestamp = Date().timeIntervalSince1970
        let queued = condition.withLock {
            guard queue.count < config.maxQueueSize, !stopping else { return false }
            queue.append((timestamp, events))
            condition.signal()
            return true
        }
        if !queued { dropped.add(1, ordering: .relaxed) }
    }

    /// Sends what is queued, closes the sockets and stops the thread.
    public func shutdown() {
        let first = condition.withLock {
            defer {
                stopping = true
                condition.signal()
            }
            return !stopping
        }
        if first { finished.wait() }
    }

    func run() {
        var ring = ReplayRing(capacity: config.bufferSteps)
        var sequence: Int64 = 0
        let topic = Array(config.topic.utf8)
        while true {
            condition.lock()
            while queue.isEmpty && !stopping {
                // With a replay socket, wake every 10 ms to answer requests.
                if replay == nil { condition.wait() } else if !condition.wait(until: Date() + 0.01) { break }
            }
            let batches = queue
            queue.removeAll(keepingCapacity: true)
            let stop = stopping
            condition.unlock()
            for batch in batches {
                let payload = config.encoding.batch(batch.events, timestamp: batch.timestamp)
                let number = Self.bigEndian(sequence)
                if publisher.send(topic, more: true) {
                    publisher.send(number, more: true)
                    publisher.send(payload)
                    sent.add(1, ordering: .relaxed)
                } else {
                    dropped.add(1, ordering: .relaxed)
                }
                ring.append(sequence, payload)
                sequence += 1
            }
            if let replay { serve(replay, ring, topic: topic) }
            if stop { break }
        }
        publisher.close()
        replay?.close()
        _ = swerve_zmq_ctx_term(context)
        finished.signal()
    }

    /// Answers every waiting replay request; a request of another shape is ignored, as vLLM ignores it.
    func serve(_ socket: ZMQSocket, _ ring: ReplayRing, topic: [UInt8]) {
        while let frames = socket.receive() {
            guard frames.count == 3, frames[2].count == 8 else { continue }
            let start = frames[2].reduce(Int64(0)) { $0 << 8 | Int64($1) }
            let identity = frames[0]
            for (number, payload) in ring.batches(from: start) {
                socket.send(identity, more: true)
                socket.send([], more: true)
                socket.send(topic, more: true)
                socket.send(Self.bigEndian(number), more: true)
                socket.send(payload)
            }
            socket.send(identity, more: true)
            socket.send([], more: true)
            socket.send([], more: true)
            socket.send(Self.bigEndian(-1), more: true)
            socket.send([])
        }
    }

    static func bigEndian(_ value: Int64) -> [UInt8] {
        (0..<8).map { UInt8(truncatingIfNeeded: value >> (56 - 8 * Int64($0))) }
    }
}

/// The last `capacity` batches with their sequence numbers, oldest first.
struct ReplayRing {
    let capacity: Int
    var entries: [(sequence: Int64, payload: [UInt8])] = []
    var next = 0

    init(capacity: Int) { self.capacity = capacity }

    mutating func append(_ sequence: Int64, _ payload: [UInt8]) {
        if entries.count < capacity {
            entries.append((sequence, payload))
        } else {
            entries[next] = (sequence, payload)
            next = (next + 1) % capacity
        }
    }

    /// Kept batches numbered `start` or later, in order.
    func batches(from start: Int64) -> [(Int64, [UInt8])] {
        (0..<entries.count).map { entries[(next + $0) % entries.count] }.filter { $0.sequence >= start }
    }
}
