import CZeroMQ
import Foundation
import KVEvents
import SwerveCore
import Testing

/// The publisher against libzmq sockets of the test's own (SUB and DEALER, as a router connects them).
/// Needs libzmq5 (`.ci/run` installs it).
@Suite(.serialized) struct ZMQEventPublisherTests {
    /// A subscriber-side socket whose receive gives up after `timeout` milliseconds.
    final class Peer {
        let context: UnsafeMutableRawPointer
        let socket: UnsafeMutableRawPointer

        init(_ type: Int32, _ endpoint: String, subscribe topic: String? = nil, timeout: Int32 = 5000) throws {
            var message = [CChar](repeating: 0, count: 256)
            try #require(swerve_zmq_load(&message, message.count) == 0, "libzmq5 is needed for these tests")
            context = swerve_zmq_ctx_new()!
            socket = swerve_zmq_socket(context, type)!
            _ = swerve_zmq_setsockopt_int(socket, SWERVE_ZMQ_RCVTIMEO, timeout)
            _ = swerve_zmq_setsockopt_int(socket, SWERVE_ZMQ_LINGER, 0)
            if let topic { _ = swerve_zmq_setsockopt_bytes(socket, SWERVE_ZMQ_SUBSCRIBE, topic, topic.utf8.count) }
            #expect(swerve_zmq_connect(socket, endpoint) == 0)
        }

        deinit {
            _ = swerve_zmq_close(socket)
            _ = swerve_zmq_ctx_term(context)
        }

        func send(_ frames: [[UInt8]]) {
            for (i, frame) in frames.enumerated() {
                _ = frame.withUnsafeBytes {
                    swerve_zmq_send(socket, $0.baseAddress, $0.count, i < frames.count - 1 ? SWERVE_ZMQ_SNDMORE : 0)
                }
            }
        }

        /// One message's frames, or nil after the timeout.
        func receive() -> [[UInt8]]? {
            var frames: [[UInt8]] = []
            var buffer = [UInt8](repeating: 0, count: 1 << 16)
            repeat {
                let length = buffer.withUnsafeMutableBytes { swerve_zmq_recv(socket, $0.baseAddress, $0.count, 0) }
                guard length >= 0 else { return nil }
                frames.append(Array(buffer[..<Int(length)]))
                var more: Int32 = 0
                _ = swerve_zmq_getsockopt_int(socket, SWERVE_ZMQ_RCVMORE, &more)
                if more == 0 { return frames }
            } while true
        }
    }

    static func endpoint(_ name: String) -> String { "ipc:///tmp/swerve-kv-\(name)-\(UUID().uuidString.prefix(8))" }

    static func number(_ bytes: [UInt8]) -> Int64 { bytes.reduce(Int64(0)) { $0 << 8 | Int64($1) } }

    static func config(_ endpoint: String, replay: String? = nil) throws -> KVEventsConfig {
        var config = try KVEventsConfig(json: #"{"enable_kv_cache_events":true,"topic":"kv"}"#)
        config.endpoint = endpoint
        config.replayEndpoint = replay
        config.bufferSteps = 2
        return config
    }

    let batches: [[KVCacheEvent]] = [
        [.blockStored(hashes: [1, 2], parent: nil, tokens: [5, 6, 7, 8], blockSize: 2)],
        [.blockRemoved(hashes: [2])],
        [.allBlocksCleared],
    ]

    /// A batch's bytes after `[ts,` (the array header and the 9-byte float).
    static func body(_ payload: [UInt8]) -> [UInt8] { Array(payload.dropFirst(10)) }

    @Test func publishesNumberedBatchesAndReplaysTheKeptOnes() throws {
        let (events, replayEndpoint) = (Self.endpoint("pub"), Self.endpoint("replay"))
        let publisher = try ZMQEventPublisher(Self.config(events, replay: replayEndpoint))
        defer { publisher.shutdown() }
        let subscriber = try Peer(SWERVE_ZMQ_SUB, events, subscribe: "kv", timeout: 100)
        // A subscription reaches the publisher asynchronously: publish until a batch arrives.
        var subscribed = false
        for _ in 0..<100 where !subscribed {
            publisher.publish(batches[0])
            subscribed = subscriber.receive() != nil
        }
        #expect(subscribed)
        for batch in batches { publisher.publish(batch) }
        let bodies = batches.map { Self.body(KVEventEncoding.map.batch($0, timestamp: 0)) }
        var last: [(number: Int64, body: [UInt8])] = []
        while last.last?.body != bodies[2], let frames = subscriber.receive() {
            #expect(frames.count == 3 && frames[0] == Array("kv".utf8) && frames[1].count == 8)
            last = Array((last + [(Self.number(frames[1]), Self.body(frames[2]))]).suffix(3))
        }
        #expect(last.map(\.body) == bodies)
        let seen = last.map(\.number)
        #expect(seen.count == 3 && seen == Array(seen[0]..<(seen[0] + 3)))

        // Replay from the first of them: only the last two are kept (buffer_steps 2), then -1.
        let dealer = try Peer(SWERVE_ZMQ_DEALER, replayEndpoint)
        dealer.send([[], (0..<8).map { UInt8(truncatingIfNeeded: seen[0] >> (56 - 8 * Int64($0))) }])
        var replayed: [Int64] = []
        while let frames = dealer.receive() {
            #expect(frames.count == 4 && frames[0].isEmpty)
            let number = Self.number(frames[2])
            if number == -1 { break }
            #expect(frames[1] == Array("kv".utf8))
            replayed.append(number)
        }
        #expect(replayed == [seen[1], seen[2]])
        #expect(publisher.droppedBatches == 0)
    }

    @Test func anEndpointThatCannotBeBoundIsRefusedNamingTheField() throws {
        // A TCP port this test holds (the first free one from a random start).
        var held: ZMQEventPublisher?
        var port = Int.random(in: 40_000..<60_000)
        while held == nil && port < 65_000 {
            held = try? ZMQEventPublisher(Self.config("tcp://*:\(port)"))
            if held == nil { port += 1 }
        }
        let first = try #require(held)
        defer { first.shutdown() }
        #expect {
            try ZMQEventPublisher(Self.config("tcp://*:\(port)"))
        } throws: { "\($0)".contains("field 'endpoint'") && "\($0)".contains("cannot bind") }
        #expect {
            try ZMQEventPublisher(Self.config(Self.endpoint("ok"), replay: "tcp://*:\(port)"))
        } throws: { "\($0)".contains("field 'replay_endpoint'") }
        #expect {
            try ZMQEventPublisher(Self.config("carrier-pigeon://roof"))
        } throws: { "\($0)".contains("field 'endpoint'") && "\($0)".contains("cannot connect") }
    }

    /// A full queue drops and counts; it never blocks the caller (the engine's thread).
    @Test func aFullQueueDropsAndCounts() throws {
        var config = try Self.config(Self.endpoint("full"))
        config.maxQueueSize = 1
        let publisher = try ZMQEventPublisher(config)
        let start = Date()
        for _ in 0..<10_000 { publisher.publish(batches[0]) }
        #expect(Date().timeIntervalSince(start) < 5)
        publisher.shutdown()
        #expect(publisher.droppedBatches > 0)
        #expect(publisher.droppedBatches + publisher.publishedBatches == 10_000)
    }
}
