#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A chosen token's log-probability and the most likely tokens at that step, from the model's raw logits
/// (before penalties, bias and temperature), as vLLM reports them by default.
public struct TokenLogprobs: Sendable, Equatable {
    public struct Candidate: Sendable, Equatable {
        public var token: Int32
        public var logprob: Float
    }

    public var token: Int32
    public var logprob: Float
    /// The `top` most likely tokens, most likely first.
    public var top: [Candidate]

    /// log Σ exp(logits): the log-softmax's normalizer.
    static func logSumExp(_ logits: UnsafeBufferPointer<Float>) -> Float {
        let maximum = logits[Int(Sampler.argmax(logits))]
        var total: Float = 0
        for x in logits { total += expf(x - maximum) }
        return maximum + logf(total)
    }

    /// Log-softmax of `logits` at `token`, and the `top` most likely tokens.
    public init(logits: UnsafeBufferPointer<Float>, token: Int32, top count: Int) {
        let logTotal = Self.logSumExp(logits)
        self.token = token
        logprob = logits[Int(token)] - logTotal
        // Keep the best `count` in a small sorted array: most logits fail the first comparison.
        var best: [Candidate] = []
        best.reserveCapacity(count + 1)
        if count > 0 {
            for (i, x) in logits.enumerated() where best.count < count || x > best[best.count - 1].logprob {
                let index = best.firstIndex { x > $0.logprob } ?? best.count
                best.insert(Candidate(token: Int32(i), logprob: x), at: index)
                if best.count > count { best.removeLast() }
            }
        }
        top = best.map { Candidate(token: $0.token, logprob: $0.logprob - logTotal) }
    }
}
