import Engine
import Models
import SwerveCore

/// `swerve bench latency --batch-size N`: N sequences prefilled one after another, then decoded together,
/// one forward step of N rows per output token over one paged KV pool (greedy), so the cost of a step of
/// N decode rows against a step of one is one command. The engine's scheduler is left out: this times the
/// forward pass alone, as `vllm bench latency` times a batch.
public enum BatchDecode {
    /// Runs `prompts` (one sequence each) for `outputLength` tokens; prefill is all prompts' time, each
    /// decode step one entry of `decodeStepSeconds`.
    public static func run(forward: any ForwardPass, prompts: [[Int32]], outputLength: Int) -> GenerationResult {
        let blockSize = 16
        let capacity = prompts.map(\.count).max()! + outputLength
        let blocksPerSequence = (capacity + blockSize - 1) / blockSize
        let cache = forward.makeKVCache(blocks: blocksPerSequence * prompts.count, blockSize: blockSize)
        let tables = prompts.indices.map { Array(($0 * blocksPerSequence)..<(($0 + 1) * blocksPerSequence)) }
        let layout = BatchLayout(blockSize: blockSize)
        layout.reserve(rows: forward.maxBatch, sequences: prompts.count, blocks: blocksPerSequence * prompts.count)
        let vocabulary = forward.config.vocabularySize
        var logits = [Float](repeating: 0, count: vocabulary * prompts.count)
        var next = [Int32](repeating: 0, count: prompts.count)

        func argmax(_ row: Int) -> Int32 {
            logits.withUnsafeBufferPointer { l in
                var best = 0
                for i in 1..<vocabulary where l[row * vocabulary + i] > l[row * vocabulary + best] { best = i }
                return Int32(best)
            }
        }

        let start = Monotonic.seconds()
        for (s, prompt) in prompts.enumerated() {
            var first = 0
            while first < prompt.count {
                let end = min(prompt.count, first + forward.maxBatch)
                layout.reset()
                prompt.withUnsafeBufferPointer { ids in
                    layout.append(
                        UnsafeBufferPointer(rebasing: ids[first..<end]),
                        firstPosition: first,
                        blockTable: tables[s][...],
                        logits: end == prompt.count
                    )
                }
                logits.withUnsafeMutableBufferPointer { forward.forward(layout, cache: cache, logits: $0) }
                first = end
            }
            next[s] = argmax(0)
        }
        let prefill = Monotonic.seconds() - start
        var steps: [Double] = []
        steps.reserveCapacity(outputLength)
        for step in 0..<(outputLength - 1) {
            let stepStart = Monotonic.seconds()
            layout.reset()
            for s in prompts.indices {
                withUnsafePointer(to: next[s]) { token in
                    layout.append(
                        UnsafeBufferPointer(start: token, count: 1),
                        firstPosition: prompts[s].count + step,
                        blockTable: tables[s][...],
                        logits: true
                    )
                }
            }
            logits.withUnsafeMutableBufferPointer { forward.forward(layout, cache: cache, logits: $0) }
            for s in prompts.indices { next[s] = argmax(s) }
            steps.append(Monotonic.seconds() - stepStart)
        }
        return GenerationResult(
            tokenIDs: [],
            finishReason: .length,
            promptTokens: prompts.map(\.count).reduce(0, +),
            prefillSeconds: prefill,
            decodeStepSeconds: steps
        )
    }
}
