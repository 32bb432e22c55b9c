import Dispatch
import GGUF
import Models
import SwerveCore
import Tokenizers

/// The serving engine's synchronous core: requests in, one batched step at a time, incremental outputs
/// out. It owns the model's forward pass, the paged KV pool, the scheduler and each sequence's sampler,
/// detokenizer and stop-string matcher; `Engine` runs it on its own thread for the server, and offline
/// benchmarks call `step()` directly (like vLLM's `LLMEngine` under its `LLM` class).
///
/// A step asks the scheduler for a batch (decodes first, then prefill chunks), lays every sequence's
/// tokens end to end in one `BatchLayout`, runs one forward pass for all of them, samples each sequence
/// that reached the end of its tokens from its own row of logits, and turns the tokens into text deltas.
/// `n > 1` completions are separate sequences: the first is scheduled at once and the others once it has
/// computed the prompt, so they take its full blocks from the prefix cache instead of recomputing them.
/// Not thread-safe: one caller at a time.
public final class EngineCore: @unchecked Sendable {
    public let configuration: EngineConfiguration
    public let plan: KVCachePlan
    public let tokenizer: any Tokenizer
    /// End-of-sequence ids (EOS, end of turn) that stop a completion unless `ignoreEOS`.
    public let endOfGeneration: Set<Int32>
    public var maxModelLen: Int { plan.maxModelLen }
    public let forward: any ForwardPass
    let kv: BackendTensor
    let layout: BatchLayout
    var logits: [Float]
    var rawLogits: [Float]
    /// The step's log-probabilities, for the sequences that asked.
    var sampledLogprobs: [Int: TokenLogprobs] = [:]
    var scheduler: Scheduler
    var sequences: [Int: SequenceState] = [:]
    var requests: [String: RequestState] = [:]
    var nextSequenceID = 0
    public private(set) var stats = EngineStats()

    /// One completion being generated.
    struct SequenceState {
        let requestID: String
        let index: Int
        var sampler: Sampler
        var decoder: IncrementalDecoder
        /// Text bytes not emitted yet: the tail that may still turn out to start a stop string.
        var held: [UInt8] = []
        let stops: [[UInt8]]
        /// Bytes held back while they may begin a stop string: the longest stop string's length less one.
        let holdBack: Int
        /// Tokens sampling may not choose before `minTokens` (end of sequence, stop token ids).
        let banned: [Int32]
        let stopTokenIDs: Set<Int32>
        let parameters: SamplingParameters
        let promptTokens: Int
        var cachedPromptTokens = 0
        var outputCount = 0
        let arrival: Double
        var firstScheduled: Double?
        var firstToken: Double?
        var lastToken: Double?
    }

    /// A request's completions: those running, and those waiting for the first to compute the prompt.
    struct RequestState {
        var sequences: [Int]
        var deferred: [Scheduler.Request]
    }

    public convenience init(model: ModelFile, backend: any Backend, configuration: EngineConfiguration) throws {
        try self.init(gguf: model.gguf, tokenizer: model.tokenizer, backend: backend, configuration: configuration)
    }

