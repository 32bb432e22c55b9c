import Foundation
import KVEvents
import TestSupport
import Testing

/// vLLM's KV-cache events from a live server on the real SmolLM2, checked by subscribers written apart from
/// Swerve's code: `scripts/kv-events-subscriber.py` (pyzmq + msgpack) and vllm-router itself
/// (`scripts/scale-out --affinity`).
@Suite(.tags(.realModel), .needsRealModels, .serialized) struct KVEventsServerTests {
    static func prompt(tenant: Int, turn: Int) -> String {
        let system = (0..<60).map { "tenant \(tenant) rule \($0) says hello" }.joined(separator: ". ")
        return
            "<|im_start|>system\n\(system)<|im_end|>\n<|im_start|>user\nTurn \(turn)<|im_end|>\n<|im_start|>assistant\n"
    }

    /// A late subscriber replays what it missed, then follows the stream through evictions (a pool of 3,000
    /// tokens, 13 tenants of ~400) and a prefix-cache reset; at the end its set of cached blocks is exactly
    /// the server's, and every stored block's hash is recomputed from its parent and tokens by the scheme the
    /// README documents.
    @Test func anIndependentSubscriberReproducesTheCachedBlockSet() async throws {
        let (setup, setupOutput) = try await Subprocess.run(
            "/bin/bash",
            [Subprocess.root.appendingPathComponent("scripts/python-env").path]
        )
        try #require(setup == 0, "scripts/python-env failed: \(setupOutput)")
        let name = "/tmp/swerve-kv-server-\(UUID().uuidString.prefix(8))"
        var config = KVEventsConfig()
        config.enableKVCacheEvents = true
        config.endpoint = "ipc://\(name)-pub"
        config.replayEndpoint = "ipc://\(name)-replay"
        config.topic = "kv-events"
        let server = try await TestServer.start(
            load: TestServer.smollm2(kvCacheMemory: 3000 * 23_040, kvEvents: config)
        )
        defer { Task { await server.stop() } }
        func complete(_ tenant: Int, _ turn: Int) async throws {
            let body = #"{"prompt": \#(JSONEncoderString(Self.prompt(tenant: tenant, turn: turn))), "max_tokens": 4}"#
            let (status, text) = try await server.send(.POST, "/v1/completions", body: body)
            #expect(status == 200, "\(text)")
        }
        for tenant in 0..<3 { try await complete(tenant, 0) }

        let (stop, ready) = ("\(name)-stop", "\(name)-ready")
        let subscriber = Process()
        subscriber.executableURL = Subprocess.root.appendingPathComponent(".venv/bin/python")
        subscriber.arguments = [
            "scripts/kv-events-subscriber.py", "--endpoint", config.endpoint, "--replay", config.replayEndpoint!,
            "--topic", "kv-events", "--server", server.base, "--replay-from", "0", "--stop-file", stop,
            "--ready-file", ready, "--check-hashes",
        ]
        subscriber.currentDirectoryURL = Subprocess.root
        let pipe = Pipe()
        subscriber.standardOutput = pipe
        subscriber.standardError = pipe
        try subscriber.run()
        for _ in 0..<300 where !FileManager.default.fileExists(atPath: ready) {
            try await Task.sleep(for: .milliseconds(50))
        }
        try #require(FileManager.default.fileExists(atPath: ready), "the subscriber did not start")

        for tenant in 3..<13 { try await complete(tenant, 0) }
        for tenant in 10..<13 { try await complete(tenant, 1) }
        #expect(try await server.send(.POST, "/reset_prefix_cache").status == 200)
        for tenant in 0..<2 { try await complete(tenant, 2) }
        try await Task.sleep(for: .milliseconds(300))
        FileManager.default.createFile(atPath: stop, contents: nil)
        // Waited for off the cooperative pool: the subscriber asks this process's server for its blocks.
        let (status, output) = await Subprocess.finish(subscriber, output: pipe)
        for file in [stop, ready] { try? FileManager.default.removeItem(atPath: file) }
        #expect(status == 0, "\(output)")
        let summary = try TestServer.json(String(output.split(separator: "\n").last ?? ""))
        let events = summary["events"] as? [String: Int] ?? [:]
        #expect(summary["sets_equal"] as? Bool == true, "\(output)")
        #expect((summary["replayed_batches"] as? Int ?? 0) > 0, "the first requests' batches come from the replay")
        #expect((summary["removed_blocks"] as? Int ?? 0) > 0, "the small pool evicts")
        #expect(events["AllBlocksCleared"] == 1 && (summary["cached_blocks"] as? Int ?? 0) > 0, "\(output)")
        #expect((summary["gaps"] as? Int) == 0, "\(output)")
        #expect(summary["hashes_checked"] as? Int == summary["stored_blocks"] as? Int, "every hash recomputed")
    }

    /// vllm-router's kv_aware policy, reading the replicas' events, sends each tenant's second request to
    /// the replica holding its blocks (`scripts/scale-out --affinity`: 2 replicas, 4 tenants).
    @Test func vllmRouterSendsATenantToTheReplicaHoldingItsBlocks() async throws {
        let swerve = try #require(Subprocess.swerve, "build swerve first")
        let (status, output) = try await Subprocess.run(
            "/bin/bash",
            [
                Subprocess.root.appendingPathComponent("scripts/scale-out").path, "--affinity", "--tenants", "4",
                "--system-tokens", "300", "--swerve", swerve,
            ]
        )
        #expect(status == 0, "\(output)")
        #expect(output.contains(#""affinity""#), "\(output)")
    }
}

/// A JSON string literal for `text`.
private func JSONEncoderString(_ text: String) -> String {
    (try? JSONEncoder().encode(text)).map { String(decoding: $0, as: UTF8.self) } ?? #""""#
}
