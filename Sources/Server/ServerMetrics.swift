import Engine
import Foundation
import KVEvents
import Prometheus
import Synchronization

/// `/metrics` in Prometheus' text format under vLLM's metric names (so dashboards and routers built for vLLM
/// read Swerve unchanged), every series labelled `model_name`.
///
/// Gauges and counters come from the engine's published `EngineStats` snapshot when scraped (a short lock,
/// never a wait on the engine loop); counters advance by what the snapshot gained since the last scrape.
/// Histograms observe the engine's outputs on its thread (`Engine.observe`), from the engine's timestamps,
/// the same outputs `EngineStats` counts.
/// swift-prometheus does the bookkeeping and the exposition format.
public final class ServerMetrics: Sendable {
    let registry = PrometheusCollectorRegistry()
    let running: Gauge
    let waiting: Gauge
    let kvCacheUsage: Gauge
    let promptTokens: Counter
    let generationTokens: Counter
    let cachedPromptTokens: Counter
    let prefixQueries: Counter
    let prefixHits: Counter
    let preemptions: Counter
    let finishedStop: Counter
    let finishedLength: Counter
    let finishedAbort: Counter
    let drafts: Counter
    let draftTokens: Counter
    let acceptedDraftTokens: Counter
    /// `vllm:spec_decode_num_accepted_tokens_per_pos_total{position}`, one per draft position the engine can run.
    let acceptedByPosition: [Counter]
    let rejected: Counter
    let timeToFirstToken: ValueHistogram
    let interTokenLatency: ValueHistogram
    let timePerOutputToken: ValueHistogram
    let endToEnd: ValueHistogram
    let queueTime: ValueHistogram
    let prefillTime: ValueHistogram
    let decodeTime: ValueHistogram
    let requestPromptTokens: ValueHistogram
    let requestGenerationTokens: ValueHistogram
    let engine: Engine
    /// `vllm:lora_requests_info`: no adapters, its value the time of the scrape (as vLLM stamps it).
    let loraInfo: Gauge
    /// The KV-event publisher's batches sent and dropped, when `--kv-events-config` enabled one.
    let kvEvents: (publisher: ZMQEventPublisher, counters: [Counter])?
    /// The KV cache's lower tiers, when the engine has them.
    let kvTiers: KVTierMetrics?
    /// The counters' values at the last scrape.
    let exported: Mutex<[Int]>

    init(model: ServedModel, buckets: [Double]) {
        engine = model.engine
        let labels = [("model_name", model.name)]
        let registry = registry
        func descriptor(_ name: String, _ help: String) -> MetricNameDescriptor {
            MetricNameDescriptor(metricName: name, unitName: "", helpText: help)
        }
        func gauge(_ name: String, _ help: String) -> Gauge {
            registry.makeGauge(descriptor: descriptor(name, help), labels: labels)
        }
        func counter(_ name: String, _ help: String, _ extra: [(String, String)] = []) -> Counter {
            registry.makeCounter(descriptor: descriptor(name, help), labels: labels + extra)
        }
        func histogram(_ name: String, _ help: String, _ edges: [Double] = buckets) -> ValueHistogram {
            registry.makeValueHistogram(descriptor: descriptor(name, help), labels: labels, buckets: edges)
        }
        running = gauge("vllm:num_requests_running", "Requests in the running batch.")
        waiting = gauge("vllm:num_requests_waiting", "Requests waiting to be scheduled.")
        kvCacheUsage = gauge("vllm:kv_cache_usage_perc", "Share of KV cache blocks in use (1 = full).")
        let plan = model.engine.plan
        registry.makeGauge(
            descriptor: descriptor("vllm:cache_config_info", "KV cache configuration."),
            labels: labels + [
                ("block_size", "\(plan.blockSize)"), ("num_gpu_blocks", "\(plan.blocks)"),
                ("cache_dtype", plan.type.rawValue),
                ("enable_prefix_caching", "\(model.engine.configuration.enablePrefixCaching)"),
            ]
        ).set(to: 1)
        promptTokens = counter("vllm:prompt_tokens_total", "Prompt tokens processed.")
        generationTokens = counter("vllm:generation_tokens_total", "Tokens generated.")
        cachedPromptTokens = counter("vllm:prompt_tokens_cached_total", "Prompt tokens served from the prefix cache.")
        prefixQueries = counter("vllm:prefix_cache_queries_total", "Prompt tokens looked up in the prefix cache.")
        prefixHits = counter("vllm:prefix_cache_hits_total", "Prompt tokens found in the prefix cache.")
        preemptions = counter("vllm:num_preemptions_total", "Sequences preempted for KV cache space.")
        let success = "vllm:request_success_total"
        let successHelp = "Finished requests by finish reason."
        finishedStop = counter(success, successHelp, [("finished_reason", "stop")])
        finishedLength = counter(success, successHelp, [("finished_reason", "length")])
        finishedAbort = counter(success, successHelp, [("finished_reason", "abort")])
        drafts = counter(
            "vllm:spec_decode_num_drafts_total",
            "Drafts run (one per sequence and step; jump-forward's and --speculative-config's)."
        )
        draftTokens = counter(
            "vllm:spec_decode_num_draft_tokens_total",
            "Draft tokens run (jump-forward: text a structured-output grammar forces; --speculative-config: proposed)."
        )
        acceptedDraftTokens = counter("vllm:spec_decode_num_accepted_tokens_total", "Draft tokens sampling confirmed.")
        let configuration = model.engine.configuration
        let positions = max(
            configuration.jumpForward ? configuration.maxJumpForwardTokens : 0,
            configuration.speculative?.numSpeculativeTokens ?? 0
        )
        acceptedByPosition = (0..<positions).map {
            counter(
                "vllm:spec_decode_num_accepted_tokens_per_pos_total",
                "Draft tokens sampling confirmed, by their position in the draft.",
                [("position", "\($0)")]
            )
        }
        // The Gateway API Inference Extension's model-server protocol reads the adapters from these labels.
        loraInfo = registry.makeGauge(
            descriptor: descriptor("vllm:lora_requests_info", "Running and waiting LoRA adapters (none: no adapters)."),
            labels: [("running_lora_adapters", ""), ("waiting_lora_adapters", ""), ("max_lora", "0")]
        )
        kvEvents = model.kvEvents.map {
            (
                $0,
                [
                    counter("swerve:kv_events_published_total", "KV-event batches sent (--kv-events-config)."),
                    counter(
                        "swerve:kv_events_dropped_total",
                        "KV-event batches dropped: the publisher's queue was full or a subscriber was past the high-water mark."
                    ),
                ]
            )
        }
        kvTiers = model.engine.configuration.kvTiers == nil ? nil : KVTierMetrics(registry: registry, labels: labels)
        exported = Mutex([Int](repeating: 0, count: 13 + positions + (kvEvents == nil ? 0 : 2)))
        rejected = counter(
            "swerve:num_requests_rejected_total",
            "Requests refused with a 503 because --max-waiting-requests were queued (no vLLM equivalent)."
        )
        timeToFirstToken = histogram("vllm:time_to_first_token_seconds", "Time to first token.")
        interTokenLatency = histogram("vllm:inter_token_latency_seconds", "Time between consecutive outputs.")
        timePerOutputToken = histogram(
            "vllm:request_time_per_output_token_seconds",
            "Decode time per output token after the first."
        )
        endToEnd = histogram("vllm:e2e_request_latency_seconds", "Arrival to last token.")
        queueTime = histogram("vllm:request_queue_time_seconds", "Arrival to first scheduled.")
        prefillTime = histogram("vllm:request_prefill_time_seconds", "First scheduled to first token.")
        decodeTime = histogram("vllm:request_decode_time_seconds", "First token to last token.")
        let tokenBuckets = Self.oneTwoFive(upTo: model.engine.maxModelLen)
        requestPromptTokens = histogram("vllm:request_prompt_tokens", "Prompt tokens per request.", tokenBuckets)
        requestGenerationTokens = histogram(
            "vllm:request_generation_tokens",
            "Generated tokens per request.",
            tokenBuckets
        )
        model.engine.observe { [weak self] in self?.observe($0) }
    }