    /// The engine for a model file and its tokenizer (tests pair synthetic models with a tiny tokenizer).
    public init(
        gguf: GGUFFile,
        tokenizer: any Tokenizer,
        backend: any Backend,
        configuration: EngineConfiguration
    ) throws {
        let config = try ModelRegistry.config(of: gguf)
        let maxModelLen = configuration.maxModelLen ?? config.contextLength
        guard maxModelLen >= 2 else { throw EngineError.configuration("--max-model-len must be at least 2") }
        guard maxModelLen <= config.contextLength else {
            throw EngineError.configuration(
                "--max-model-len \(maxModelLen) is longer than the model's context length \(config.contextLength)"
            )
        }
        if configuration.kvCacheDType == .q8_0 && config.headDimension % 32 != 0 {
            throw EngineError.configuration(
                "--kv-cache-dtype q8_0 needs a head size that is a multiple of 32; this model's is \(config.headDimension)"
            )
        }
        forward = try ModelRegistry.makeForward(
            gguf: gguf,
            backend: backend,
            maxBatch: configuration.maxNumBatchedTokens,
            maxSequences: configuration.maxNumSeqs
        )
        plan = try KVCachePlan(
            configuration,
            maxModelLen: maxModelLen,
            bytesPerToken: forward.kvBytesPerToken(configuration.kvCacheDType),
            weightBytes: gguf.tensors.reduce(0) { $0 + $1.byteCount }
        )
        var resolved = configuration
        resolved.maxModelLen = maxModelLen
        self.configuration = resolved
        scheduler = try Scheduler(
            Scheduler.Configuration(
                maxNumSeqs: configuration.maxNumSeqs,
                maxNumBatchedTokens: configuration.maxNumBatchedTokens,
                maxModelLen: maxModelLen,
                enableChunkedPrefill: configuration.enableChunkedPrefill
            ),
            blocks: BlockManager(
                blockCount: plan.blocks,
                blockSize: plan.blockSize,
                prefixCaching: configuration.enablePrefixCaching
            )
        )
        self.tokenizer = tokenizer
        endOfGeneration = Generator.endOfGenerationIDs(tokenizer)
        kv = forward.makeKVCache(blocks: plan.blocks, blockSize: plan.blockSize, type: plan.type)
        layout = BatchLayout(blockSize: plan.blockSize)
        layout.reserve(
            rows: configuration.maxNumBatchedTokens,
            sequences: configuration.maxNumSeqs,
            blocks: configuration.maxNumSeqs * ((maxModelLen + plan.blockSize - 1) / plan.blockSize)
        )
        logits = [Float](repeating: 0, count: configuration.maxNumSeqs * config.vocabularySize)
        rawLogits = [Float](repeating: 0, count: config.vocabularySize)
    }

    public var hasWork: Bool { scheduler.hasWork }

    /// Checks a request without queueing it: parameters in range, prompt non-empty, in the vocabulary and
    /// shorter than `maxModelLen`. Reads only what never changes, so any thread may call it.
    public func check(_ request: EngineRequest) throws(EngineError) {
        try request.parameters.validate(vocabularySize: forward.config.vocabularySize)
        guard !request.prompt.isEmpty else { throw .emptyPrompt }
        guard request.prompt.count < maxModelLen else {
            throw .promptTooLong(tokens: request.prompt.count, maxModelLen: maxModelLen)
        }
        for token in request.prompt where token < 0 || Int(token) >= forward.config.vocabularySize {
            throw .invalidParameter(
                "prompt token \(token) is not in the vocabulary of \(forward.config.vocabularySize)"
            )
        }
    }

    /// Queues a request; throws, changing nothing, for a bad parameter or a prompt that cannot fit.
    public func add(_ request: EngineRequest, arrival: Double? = nil) throws(EngineError) {
        let p = request.parameters
        guard requests[request.id] == nil else { throw .duplicateRequest(request.id) }
        try check(request)
        let stopTokenIDs = Set(p.stopTokenIDs)
        let stopTokens = (p.ignoreEOS ? [] : endOfGeneration).union(stopTokenIDs)
        let arrival = arrival ?? Self.now()
        var state = RequestState(sequences: [], deferred: [])
        for index in 0..<p.n {
            var parameters = p
            parameters.seed = p.seed.map { $0 &+ UInt64(index) }
            let id = nextSequenceID
            nextSequenceID += 1
            sequences[id] = SequenceState(
                requestID: request.id,
                index: index,
                sampler: Sampler(parameters, prompt: request.prompt),
                decoder: IncrementalDecoder(tokenizer: tokenizer),
                stops: p.stop.map { Array($0.utf8) },
                holdBack: max(0, (p.stop.map(\.utf8.count).max() ?? 0) - 1),
                banned: p.minTokens > 0 ? stopTokens.sorted() : [],
                stopTokenIDs: stopTokenIDs,
                parameters: parameters,
                promptTokens: request.prompt.count,
                arrival: arrival
            )
            let scheduled = Scheduler.Request(
                id: id,
                prompt: request.prompt,
                maxTokens: p.maxTokens,
                stopTokens: stopTokens
            )
            state.sequences.append(id)
            if index > 0 && configuration.enablePrefixCaching {
                state.deferred.append(scheduled)
            } else {
                // Checked above: the id is new and the prompt fits.
                try! scheduler.add(scheduled)
            }
        }
        requests[request.id] = state
        stats.promptTokens += request.prompt.count
    }

