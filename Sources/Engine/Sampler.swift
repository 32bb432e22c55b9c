import SwerveCore

/// Chooses tokens from logits for one sequence: logit bias and repetition, frequency and presence
/// penalties first (`adjust`), then greedy, or temperature sampling after min-p, top-k and top-p truncation
/// (`sample`), from its own seeded generator, so the same seed gives the same tokens whatever else is in
/// the batch.
///
/// Scratch for the candidates is allocated once per vocabulary size, so sampling a token allocates
/// nothing.
public struct Sampler {
    public let parameters: SamplingParameters
    var random: SplitMix64
    var candidates: [Int32] = []
    var probabilities: [Float] = []
    /// How often each token occurs in the output (for the penalties).
    var outputCounts: [Int32: Int] = [:]
    /// The prompt's distinct tokens (for the repetition penalty only).
    var promptTokens: Set<Int32> = []

    public init(_ parameters: SamplingParameters, prompt: [Int32] = []) {
        self.parameters = parameters
        random = SplitMix64(seed: parameters.seed ?? UInt64.random(in: 0...UInt64.max))
        if parameters.repetitionPenalty != 1 { promptTokens = Set(prompt) }
    }

    /// Records a token the sequence produced.
    public mutating func observe(_ token: Int32) {
        if parameters.adjustsLogits { outputCounts[token, default: 0] += 1 }
    }

    /// Applies, in place and in vLLM's order, the ban on `banned` tokens (stop tokens before `min_tokens`),
    /// the logit bias, and the repetition, frequency and presence penalties.
    public func adjust(_ logits: UnsafeMutableBufferPointer<Float>, banned: [Int32] = []) {
        for token in banned { logits[Int(token)] = -.infinity }
        guard parameters.adjustsLogits else { return }
        for (token, bias) in parameters.logitBias { logits[Int(token)] += bias }
        let r = parameters.repetitionPenalty
        if r != 1 {
            for token in promptTokens.union(outputCounts.keys) {
                let x = logits[Int(token)]
                logits[Int(token)] = x > 0 ? x / r : x * r
            }
        }
        for (token, count) in outputCounts {
            logits[Int(token)] -= parameters.frequencyPenalty * Float(count) + parameters.presencePenalty
        }
    }

    /// Whether `sample` takes the largest logit.
    public var isGreedy: Bool { RowSampling.isGreedy(temperature: parameters.temperature, topK: parameters.topK) }

    /// The row's sampling as a backend runs it (`Backend.sample`), with the next draw of this sequence's
    /// generator when it samples (peeked: `consumeDraw` takes it once the token is used).
    func rowSampling(row: Int, draw ahead: Int) -> RowSampling {
        var request = RowSampling(
            row: row,
            temperature: parameters.temperature,
            topK: parameters.topK,
            topP: parameters.topP,
            minP: parameters.minP
        )
        if !isGreedy {
            var peek = random
            for _ in 0..<ahead { _ = peek.next() }
            request.uniform = peek.nextUnitFloat()
        }
        return request
    }

    /// Takes the draw a backend-sampled row used (none for greedy), as `sample` would have.
    mutating func consumeDraw() {
        if !isGreedy { _ = random.next() }
    }

    /// The next token for these logits: `RowSampling.draw`, the backend's algorithm, with this sequence's
    /// next draw.
    public mutating func sample(_ logits: UnsafeBufferPointer<Float>) -> Int32 {
        if isGreedy { return RowSampling.argmax(logits) }
        if candidates.count != logits.count {
            candidates = Array(0..<Int32(logits.count))
            probabilities = [Float](repeating: 0, count: logits.count)
        }
        let request = rowSampling(row: 0, draw: 0)
        _ = random.next()
        return candidates.withUnsafeMutableBufferPointer { c in
            probabilities.withUnsafeMutableBufferPointer { p in request.draw(logits, candidates: c, probabilities: p) }
        }
    }

    /// Index of the largest logit (the first, on ties).
    public static func argmax(_ logits: UnsafeBufferPointer<Float>) -> Int32 { RowSampling.argmax(logits) }
}
