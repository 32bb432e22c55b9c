#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// How one logits row becomes one token where the logits are (`Backend.sample`): the last stage of the
/// engine's logits pipeline — the grammar's token bitmask, then greedy or temperature sampling after min-p,
/// top-k and top-p truncation — and the log-probabilities of the raw row when asked.
///
/// The randomness stays on the host: the sequence's seeded generator draws `uniform`, so a backend needs
/// no generator of its own and a seed gives the same tokens whichever side samples. The algorithm is
/// written once, here (`choose`); the engine's host `Sampler` runs the same functions, so both sides pick
/// the same token bit for bit.
public struct RowSampling: Sendable, Equatable {
    /// The logits row (of the step's logits tensor) to sample.
    public var row: Int
    /// ≤ 0: greedy.
    public var temperature: Float
    /// ≤ 0: no top-k truncation.
    public var topK: Int
    public var topP: Float
    public var minP: Float
    /// A draw in [0, 1) from the sequence's generator; unused when greedy.
    public var uniform: Float
    /// Where this row's bitmask of allowed tokens (one bit per token) starts in the call's `masks`, in
    /// words; -1: every token allowed.
    public var mask: Int
    /// The token taken when the mask leaves nothing finite.
    public var fallback: Int32
    /// Log-probabilities asked for: -1 none; otherwise the chosen token's and the `logprobs` most likely
    /// tokens', from the raw row.
    public var logprobs: Int

    public init(
        row: Int,
        temperature: Float,
        topK: Int,
        topP: Float,
        minP: Float,
        uniform: Float = 0,
        mask: Int = -1,
        fallback: Int32 = 0,
        logprobs: Int = -1
    ) {
        self.row = row
        self.temperature = temperature
        self.topK = topK
        self.topP = topP
        self.minP = minP
        self.uniform = uniform
        self.mask = mask
        self.fallback = fallback
        self.logprobs = logprobs
    }

    /// Whether the row takes its largest logit (no draw).
    public var isGreedy: Bool { Self.isGreedy(temperature: temperature, topK: topK) }

    public static func isGreedy(temperature: Float, topK: Int) -> Bool { temperature <= 0 || topK == 1 }
}

/// A chosen token and its log-probability (0 when none was asked for); also one of the most likely tokens
/// of a row.
public struct SampledToken: Sendable, Equatable {
    public var token: Int32
    public var logprob: Float

    public init(token: Int32, logprob: Float) {
        self.token = token
        self.logprob = logprob
    }
}

extension RowSampling {
    /// The whole stage for one row: the raw row's log-softmax normalizer and its `logprobs` most likely
    /// tokens into `top` when asked, the mask applied to `logits` (in place), then the token. `candidates`
    /// and `probabilities` are scratch of the row's length.
    public func choose(
        _ logits: UnsafeMutableBufferPointer<Float>,
        masks: UnsafeBufferPointer<UInt64>,
        candidates: UnsafeMutableBufferPointer<Int32>,
        probabilities: UnsafeMutableBufferPointer<Float>,
        top: UnsafeMutableBufferPointer<SampledToken>
    ) -> SampledToken {
        var logTotal: Float = 0
        var rawFallback: Float = 0
        if logprobs >= 0 {
            logTotal = Self.logSumExp(UnsafeBufferPointer(logits))
            Self.best(logprobs, of: UnsafeBufferPointer(logits), into: top)
            for i in 0..<logprobs { top[i].logprob -= logTotal }
            rawFallback = logits[Int(fallback)]
        }
        var token: Int32
        var alive = true
        if mask < 0 {
            token = draw(UnsafeBufferPointer(logits), candidates: candidates, probabilities: probabilities)
        } else {
            let words = UnsafeBufferPointer(rebasing: masks[mask..<(mask + (logits.count + 63) / 64)])
            let best = isGreedy ? Self.argmax(UnsafeBufferPointer(logits)) : -1
            if best >= 0 && Self.allows(words, best) {
                token = best
            } else if Self.applyMask(words, to: logits) {
                token = draw(UnsafeBufferPointer(logits), candidates: candidates, probabilities: probabilities)
            } else {
                token = fallback
                alive = false
            }
        }
        guard logprobs >= 0 else { return SampledToken(token: token, logprob: 0) }
        // An allowed token's logit is its raw one: the mask only lowers the others.
        return SampledToken(token: token, logprob: (alive ? logits[Int(token)] : rawFallback) - logTotal)
    }

    /// The loop every backend's `sample` runs: each request's choice from the row `row` gives it (the
    /// backend's own memory, or a host copy) into `chosen`, its most likely tokens into its `topStride`
    /// entries of `top`.
    public static func chooseAll(
        _ requests: UnsafeBufferPointer<RowSampling>,
        masks: UnsafeBufferPointer<UInt64>,
        candidates: UnsafeMutableBufferPointer<Int32>,
        probabilities: UnsafeMutableBufferPointer<Float>,
        into chosen: UnsafeMutableBufferPointer<SampledToken>,
        top: UnsafeMutableBufferPointer<SampledToken>,
        topStride: Int,
        row: (RowSampling) -> UnsafeMutableBufferPointer<Float>
    ) {
        for (i, request) in requests.enumerated() {
            chosen[i] = request.choose(
                row(request),
                masks: masks,
                candidates: candidates,
                probabilities: probabilities,
                top: UnsafeMutableBufferPointer(rebasing: top[(i * topStride)..<((i + 1) * topStride)])
            )
        }
    }