    /// Drops a request (all its completions) at once, freeing its blocks; unknown ids are ignored.
    public func abort(_ requestID: String) {
        guard let state = requests.removeValue(forKey: requestID) else { return }
        stats.aborted += state.sequences.count + state.deferred.count
        for id in state.sequences {
            scheduler.abort(id)
            sequences[id] = nil
        }
        refreshStats()
    }

    /// Runs one step: schedules a batch, runs it, samples, and returns what each sampled completion gained.
    public func step() -> [RequestOutput] {
        let batch = scheduler.schedule()
        stats.preemptions += batch.preempted.count
        guard !batch.entries.isEmpty else {
            refreshStats()
            return []
        }
        let started = Self.now()
        layout.reset()
        for entry in batch.entries {
            if let sequence = sequences[entry.id], sequence.firstScheduled == nil {
                sequences[entry.id]!.firstScheduled = started
                EngineStats.record(started - sequence.arrival, in: &stats.queueTime)
            }
            entry.tokens.withUnsafeBufferPointer {
                layout.append(
                    $0,
                    firstPosition: entry.firstPosition,
                    blockTable: entry.blockTable[...],
                    logits: entry.samples
                )
            }
        }
        logits.withUnsafeMutableBufferPointer { forward.forward(layout, cache: kv, logits: $0) }
        let sampled = sample(batch)
        let finished = Dictionary(
            uniqueKeysWithValues: scheduler.update(batch, sampled: sampled).map { ($0.id, $0.reason) }
        )
        let now = Self.now()
        var outputs: [RequestOutput] = []
        for entry in batch.entries where entry.samples {
            guard let (token, logprobs) = sampled[entry.id].map({ ($0, sampledLogprobs[entry.id]) }) else { continue }
            if let output = emit(entry.id, token: token, logprobs: logprobs, finished: finished[entry.id], now: now) {
                outputs.append(output)
            }
        }
        stats.steps += 1
        refreshStats()
        return outputs
    }

    /// Samples the next token of every entry that samples, from its row of the step's logits.
    func sample(_ batch: Scheduler.Batch) -> [Int: Int32] {
        var sampled: [Int: Int32] = [:]
        sampledLogprobs.removeAll(keepingCapacity: true)
        let vocabulary = forward.config.vocabularySize
        var row = 0
        for entry in batch.entries where entry.samples {
            defer { row += 1 }
            guard var sequence = sequences[entry.id] else { continue }
            if sequence.outputCount == 0 {
                sequence.cachedPromptTokens = scheduler.requests[entry.id]?.cachedPromptTokens ?? 0
                stats.cachedPromptTokens += sequence.cachedPromptTokens
            }
            let token = logits.withUnsafeMutableBufferPointer { all in
                let logits = UnsafeMutableBufferPointer(rebasing: all[(row * vocabulary)..<((row + 1) * vocabulary)])
                if sequence.parameters.logprobs != nil {
                    rawLogits.withUnsafeMutableBufferPointer { _ = $0.update(fromContentsOf: logits) }
                }
                let banned = sequence.outputCount < sequence.parameters.minTokens ? sequence.banned : []
                sequence.sampler.adjust(logits, banned: banned)
                return sequence.sampler.sample(UnsafeBufferPointer(logits))
            }
            if let top = sequence.parameters.logprobs {
                sampledLogprobs[entry.id] = rawLogits.withUnsafeBufferPointer {
                    TokenLogprobs(logits: $0, token: token, top: top)
                }
            }
            sequences[entry.id] = sequence
            sampled[entry.id] = token
        }
        return sampled
    }

