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
    public var isGreedy: Bool { parameters.temperature <= 0 || parameters.topK == 1 }

    /// The next token for these logits.
    public mutating func sample(_ logits: UnsafeBufferPointer<Float>) -> Int32 {
        if isGreedy { return Self.argmax(logits) }
        if candidates.count != logits.count {
            candidates = Array(0..<Int32(logits.count))
            probabilities = [Float](repeating: 0, count: logits.count)
        }
        // Candidates by descending logit; only the top-k (or those within top-p) matter, so sort lazily:
        // a partial selection of the k best, then a full sort of just those.
        let k = parameters.topK > 0 ? min(parameters.topK, logits.count) : logits.count
        if parameters.topK <= 0 && parameters.topP >= 1 && parameters.minP <= 0 {
            return sampleAll(logits)
        }
        for i in candidates.indices { candidates[i] = Int32(i) }
        if k < logits.count {
            Self.selectTop(k, of: &candidates, by: logits)
        }
        candidates[0..<k].sort { logits[Int($0)] > logits[Int($1)] }
        let maximum = logits[Int(candidates[0])]
        var total: Float = 0
        for i in 0..<k {
            let p = expf((logits[Int(candidates[i])] - maximum) / parameters.temperature)
            probabilities[i] = p
            total += p
        }
        // Min-p: drop candidates less likely than min_p times the most likely (whose weight is 1).
        var kept = k
        if parameters.minP > 0 {
            kept = (1..<k).first { probabilities[$0] < parameters.minP } ?? k
            total = probabilities[0..<kept].reduce(0, +)
        }
        // Top-p: the smallest prefix whose probability reaches p.
        if parameters.topP < 1 {
            var cumulative: Float = 0
            for i in 0..<kept {
                cumulative += probabilities[i] / total
                if cumulative >= parameters.topP {
                    kept = i + 1
                    break
                }
            }
            total = probabilities[0..<kept].reduce(0, +)
        }
        var target = random.nextUnitFloat() * total
        for i in 0..<kept {
            target -= probabilities[i]
            if target <= 0 { return candidates[i] }
        }
        return candidates[kept - 1]
    }

    /// Temperature sampling over the whole vocabulary, without sorting: one pass for the maximum, one for the
    /// weights, one to find the drawn token.
    mutating func sampleAll(_ logits: UnsafeBufferPointer<Float>) -> Int32 {
        if probabilities.count != logits.count { probabilities = [Float](repeating: 0, count: logits.count) }
        let maximum = logits[Int(Self.argmax(logits))]
        var total: Float = 0
        for i in 0..<logits.count {
            let p = expf((logits[i] - maximum) / parameters.temperature)
            probabilities[i] = p
            total += p
        }
        var target = random.nextUnitFloat() * total
        for i in 0..<logits.count where probabilities[i] > 0 {
            target -= probabilities[i]
            if target <= 0 { return Int32(i) }
        }
        return Self.argmax(logits)
    }

    /// Index of the largest logit (the first, on ties).
    public static func argmax(_ logits: UnsafeBufferPointer<Float>) -> Int32 {
        var best = 0
        var bestValue = -Float.infinity
        for i in 0..<logits.count where logits[i] > bestValue {
            bestValue = logits[i]
            best = i
        }
        return Int32(best)
    }

    /// Moves the `k` candidates with the largest logits to the front (unordered), quickselect.
    static func selectTop(_ k: Int, of candidates: inout [Int32], by logits: UnsafeBufferPointer<Float>) {
        var lo = 0
        var hi = candidates.count - 1
        while lo < hi {
            let pivot = logits[Int(candidates[(lo + hi) / 2])]
            var i = lo
            var j = hi
            while i <= j {
                while logits[Int(candidates[i])] > pivot { i += 1 }
                while logits[Int(candidates[j])] < pivot { j -= 1 }
                if i <= j {
                    candidates.swapAt(i, j)
                    i += 1
                    j -= 1
                }
            }
            if k - 1 <= j { hi = j } else if k - 1 >= i { lo = i } else { return }
        }
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
