import Grammar

/// How a request's tokens are chosen and when it stops, with vLLM's `SamplingParams` names and meanings:
/// temperature 0 is greedy; top-k (0: off), top-p (1: off) and min-p (0: off) truncate before sampling;
/// penalties and logit bias adjust the logits first; a seed makes sampling repeatable whatever else shares
/// the batch.
public struct SamplingParameters: Sendable, Equatable {
    /// Completions to generate for the prompt (they share its cached blocks).
    public var n: Int
    public var temperature: Float
    public var topP: Float
    public var topK: Int
    /// Drops tokens less likely than `minP` times the most likely one.
    public var minP: Float
    public var seed: UInt64?
    /// Subtracted from the logit of every token the output already has (once).
    public var presencePenalty: Float
    /// Subtracted from a token's logit once per time the output has it.
    public var frequencyPenalty: Float
    /// Divides positive (multiplies negative) logits of tokens in the prompt or output; 1: off.
    public var repetitionPenalty: Float
    /// Added to the logits of these token ids.
    public var logitBias: [Int32: Float]
    public var maxTokens: Int
    /// Stop tokens and end-of-sequence cannot end the output before this many tokens.
    public var minTokens: Int
    /// Strings that end the output; the text returned stops before them.
    public var stop: [String]
    /// Token ids that end the output, besides end-of-sequence.
    public var stopTokenIDs: [Int32]
    /// Keep going after end-of-sequence.
    public var ignoreEOS: Bool
    /// Return the chosen token's log-probability and this many of the most likely ones (nil: none).
    public var logprobs: Int?
    /// The structured-output constraint every token must satisfy (nil: free generation).
    public var constraint: StructuredConstraint?
    /// One-pass classification: where the constraint leaves a choice between literals (`choice`, an enum),
    /// score every alternative's whole likelihood in one batched pass and take the best, instead of
    /// sampling token by token.
    public var classify: Bool

    public init(
        n: Int = 1,
        temperature: Float = 0,
        topP: Float = 1,
        topK: Int = 0,
        minP: Float = 0,
        seed: UInt64? = nil,
        presencePenalty: Float = 0,
        frequencyPenalty: Float = 0,
        repetitionPenalty: Float = 1,
        logitBias: [Int32: Float] = [:],
        maxTokens: Int = 16,
        minTokens: Int = 0,
        stop: [String] = [],
        stopTokenIDs: [Int32] = [],
        ignoreEOS: Bool = false,
        logprobs: Int? = nil,
        constraint: StructuredConstraint? = nil,
        classify: Bool = false
    ) {
        self.n = n
        self.temperature = temperature
        self.topP = topP
        self.topK = topK
        self.minP = minP
        self.seed = seed
        self.presencePenalty = presencePenalty
        self.frequencyPenalty = frequencyPenalty
        self.repetitionPenalty = repetitionPenalty
        self.logitBias = logitBias
        self.maxTokens = maxTokens
        self.minTokens = minTokens
        self.stop = stop
        self.stopTokenIDs = stopTokenIDs
        self.ignoreEOS = ignoreEOS
        self.logprobs = logprobs
        self.constraint = constraint
        self.classify = classify
    }

    public static let greedy = SamplingParameters()

    /// Most `logprobs` a request may ask for (vLLM's default limit).
    public static let maxLogprobs = 20
    /// Most completions one request may ask for (OpenAI's limit for `n`): each is a sequence the engine
    /// runs, and the server multiplies by it.
    public static let maxN = 128

    /// Most stop strings per request, and the longest one in bytes (each is matched against every new
    /// token's text, so both bound the work per token).
    public static let maxStops = 64
    public static let maxStopBytes = 1024

    /// Whether penalties or bias change the logits before sampling.
    var adjustsLogits: Bool {
        presencePenalty != 0 || frequencyPenalty != 0 || repetitionPenalty != 1 || !logitBias.isEmpty
    }

    /// Checks every value against its range, with vLLM's messages; token ids against the vocabulary.
    public func validate(vocabularySize: Int) throws(EngineError) {
        func check(_ ok: Bool, _ message: @autoclosure () -> String) throws(EngineError) {
            if !ok { throw .invalidParameter(message()) }
        }
        try check((1...Self.maxN).contains(n), "n must be in [1, \(Self.maxN)], got \(n)")
        try check(temperature >= 0 && temperature.isFinite, "temperature must be non-negative, got \(temperature)")
        try check(topP > 0 && topP <= 1, "top_p must be in (0, 1], got \(topP)")
        try check(topK >= -1, "top_k must be -1 (disable), 0 (disable) or at least 1, got \(topK)")
        try check(minP >= 0 && minP <= 1, "min_p must be in [0, 1], got \(minP)")
        try check((-2...2).contains(presencePenalty), "presence_penalty must be in [-2, 2], got \(presencePenalty)")
        try check((-2...2).contains(frequencyPenalty), "frequency_penalty must be in [-2, 2], got \(frequencyPenalty)")
        try check(
            repetitionPenalty > 0 && repetitionPenalty <= 2,
            "repetition_penalty must be in (0, 2], got \(repetitionPenalty)"
        )
        try check(maxTokens >= 1, "max_tokens must be at least 1, got \(maxTokens)")
        try check(minTokens >= 0 && minTokens <= maxTokens, "min_tokens must be in [0, max_tokens], got \(minTokens)")
        if let logprobs {
            try check(
                (0...Self.maxLogprobs).contains(logprobs),
                "logprobs must be in [0, \(Self.maxLogprobs)], got \(logprobs)"
            )
        }
        try check(stop.allSatisfy { !$0.isEmpty }, "stop strings must not be empty")
        try check(stop.count <= Self.maxStops, "stop may list at most \(Self.maxStops) strings, got \(stop.count)")
        try check(
            stop.allSatisfy { $0.utf8.count <= Self.maxStopBytes },
            "stop strings must each be at most \(Self.maxStopBytes) bytes"
        )
        for id in stopTokenIDs {
            try check(
                id >= 0 && Int(id) < vocabularySize,
                "stop_token_ids: \(id) is not a token id (vocabulary \(vocabularySize))"
            )
        }
        for (id, bias) in logitBias {
            try check(
                id >= 0 && Int(id) < vocabularySize,
                "logit_bias: \(id) is not a token id (vocabulary \(vocabularySize))"
            )
            try check((-100...100).contains(bias), "logit_bias values must be in [-100, 100], got \(bias)")
        }
    }
}