    /// Greedy, or temperature sampling after min-p, top-k and top-p truncation with the row's `uniform`.
    public func draw(
        _ logits: UnsafeBufferPointer<Float>,
        candidates: UnsafeMutableBufferPointer<Int32>,
        probabilities: UnsafeMutableBufferPointer<Float>
    ) -> Int32 {
        if isGreedy { return Self.argmax(logits) }
        if topK <= 0 && topP >= 1 && minP <= 0 {
            return drawFromAll(logits, probabilities: probabilities)
        }
        // Candidates by descending logit; only the top-k (or those within top-p) matter, so sort lazily: a
        // partial selection of the k best, then a full sort of just those.
        let k = topK > 0 ? min(topK, logits.count) : logits.count
        let candidates = UnsafeMutableBufferPointer(rebasing: candidates[0..<logits.count])
        for i in 0..<logits.count { candidates[i] = Int32(i) }
        if k < logits.count { Self.selectTop(k, of: candidates, by: logits) }
        var best = UnsafeMutableBufferPointer(rebasing: candidates[0..<k])
        best.sort { logits[Int($0)] > logits[Int($1)] }
        let maximum = logits[Int(candidates[0])]
        var total: Float = 0
        for i in 0..<k {
            let p = expf((logits[Int(candidates[i])] - maximum) / temperature)
            probabilities[i] = p
            total += p
        }
        // Min-p: drop candidates less likely than min_p times the most likely (whose weight is 1).
        var kept = k
        if minP > 0 {
            kept = (1..<k).first { probabilities[$0] < minP } ?? k
            total = Self.sum(probabilities, kept)
        }
        // Top-p: the smallest prefix whose probability reaches p.
        if topP < 1 {
            var cumulative: Float = 0
            for i in 0..<kept {
                cumulative += probabilities[i] / total
                if cumulative >= topP {
                    kept = i + 1
                    break
                }
            }
            total = Self.sum(probabilities, kept)
        }
        var target = uniform * total
        for i in 0..<kept {
            target -= probabilities[i]
            if target <= 0 { return candidates[i] }
        }
        return candidates[kept - 1]
    }

    /// Temperature sampling over the whole row, without sorting: one pass for the maximum, one for the
    /// weights, one to find the drawn token.
    func drawFromAll(_ logits: UnsafeBufferPointer<Float>, probabilities: UnsafeMutableBufferPointer<Float>) -> Int32 {
        let maximum = logits[Int(Self.argmax(logits))]
        var total: Float = 0
        for i in 0..<logits.count {
            let p = expf((logits[i] - maximum) / temperature)
            probabilities[i] = p
            total += p
        }
        var target = uniform * total
        for i in 0..<logits.count where probabilities[i] > 0 {
            target -= probabilities[i]
            if target <= 0 { return Int32(i) }
        }
        return Self.argmax(logits)
    }

    static func sum(_ values: UnsafeMutableBufferPointer<Float>, _ count: Int) -> Float {
        var total: Float = 0
        for i in 0..<count { total += values[i] }
        return total
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

    /// log Σ exp(logits): the log-softmax's normalizer.
    public static func logSumExp(_ logits: UnsafeBufferPointer<Float>) -> Float {
        let maximum = logits[Int(argmax(logits))]
        var total: Float = 0
        for x in logits { total += expf(x - maximum) }
        return maximum + logf(total)
    }

    /// The `count` largest logits, largest first (the earlier token on ties), as (token, logit) into `best`.
    public static func best(
        _ count: Int,
        of logits: UnsafeBufferPointer<Float>,
        into best: UnsafeMutableBufferPointer<SampledToken>
    ) {
        guard count > 0 else { return }
        // A small sorted prefix: most logits fail the first comparison.
        var filled = 0
        for (i, x) in logits.enumerated() where filled < count || x > best[filled - 1].logprob {
            var index = min(filled, count - 1)
            while index > 0 && x > best[index - 1].logprob {
                best[index] = best[index - 1]
                index -= 1
            }
            best[index] = SampledToken(token: Int32(i), logprob: x)
            filled = min(filled + 1, count)
        }
    }

    /// Moves the `k` candidates with the largest logits to the front (unordered), quickselect.
    public static func selectTop(
        _ k: Int,
        of candidates: UnsafeMutableBufferPointer<Int32>,
        by logits: UnsafeBufferPointer<Float>
    ) {
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

    /// Whether bit `token` of `mask` is set.
    public static func allows(_ mask: UnsafeBufferPointer<UInt64>, _ token: Int32) -> Bool {
        mask[Int(token) >> 6] & (1 << UInt64(token & 63)) != 0
    }

    /// Sets every logit the mask refuses to -inf; false when nothing finite is left.
    public static func applyMask(
        _ mask: UnsafeBufferPointer<UInt64>,
        to logits: UnsafeMutableBufferPointer<Float>
    ) -> Bool {
        var alive = false
        for w in 0..<mask.count {
            let word = mask[w]
            let base = w << 6
            let end = min(base + 64, logits.count)
            if word == 0 {
                for i in base..<end { logits[i] = -.infinity }
                continue
            }
            for i in base..<end {
                if word & (1 << UInt64(i - base)) == 0 {
                    logits[i] = -.infinity
                } else if logits[i] > -.infinity {
                    alive = true
                }
            }
        }
        return alive
    }
}
