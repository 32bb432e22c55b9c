import Histogram

/// What the engine reports for metrics, vLLM's set: queue sizes, KV usage, prefix-cache hits, token
/// counters and latency histograms (microseconds, HdrHistogram with 3 significant digits).
public struct EngineStats: Sendable {
    public var running = 0
    public var waiting = 0
    /// Share of KV blocks held by requests.
    public var kvCacheUsage = 0.0
    /// Prompt tokens looked up in the prefix cache, and found there.
    public var prefixCacheQueries = 0
    public var prefixCacheHits = 0
    public var promptTokens = 0
    /// Prompt tokens whose KV came from the prefix cache (counted when a completion first samples).
    public var cachedPromptTokens = 0
    public var generationTokens = 0
    public var preemptions = 0
    public var finished: [FinishReason: Int] = [:]
    /// Completions aborted before they finished (client gone, shutdown).
    public var aborted = 0
    /// Drafts run (one per sequence and step that ran any), their tokens, and those sampling confirmed, in
    /// all and by position in the draft (vLLM's spec-decode counters; jump-forward's drafts and
    /// `--speculative-config`'s alike).
    public var drafts = 0
    public var draftTokens = 0
    public var acceptedDraftTokens = 0
    public var acceptedDraftTokensByPosition: [Int] = []
    /// Constrained answers that failed their constraint's validation (should stay 0).
    public var constraintViolations = 0
    public var steps = 0
    /// Steps whose output head ran only the rows of tokens their grammars allow (`EngineConfiguration.sparseHead`).
    public var sparseHeadSteps = 0
    /// Logits rows whose token the backend chose where the logits are (`EngineConfiguration.sampleOnBackend`),
    /// and rows read to the host to choose there.
    public var backendSampledRows = 0
    public var hostSampledRows = 0
    /// Prompt tokens computed by steps (prefill work; a step that adds none is a pure decode step).
    public var prefillTokens = 0
    /// The KV cache's lower tiers (nil: none).
    public var kvTiers: KVTierStats?
    public var timeToFirstToken = Self.histogram()
    public var interTokenLatency = Self.histogram()
    public var endToEndLatency = Self.histogram()
    public var queueTime = Self.histogram()

    public init() {}

    /// Counts a draft of `tokens` tokens of which sampling confirmed the first `accepted`.
    mutating func observeDraft(_ tokens: Int, accepted: Int) {
        guard tokens > 0 else { return }
        drafts += 1
        draftTokens += tokens
        acceptedDraftTokens += accepted
        if acceptedDraftTokensByPosition.count < accepted {
            acceptedDraftTokensByPosition += repeatElement(0, count: accepted - acceptedDraftTokensByPosition.count)
        }
        for position in 0..<accepted { acceptedDraftTokensByPosition[position] += 1 }
    }

    /// No request running or waiting.
    public var isIdle: Bool { running == 0 && waiting == 0 }

    static func histogram() -> Histogram<UInt64> {
        var histogram = Histogram<UInt64>(highestTrackableValue: 3_600_000_000, numberOfSignificantValueDigits: .three)
        histogram.autoResize = true
        return histogram
    }

    /// Counts and times one output of the engine's step; the server's Prometheus exporter observes the same
    /// outputs (`Engine.observe`), so both read the engine's timestamps. `stopToken`: a stop token ended it
    /// (generated, not part of the output).
    mutating func observe(_ output: RequestOutput, stopToken: Bool) {
        generationTokens += output.tokenIDs.count + (stopToken ? 1 : 0)
        if let gap = output.interTokenLatency { Self.record(gap, in: &interTokenLatency) }
        guard let reason = output.finishReason, let timings = output.timings else { return }
        finished[reason, default: 0] += 1
        if output.constraintViolation != nil { constraintViolations += 1 }
        Self.record(timings.timeToFirstToken, in: &timeToFirstToken)
        Self.record(timings.endToEnd, in: &endToEndLatency)
        Self.record(timings.queue, in: &queueTime)
    }

    /// Records seconds as microseconds.
    static func record(_ seconds: Double, in histogram: inout Histogram<UInt64>) {
        _ = histogram.record(UInt64(max(0, seconds * 1e6)))
    }
}
