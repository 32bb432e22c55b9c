import Engine
import Testing

@Suite struct SamplerTests {
    static let logits: [Float] = [0.5, 3.0, -1.0, 2.9, 0.0, 1.0]

    func draws(_ parameters: SamplingParameters, count: Int = 2000) -> [Int32] {
        var sampler = Sampler(parameters)
        return Self.logits.withUnsafeBufferPointer { logits in (0..<count).map { _ in sampler.sample(logits) } }
    }

    @Test func greedyPicksTheLargestLogit() {
        #expect(Set(draws(.greedy, count: 10)) == [1])
        #expect(Set(draws(SamplingParameters(temperature: 1, topK: 1), count: 10)) == [1])
    }

    @Test func theSameSeedGivesTheSameTokens() {
        let parameters = SamplingParameters(temperature: 1, seed: 42)
        #expect(draws(parameters) == draws(parameters))
        #expect(draws(parameters) != draws(SamplingParameters(temperature: 1, seed: 43)))
    }

    @Test func topKAndTopPTruncate() {
        #expect(Set(draws(SamplingParameters(temperature: 1, topK: 2, seed: 1))) == [1, 3])
        // p(1) ≈ 0.43, p(3) ≈ 0.39 at temperature 1: top-p 0.5 keeps both, 0.3 only the first.
        #expect(Set(draws(SamplingParameters(temperature: 1, topP: 0.5, seed: 1))) == [1, 3])
        #expect(Set(draws(SamplingParameters(temperature: 1, topP: 0.3, seed: 1))) == [1])
    }

    @Test func frequenciesFollowTheSoftmax() {
        let temperature: Float = 0.7
        let samples = draws(SamplingParameters(temperature: temperature, seed: 7), count: 20000)
        let weights = Self.logits.map { expf($0 / temperature) }
        let total = weights.reduce(0, +)
        for (id, weight) in weights.enumerated() {
            let observed = Double(samples.filter { $0 == id }.count) / Double(samples.count)
            #expect(abs(observed - Double(weight / total)) < 0.015, "token \(id)")
        }
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

@Suite struct LogitAdjustmentTests {
    @Test func penaltiesAndBiasFollowVLLM() {
        var sampler = Sampler(
            SamplingParameters(
                presencePenalty: 0.5,
                frequencyPenalty: 0.25,
                repetitionPenalty: 2,
                logitBias: [3: 1.5]
            ),
            prompt: [1]
        )
        sampler.observe(2)
        sampler.observe(2)
        var logits: [Float] = [1, 4, -2, 0.5, 3]
        logits.withUnsafeMutableBufferPointer { sampler.adjust($0, banned: [4]) }
        // 1: in the prompt, positive → /2. 2: in the output twice, negative → *2, then -0.25*2 - 0.5.
        // 3: bias only. 4: banned.
        #expect(logits == [1, 2, -5, 2, -.infinity])
    }

    @Test func minPDropsUnlikelyTokens() {
        // Probabilities ∝ e^0, e^-1, e^-5: min_p 0.2 keeps the first two only (e^-5 < 0.2).
        var sampler = Sampler(SamplingParameters(temperature: 1, minP: 0.2, seed: 1))
        let logits: [Float] = [0, -1, -5]
        let draws = (0..<3000).map { _ in logits.withUnsafeBufferPointer { sampler.sample($0) } }
        #expect(!draws.contains(2) && draws.contains(1) && draws.contains(0))
    }
}
