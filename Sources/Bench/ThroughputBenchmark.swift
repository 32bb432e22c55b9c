import Engine
import Foundation
import Grammar
import Models
import SwerveCore
import Tokenizers

/// `vllm bench throughput` for Swerve: every request queued at once on an `EngineCore`, run offline to
/// completion, and the rates it sustained. Written here because it drives Swerve's own engine.
public struct ThroughputBenchmark {
    /// Which prompts: the seed's Pika requests, or random tokens.
    public enum Dataset: String, Sendable, CaseIterable {
        case pika
        case random
    }

    /// One run's results, with vLLM's JSON keys where it has them.
    public struct Report: Codable, Sendable {
        public var dataset: String
        public var num_requests: Int
        public var max_num_seqs: Int
        public var elapsed_time: Double
        public var requests_per_second: Double
        public var tokens_per_second: Double
        public var output_tokens_per_second: Double
        public var total_prompt_tokens: Int
        public var total_output_tokens: Int
        public var cached_prompt_tokens: Int
        public var prefix_cache_hit_rate: Double
        public var mean_ttft_ms: Double
        public var mean_itl_ms: Double
        public var preemptions: Int
        public var backend: String
        /// The structured-output constraint every request had ("none", "pika-schema").
        public var structured = "none"
        public var jump_forward = false
        /// Mean decode time per output token after the first, and its inverse: one sequence's decode speed.
        public var mean_tpot_ms = 0.0
        public var decode_tokens_per_second = 0.0
        /// Requests that ended with `stop` (a constrained answer: its grammar's end).
        public var finished_stop = 0
        /// Output tokens per second over the steps that computed no prompt token (pure decode steps): what
        /// decoding itself sustains, masks, drafts and sampling included.
        public var decode_step_tokens_per_second = 0.0
        /// Drafts run (jump-forward's and `--speculative-config`'s), their tokens, the share sampling accepted,
        /// and the tokens a draft added on average (vLLM's acceptance rate and mean accepted length).
        public var spec_decode_drafts = 0
        public var spec_decode_draft_tokens = 0
        public var spec_decode_acceptance_rate = 0.0
        public var spec_decode_mean_accepted = 0.0

        public var text: String {
            func f(_ x: Double) -> String { String(format: "%.2f", x) }
            return """
                Throughput: \(f(requests_per_second)) requests/s, \(f(tokens_per_second)) total tokens/s, \
                \(f(output_tokens_per_second)) output tokens/s
                \(num_requests) \(dataset) requests, max-num-seqs \(max_num_seqs), \(f(elapsed_time)) s; \
                prompt tokens \(total_prompt_tokens) (\(cached_prompt_tokens) from the prefix cache, \
                hit rate \(f(prefix_cache_hit_rate))), output tokens \(total_output_tokens)
                mean TTFT \(f(mean_ttft_ms)) ms, mean ITL \(f(mean_itl_ms)) ms, mean TPOT \(f(mean_tpot_ms)) ms \
                (\(f(decode_tokens_per_second)) decode tokens/s per sequence), \(f(decode_step_tokens_per_second)) \
                output tokens/s over pure decode steps, preemptions \(preemptions); \(backend)
                structured output: \(structured)\(structured == "none" ? "" : jump_forward ? " with jump-forward" :                 " (masking only)"), \(finished_stop) of \(num_requests) ended with stop
                drafts: \(spec_decode_drafts) of \(spec_decode_draft_tokens) tokens, \(f(100 * spec_decode_acceptance_rate))% \
                accepted, \(f(spec_decode_mean_accepted)) accepted per draft
                """
        }
    }

    /// The prompts of `count` requests of `dataset` (`inputLength` applies to random prompts).
    public static func prompts(
        _ dataset: Dataset,
        count: Int,
        inputLength: Int,
        model: ModelFile,
        seed: UInt64
    ) throws -> [[Int32]] {
        switch dataset {
        case .pika:
            return try (0..<count).map { try PikaWorkload.prompt($0, model: model) }
        case .random:
            return (0..<count).map {
                randomPrompt(length: inputLength, tokenizer: model.tokenizer, seed: seed &+ UInt64($0))
            }
        }
    }

