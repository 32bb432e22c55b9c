import CPUBackend
import Engine
import Models
import TestSupport
import Testing

/// The threaded engine: requests submitted from concurrent tasks stream their outputs, ending a stream
/// early aborts its request and frees its blocks, and bad requests fail before a stream exists.
@Suite struct EngineServiceTests {
    static func collect(_ stream: Engine.Outputs) async throws -> [Int32] {
        var tokens: [Int32] = []
        for try await output in stream { tokens += output.tokenIDs }
        return tokens
    }

    @Test func concurrentStreamsMatchTheCore() async throws {
        let prompts = EngineCoreTests.prompts(6, vocabulary: 96)
        let expected = try EngineCoreTests.alone(.llama, prompts)
        let engine = Engine(core: try EngineCoreTests.engine())
        let results = try await withThrowingTaskGroup(of: (Int, [Int32]).self) { group in
            for (i, prompt) in prompts.enumerated() {
                let stream = try engine.generate(
                    EngineRequest(id: "\(i)", prompt: prompt, parameters: SamplingParameters(maxTokens: 10))
                )
                group.addTask { (i, try await Self.collect(stream)) }
            }
            var results: [Int: [Int32]] = [:]
            for try await (i, tokens) in group { results[i] = tokens }
            return results
        }
        for i in prompts.indices { #expect(results[i] == expected[i], "request \(i)") }
        #expect(engine.isIdle, "every stream has ended")

        #expect(throws: EngineError.promptTooLong(tokens: 300, maxModelLen: 256)) {
            try engine.generate(EngineRequest(id: "x", prompt: Array(repeating: 1, count: 300), parameters: .greedy))
        }
        await engine.shutdown()
        await #expect(throws: EngineError.shutDown) {
            for try await _ in try engine.generate(EngineRequest(id: "y", prompt: [1], parameters: .greedy)) {}
        }
    }

    /// `isIdle` (what graceful shutdown waits for) counts a request from the moment `generate` returns, before
    /// the engine's thread has seen it, until its stream ends: finished, aborted or past its deadline.
    @Test func isIdleCountsARequestFromItsAcceptanceToTheEndOfItsStream() async throws {
        let engine = Engine(core: try EngineCoreTests.engine())
        #expect(engine.isIdle)
        let finished = try engine.generate(
            EngineRequest(id: "a", prompt: [1, 2], parameters: SamplingParameters(maxTokens: 4))
        )
        #expect(!engine.isIdle, "accepted, not yet picked up")
        _ = try await Self.collect(finished)
        #expect(engine.isIdle)
        let long = SamplingParameters(maxTokens: 200, ignoreEOS: true)
        for try await _ in try engine.generate(EngineRequest(id: "b", prompt: [1, 2], parameters: long)) { break }
        engine.abort("b")
        for _ in 0..<1000 where !engine.isIdle { try await Task.sleep(for: .milliseconds(10)) }
        #expect(engine.isIdle, "an aborted request is no longer in flight")
        var timed = EngineRequest(id: "c", prompt: [1, 2], parameters: long)
        timed.timeout = 0
        await #expect(throws: EngineError.deadlineExceeded(seconds: 0)) {
            _ = try await Self.collect(try engine.generate(timed))
        }
        #expect(engine.isIdle)
        _ = try engine.generate(EngineRequest(id: "d", prompt: [1, 2], parameters: long))
        await engine.shutdown()
        #expect(engine.isIdle, "shutdown ends what was running")
    }

    @Test(.tags(.realModel), .needsRealModels) func endingAStreamAbortsItsRequestAndFreesItsBlocks() async throws {
        // The real model and 8,000 tokens (over a minute of decoding), so the abort arrives long before they
        // are done even when parallel tests keep this task off the CPU for a while.
        let model = try ModelFile(path: try await TestModels.smollm2())
        let core = try EngineCore(
            model: model,
            backend: CPUBackend(threads: 2),
            configuration: EngineConfiguration(maxModelLen: 8192, maxNumSeqs: 4, kvCacheMemory: 256 << 20)
        )
        let engine = Engine(core: core)
        /// Reads two outputs, then drops the stream (as a server handler does when its client goes away).
        func readTwo(_ stream: Engine.Outputs) async throws {
            var seen = 0
            for try await _ in stream {
                seen += 1
                if seen == 2 { break }
            }
        }
        try await readTwo(
            engine.generate(
                EngineRequest(
                    id: "long",
                    prompt: model.tokenizer.encode("Once upon a time").map(Int32.init),
                    parameters: SamplingParameters(maxTokens: 8000, ignoreEOS: true)
                )
            )
        )
        var stats = engine.stats
        for _ in 0..<3000 where stats.running > 0 || stats.kvCacheUsage > 0 || stats.generationTokens == 0 {
            try await Task.sleep(for: .milliseconds(10))
            stats = engine.stats
        }
        #expect(stats.running == 0 && stats.kvCacheUsage == 0)
        #expect(stats.finished.isEmpty, "aborted, not finished")
        #expect(stats.generationTokens < 8000)
        await engine.shutdown()
    }
}