    /// vLLM's token-count buckets: 1, 2, 5, 10, 20, 50, ... up to `limit`.
    static func oneTwoFive(upTo limit: Int) -> [Double] {
        var edges: [Double] = []
        var scale = 1
        while true {
            for m in [1, 2, 5] {
                guard m * scale <= limit else { return edges }
                edges.append(Double(m * scale))
            }
            scale *= 10
        }
    }

    /// Records one output: the gap since the completion's previous one, and once it finished, its latencies
    /// and token counts.
    func observe(_ output: RequestOutput) {
        if let gap = output.interTokenLatency { interTokenLatency.record(gap) }
        if let timings = output.timings, let usage = output.usage { observe(finished: timings, usage: usage) }
    }

    func observe(finished timings: RequestTimings, usage: Usage) {
        timeToFirstToken.record(timings.timeToFirstToken)
        endToEnd.record(timings.endToEnd)
        queueTime.record(timings.queue)
        prefillTime.record(timings.prefill)
        decodeTime.record(timings.decode)
        if usage.completionTokens > 1 {
            timePerOutputToken.record(timings.decode / Double(usage.completionTokens - 1))
        }
        requestPromptTokens.record(Double(usage.promptTokens))
        requestGenerationTokens.record(Double(usage.completionTokens))
    }

    /// The exposition text, gauges and counters brought up to the engine's latest snapshot first.
    func render() -> [UInt8] {
        let stats = engine.stats
        running.set(to: Double(stats.running))
        waiting.set(to: Double(stats.waiting))
        kvCacheUsage.set(to: stats.kvCacheUsage)
        let counters =
            [
                promptTokens, generationTokens, cachedPromptTokens, prefixQueries, prefixHits, preemptions,
                finishedStop,
                finishedLength, finishedAbort, drafts, draftTokens, acceptedDraftTokens, rejected,
            ] + acceptedByPosition + (kvEvents?.counters ?? [])
        let byPosition = stats.acceptedDraftTokensByPosition
        let values =
            [
                stats.promptTokens, stats.generationTokens, stats.cachedPromptTokens, stats.prefixCacheQueries,
                stats.prefixCacheHits, stats.preemptions, stats.finished[.stop] ?? 0, stats.finished[.length] ?? 0,
                stats.aborted, stats.drafts, stats.draftTokens, stats.acceptedDraftTokens, engine.rejectedRequests,
            ] + acceptedByPosition.indices.map { $0 < byPosition.count ? byPosition[$0] : 0 }
            + (kvEvents.map { [$0.publisher.publishedBatches, $0.publisher.droppedBatches] } ?? [])
        loraInfo.set(to: Date().timeIntervalSince1970)
        if let kvTiers, let tiers = stats.kvTiers { kvTiers.update(tiers) }
        return exported.withLock { exported in
            for (i, counter) in counters.enumerated() where values[i] > exported[i] {
                counter.increment(by: Int64(values[i] - exported[i]))
            }
            exported = values
            return registry.emitToBuffer()
        }
    }
}