    /// Turns a sampled token into the completion's output: text (held back while it may start a stop
    /// string), finish reason, usage; retires finished sequences and releases deferred siblings.
    func emit(
        _ id: Int,
        token: Int32,
        logprobs: TokenLogprobs?,
        finished: FinishReason?,
        now: Double
    )
        -> RequestOutput?
    {
        guard var sequence = sequences[id] else { return nil }
        var output = RequestOutput(
            requestID: sequence.requestID,
            index: sequence.index,
            text: "",
            tokenIDs: [],
            logprobs: [],
            finishReason: finished,
            time: now
        )
        var reason = finished
        var stopString: String?
        if finished == .stop {
            // The scheduler stops on a stop token, which is not part of the output.
            if sequence.stopTokenIDs.contains(token) { output.stopReason = .token(token) }
        } else {
            sequence.sampler.observe(token)
            sequence.outputCount += 1
            output.tokenIDs = [token]
            if let logprobs { output.logprobs = [logprobs] }
            sequence.held.append(contentsOf: sequence.decoder.append(Int(token)).utf8)
            if let (index, stop) = Self.firstStop(sequence.stops, in: sequence.held) {
                sequence.held.removeSubrange(index...)
                stopString = String(decoding: stop, as: UTF8.self)
                reason = .stop
                output.stopReason = .string(stopString!)
            }
        }
        stats.generationTokens += 1
        if let last = sequence.lastToken {
            EngineStats.record(now - last, in: &stats.interTokenLatency)
        } else {
            sequence.firstToken = now
            EngineStats.record(now - sequence.arrival, in: &stats.timeToFirstToken)
        }
        sequence.lastToken = now
        if let reason {
            if stopString == nil { sequence.held.append(contentsOf: sequence.decoder.flush().utf8) }
            output.text = String(decoding: sequence.held, as: UTF8.self)
            output.finishReason = reason
            output.usage = Usage(
                promptTokens: sequence.promptTokens,
                completionTokens: sequence.outputCount,
                cachedPromptTokens: sequence.cachedPromptTokens
            )
            output.timings = RequestTimings(
                arrival: sequence.arrival,
                firstScheduled: sequence.firstScheduled ?? now,
                firstToken: sequence.firstToken ?? now,
                finished: now
            )
            EngineStats.record(now - sequence.arrival, in: &stats.endToEndLatency)
            stats.finished[reason, default: 0] += 1
            scheduler.abort(id)
            sequences[id] = nil
            requests[sequence.requestID]?.sequences.removeAll { $0 == id }
            if requests[sequence.requestID]?.sequences.isEmpty == true { requests[sequence.requestID] = nil }
        } else {
            let safe = Self.safeLength(sequence.held, holdBack: sequence.holdBack)
            output.text = String(decoding: sequence.held[..<safe], as: UTF8.self)
            sequence.held.removeSubrange(..<safe)
            sequences[id] = sequence
        }
        releaseDeferred(sequence.requestID)
        return output
    }

    /// Schedules a request's other completions once its first has computed the prompt (so its full
    /// blocks are in the prefix cache).
    func releaseDeferred(_ requestID: String) {
        guard let state = requests[requestID], !state.deferred.isEmpty else { return }
        for request in state.deferred {
            // Same prompt as the first completion: it fits, and the ids are new.
            try! scheduler.add(request)
        }
        requests[requestID]?.deferred = []
    }

    /// The earliest stop string in `text`: where it starts, and which.
    static func firstStop(_ stops: [[UInt8]], in text: [UInt8]) -> (Int, [UInt8])? {
        var best: (Int, [UInt8])?
        for stop in stops where stop.count <= text.count {
            for start in 0...(text.count - stop.count) where best.map({ start < $0.0 }) ?? true {
                if text[start..<(start + stop.count)].elementsEqual(stop) {
                    best = (start, stop)
                    break
                }
            }
        }
        return best
    }

    /// How much of `held` can be emitted: all but the last `holdBack` bytes (a stop string may begin
    /// there), never cutting a UTF-8 character.
    static func safeLength(_ held: [UInt8], holdBack: Int) -> Int {
        var cut = max(0, held.count - holdBack)
        while cut > 0 && cut < held.count && held[cut] & 0xC0 == 0x80 { cut -= 1 }
        return cut
    }

    func refreshStats() {
        stats.running = scheduler.running.count
        stats.waiting = scheduler.waiting.count + requests.values.reduce(0) { $0 + $1.deferred.count }
        stats.kvCacheUsage = scheduler.blocks.usage
        stats.prefixCacheQueries = scheduler.blocks.prefixQueryTokens
        stats.prefixCacheHits = scheduler.blocks.prefixHitTokens
    }

    /// Runs steps until every queued request has finished; returns all outputs in order (offline use).
    public func runToCompletion() -> [RequestOutput] {
        var outputs: [RequestOutput] = []
        while hasWork { outputs += step() }
        return outputs
    }

    /// Monotonic seconds.
    public static func now() -> Double { Double(DispatchTime.now().uptimeNanoseconds) / 1e9 }
}