    /// `length` random ordinary tokens (no control tokens), seeded, as vLLM's random prompts are.
    public static func randomPrompt(length: Int, tokenizer: any Tokenizer, seed: UInt64) -> [Int32] {
        var state = seed &+ 0x9E37_79B9_7F4A_7C15
        var ids: [Int32] = []
        while ids.count < length {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            let id = Int((state >> 33) % UInt64(tokenizer.vocabularySize))
            if tokenizer.types[id] == .normal { ids.append(Int32(id)) }
        }
        return ids
    }

    /// Queues every prompt at once (greedy, `outputLength` tokens, end of sequence ignored as vLLM's
    /// benchmark does unless `ignoreEOS` is off) and steps the engine until all have finished. With a
    /// `constraint` (named `structured` in the report) every request is constrained by it.
    public static func run(
        engine: EngineCore,
        prompts: [[Int32]],
        outputLength: Int,
        dataset: Dataset,
        backend: String,
        ignoreEOS: Bool = true,
        constraint: StructuredConstraint? = nil,
        structured: String = "none"
    ) throws -> Report {
        let before = engine.stats
        let start = Monotonic.seconds()
        for (i, prompt) in prompts.enumerated() {
            try engine.add(
                EngineRequest(
                    id: "bench-\(i)",
                    prompt: prompt,
                    parameters: SamplingParameters(
                        maxTokens: outputLength,
                        ignoreEOS: ignoreEOS,
                        constraint: constraint
                    )
                ),
                arrival: start
            )
        }
        var outputTokens = 0
        var cached = 0
        var decodeTime = 0.0
        var decodeTokens = 0
        var stopped = 0
        var decodeStepTime = 0.0
        var decodeStepTokens = 0
        while engine.hasWork {
            let prefilled = engine.stats.prefillTokens
            let started = Monotonic.seconds()
            let outputs = engine.step()
            if engine.stats.prefillTokens == prefilled {
                decodeStepTime += Monotonic.seconds() - started
                decodeStepTokens += outputs.reduce(0) { $0 + $1.tokenIDs.count }
            }
            for output in outputs {
                outputTokens += output.tokenIDs.count
                cached += output.usage?.cachedPromptTokens ?? 0
                if let usage = output.usage, let timings = output.timings, usage.completionTokens > 1 {
                    decodeTime += timings.decode
                    decodeTokens += usage.completionTokens - 1
                }
                if output.finishReason == .stop && output.constraintViolation == nil { stopped += 1 }
            }
        }
        let elapsed = Monotonic.seconds() - start
        let stats = engine.stats
        let promptTokens = prompts.reduce(0) { $0 + $1.count }
        let queries = stats.prefixCacheQueries - before.prefixCacheQueries
        let drafts = stats.drafts - before.drafts
        let draftTokens = stats.draftTokens - before.draftTokens
        let accepted = stats.acceptedDraftTokens - before.acceptedDraftTokens
        return Report(
            dataset: dataset.rawValue,
            num_requests: prompts.count,
            max_num_seqs: engine.configuration.maxNumSeqs,
            elapsed_time: elapsed,
            requests_per_second: Double(prompts.count) / elapsed,
            tokens_per_second: Double(promptTokens + outputTokens) / elapsed,
            output_tokens_per_second: Double(outputTokens) / elapsed,
            total_prompt_tokens: promptTokens,
            total_output_tokens: outputTokens,
            cached_prompt_tokens: cached,
            prefix_cache_hit_rate: queries > 0
                ? Double(stats.prefixCacheHits - before.prefixCacheHits) / Double(queries) : 0,
            mean_ttft_ms: stats.timeToFirstToken.mean / 1000,
            mean_itl_ms: stats.interTokenLatency.mean / 1000,
            preemptions: stats.preemptions - before.preemptions,
            backend: backend,
            structured: structured,
            jump_forward: engine.configuration.jumpForward,
            mean_tpot_ms: decodeTokens > 0 ? decodeTime / Double(decodeTokens) * 1000 : 0,
            decode_tokens_per_second: decodeTime > 0 ? Double(decodeTokens) / decodeTime : 0,
            finished_stop: stopped,
            decode_step_tokens_per_second: decodeStepTime > 0 ? Double(decodeStepTokens) / decodeStepTime : 0,
            spec_decode_drafts: drafts,
            spec_decode_draft_tokens: draftTokens,
            spec_decode_acceptance_rate: draftTokens > 0 ? Double(accepted) / Double(draftTokens) : 0,
            spec_decode_mean_accepted: drafts > 0 ? Double(accepted) / Double(drafts) : 0
        )
    }
}
