import AllocationCounter
import CPUBackend
import Engine
import SwerveCore
import Testing

/// What a batched `EngineCore.step` allocates (malloc interposed by Tests/AllocationCounter, counted on
/// this thread and the backend's workers). The forward pass inside it allocates nothing
/// (CPUBackendTests.AllocationTests); the step's tables are reused and each sequence's state is changed in
/// place, not copied on write. What is left is carried across the API, per sequence and step: the entry's
/// token array (`Scheduler.Entry.tokens`), the sampled tokens (`Scheduler.Sampled.tokens`), the output's
/// token array, and per step the batch's entries and the returned outputs (about 4.7 per sequence and step
/// in a debug build, from about 12 before). So this guards what it can: the count per step does not grow
/// with the context or the step count, and stays under 6 per sequence.
@Suite(.serialized, .enabled(if: allocation_counter_is_active() != 0, "a sanitizer owns malloc"))
struct EngineStepAllocationTests {
    /// Its own counter slot: CPUBackendTests.AllocationTests may measure at the same time.
    static let slot: Int32 = 2

    @Test(arguments: [EngineCoreTests.Model.llama, .gemma3])
    func batchedDecodeStepAllocationsStayBounded(model: EngineCoreTests.Model) throws {
        let backend = CPUBackend(threads: 2)
        let engine = try EngineCoreTests.engine(model, backend: backend)
        let sequences = 4
        let prompts = EngineCoreTests.prompts(sequences, vocabulary: 60)
        var parameters = SamplingParameters(maxTokens: 120)
        parameters.ignoreEOS = true
        parameters.temperature = 0.8
        parameters.seed = 3
        for (i, prompt) in prompts.enumerated() {
            try engine.add(EngineRequest(id: "r\(i)", prompt: prompt, parameters: parameters))
        }
        // Prefill everything and warm every table up: after this, every step decodes all four.
        for _ in 0..<12 { _ = engine.step() }
        let steps = 20
        /// Allocations and outputs of the next `steps` steps.
        func window() -> (allocations: Int64, outputs: Int) {
            backend.onEveryThread { allocation_counter_track_thread(Self.slot) }
            let before = allocation_counter_total(Self.slot)
            var outputs = 0
            for _ in 0..<steps { outputs += engine.step().count }
            let after = allocation_counter_total(Self.slot)
            backend.onEveryThread { allocation_counter_track_thread(0) }
            return (after - before, outputs)
        }
        let early = window()
        for _ in 0..<40 { _ = engine.step() }
        let late = window()
        #expect(early.outputs == steps * sequences && late.outputs == steps * sequences)
        let bound = Int64(6 * steps * sequences)
        #expect(early.allocations <= bound, "\(model): \(early.allocations) allocations in \(steps) steps")
        #expect(
            late.allocations <= early.allocations + Int64(steps),
            "\(model): \(early.allocations) then \(late.allocations)"
        )
    }
}
