import SwerveCore

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

    /// Log-softmax of `logits` at `token`, and the `top` most likely tokens (`RowSampling`'s, as a backend
    /// reports them).
    public init(logits: UnsafeBufferPointer<Float>, token: Int32, top count: Int) {
        let logTotal = RowSampling.logSumExp(logits)
        self.token = token
        logprob = logits[Int(token)] - logTotal
        var best = [SampledToken](repeating: SampledToken(token: 0, logprob: 0), count: count)
        best.withUnsafeMutableBufferPointer { RowSampling.best(count, of: logits, into: $0) }
        top = best.map { Candidate(token: $0.token, logprob: $0.logprob - logTotal) }
    }

    /// What a backend chose (`Backend.sample`): the token's log-probability and the `count` best of `top`.
    init(_ chosen: SampledToken, top: UnsafeBufferPointer<SampledToken>, count: Int) {
        token = chosen.token
        logprob = chosen.logprob
        self.top = (0..<count).map { Candidate(token: top[$0].token, logprob: top[$0].logprob) }
    }
}
