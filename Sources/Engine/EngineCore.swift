import Dispatch
import GGUF
import Grammar
import Models
import SwerveCore
import Tokenizers

/// The serving engine's synchronous core: requests in, one batched step at a time, incremental outputs
/// out (like vLLM's `EngineCore`, with `Engine` as its thread and the offline benchmarks calling `step()`
/// directly). It is the loop that ties the parts, each in its own file (the step drawn as data flows is in
/// this module's README):
///
/// - `Scheduler` decides the batch and the batch policy (decodes first, then prefill chunks; `n > 1`
///   siblings deferred, classification forks parked, drafts budgeted), and applies what sampling gave;
/// - `ModelRunner` runs the batch: KV copies, one forward pass, the logits rows;
/// - `LogitsPipeline` turns each sampled row into a token (bans, bias, penalties, grammar mask, sampler);
/// - `PendingClassification` scores a choice between literals from rows instead of sampling it;
/// - `JumpForwardPolicy` appends what the grammar alone decides and drafts the text it forces;
/// - `OutputProcessor` turns appended tokens into text deltas, stop strings and finish reasons.
///
/// A draft token is kept only if sampling at its position picks it (speculative decoding with the grammar
/// as the draft model), so the output is exactly what masked decoding gives, token for token. Within a
/// step nothing calls back into the scheduler between `schedule` and `update`, nor after `update`.
/// Not thread-safe: one caller at a time.
public final class EngineCore: @unchecked Sendable {
    public let configuration: EngineConfiguration
    public let plan: KVCachePlan
    public let tokenizer: any Tokenizer
    /// End-of-sequence ids (EOS, end of turn) that stop a completion unless `ignoreEOS`.
    public let endOfGeneration: Set<Int32>
    public var maxModelLen: Int { plan.maxModelLen }
    public var forward: any ForwardPass { runner.forward }
    /// Compiled structured-output constraints for this model's vocabulary (shared by all requests).
    public let constraints: ConstraintCache
    let runner: ModelRunner
    public internal(set) var scheduler: Scheduler
    var pipeline: LogitsPipeline
    var jumpForward: JumpForwardPolicy
    /// Drafts from `--speculative-config`'s proposer, verified as jump-forward's are, and the gate each new
    /// sequence starts with (tests turn it off to compare).
    let proposer: (any DraftProposer)?
    var draftGate = DraftGate()
    var outputs: OutputProcessor
    var sequences: [Int: SequenceState] = [:]
    /// Each request's completions (sequence ids).
    var requests: [String: [Int]] = [:]
    var nextSequenceID = 0
    /// Scoring forks: fork sequence id -> the sequence it scores alternatives for.
    var scoringParent: [Int: Int] = [:]
    /// The step's log-probabilities, for the sequences that asked (one per appended token), and the state a
    /// forking sequence takes if the scheduler cannot make its forks.
    var sampledLogprobs: [Int: [TokenLogprobs]] = [:]
    var unforked: [Int: SequenceState] = [:]
    /// Sequences whose classification forks all reported this step (resumed by `update`).
    var resumed: [Int] = []
    /// What sampling gave each entry this step (`sample`), for `Scheduler.update`.
    var results: [Int: Scheduler.Sampled] = [:]
    /// The last step's outputs, kept to reuse their array once the caller lets go of it.
    var emittedStorage: [RequestOutput] = []
    public internal(set) var stats = EngineStats()

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
        let configuration = try configuration.resolved(for: config)
        let forward = try ModelRegistry.makeForward(
            gguf: gguf,
            backend: backend,
            maxBatch: configuration.maxNumBatchedTokens,
            maxSequences: configuration.logitRows
        )
        plan = try KVCachePlan(
            configuration,
            maxModelLen: configuration.maxModelLen!,
            bytesPerToken: forward.kvBytesPerToken(configuration.kvCacheDType),
            weightBytes: gguf.tensors.reduce(0) { $0 + $1.byteCount }
        )
        self.configuration = configuration
        scheduler = try Scheduler(
            configuration.scheduling,
            blocks: BlockManager(
                blockCount: plan.blocks,
                blockSize: plan.blockSize,
                prefixCaching: configuration.enablePrefixCaching
            )
        )
        self.tokenizer = tokenizer
        endOfGeneration = Generator.endOfGenerationIDs(tokenizer)
        constraints = ConstraintCache(
            vocabulary: TokenVocabulary(
                tokenBytes: (0..<tokenizer.vocabularySize).map { tokenizer.bytes(of: $0, renderSpecial: false) },
                endOfSequence: endOfGeneration,
                size: config.vocabularySize
            )
        )
        runner = ModelRunner(forward: forward, plan: plan, configuration: configuration)
        pipeline = LogitsPipeline(
            vocabularySize: config.vocabularySize,
            endOfGeneration: endOfGeneration,
            logitRows: configuration.logitRows
        )
        jumpForward = JumpForwardPolicy(
            enabled: configuration.jumpForward,
            maxDraftTokens: configuration.maxJumpForwardTokens,
            tokenizer: tokenizer,
            endOfGeneration: endOfGeneration
        )
        outputs = OutputProcessor(tokenizer: tokenizer, maxModelLen: plan.maxModelLen)
        proposer = try makeDraftProposer(configuration.speculative, target: gguf, backend: backend, plan: plan)
        if let tiers = configuration.kvTiers {
            let store = try KVTierStore(
                tiers,
                blockBytes: backend.kvBlockBytes(runner.kv),
                layout: "\(type(of: backend)) kv \(plan.type) block \(plan.blockSize)"
            )
            self.tiers = store
            scheduler.tiers = store
            stats.kvTiers = store.stats
        } else {
            self.tiers = nil
        }
    }

    /// The KV cache's tiers below the pool (`configuration.kvTiers`).
    public let tiers: KVTierStore?

    /// Moves blocks between the pool and the lower tiers for `batch`, before it runs: the evicted blocks'
    /// KV out (unless a tier holds them already), then the loaded blocks' in.
    func exchangeBlocks(_ batch: Scheduler.Batch) {
        guard let tiers else { return }
        let backend = forward.backend
        for eviction in batch.evictions where !tiers.contains(eviction.key) {
            let data = KVBlockData(key: eviction.key, byteCount: tiers.blockBytes)
            backend.readKVBlock(runner.kv, block: eviction.block, into: data.bytes)
            tiers.offload(data)
        }
        for load in batch.loads {
            backend.writeKVBlock(runner.kv, block: load.block, from: UnsafeRawBufferPointer(load.data.bytes))
            tiers.loaded(load.data)
        }
    }

    /// Stops the tiers' thread after writing what a restart can reuse to the disk tier: the host tier's
    /// blocks and the pool's cached ones (a graceful stop leaves the disk tier warm). Engine thread, once.
    public func shutDownTiers() {
        guard let tiers else { return }
        var blocks: [KVBlockData] = []
        if tiers.hasDiskTier {
            for (key, block) in scheduler.blocks.cachedBlocks where !tiers.contains(key) {
                let data = KVBlockData(key: key, byteCount: tiers.blockBytes)
                forward.backend.readKVBlock(runner.kv, block: block, into: data.bytes)
                blocks.append(data)
            }
        }
        tiers.shutdown(persisting: blocks)
    }

    public var hasWork: Bool { scheduler.hasWork }

    /// Where each step's KV-cache events go (`--kv-events-config`); nil records none.
    public var kvEvents: (any KVEventSink)? {
        didSet {
            scheduler.recordsKVEvents = kvEvents != nil
            tiers?.events = kvEvents
        }
    }

    /// Forgets every cached prefix block (vLLM's `reset_prefix_cache`), publishing `AllBlocksCleared`;
    /// false, changing nothing, while a request holds blocks.
    public func resetPrefixCache() -> Bool {
        let reset = scheduler.resetPrefixCache()
        publishKVEvents()
        return reset
    }

    /// The chain hashes of the blocks in the prefix cache (what a KV-event subscriber should hold).
    public var cachedBlockHashes: [UInt64] { scheduler.blocks.cachedHashes }

    func publishKVEvents() {
        guard let kvEvents else { return }
        let events = scheduler.takeKVEvents()
        if !events.isEmpty { kvEvents.publish(events) }
    }

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
        let stopTokens = (p.ignoreEOS ? [] : endOfGeneration).union(p.stopTokenIDs)
        let arrival = arrival ?? Self.now()
        let matcher = p.constraint.map(GrammarMatcher.init)
        let classification = p.classify ? matcher.flatMap { PendingClassification(at: $0, tokenizer: tokenizer) } : nil
        // The first draft: the text the grammar forces, then the proposer's guess after it.
        // A classifying request gets none: its tokens are decided outside sampling, so it keeps no history.
        let proposes = !p.classify && (proposer.map { matcher == nil || $0.draftsConstrained } ?? false)
        var draft = classification == nil ? matcher.map(jumpForward.draft) ?? [] : []
        if proposes { extend(&draft, after: request.prompt, matcher: matcher) }
        var group: [Scheduler.Request] = []
        for index in 0..<p.n {
            var parameters = p
            parameters.seed = p.seed.map { $0 &+ UInt64(index) }
            let id = nextSequenceID + index
            sequences[id] = SequenceState(
                requestID: request.id,
                sampler: Sampler(parameters, prompt: request.prompt),
                matcher: matcher,
                banned: p.minTokens > 0 ? stopTokens.sorted() : [],
                classification: classification,
                history: proposes ? request.prompt : [],
                promptLength: request.prompt.count,
                draftGate: draftGate
            )
            outputs.add(
                id,
                requestID: request.id,
                index: index,
                parameters: p,
                prompt: request.prompt.count,
                arrival: arrival
            )
            group.append(
                Scheduler.Request(
                    id: id,
                    prompt: request.prompt,
                    maxTokens: p.maxTokens,
                    stopTokens: stopTokens,
                    draft: draft
                )
            )
        }
        // Checked above: the ids are new and the prompt fits.
        try! scheduler.add(group: group)
        nextSequenceID += p.n
        requests[request.id] = group.map(\.id)
        stats.promptTokens += request.prompt.count
    }

    /// Drops a request (all its completions) at once, freeing its blocks; unknown ids are ignored.
    public func abort(_ requestID: String) {
        guard let ids = requests.removeValue(forKey: requestID) else { return }
        for id in ids where sequences[id] != nil {
            stats.aborted += 1
            scheduler.abort(id)
            for child in sequences[id]?.classification?.children.keys ?? [:].keys { scoringParent[child] = nil }
            sequences[id] = nil
            outputs.remove(id)
        }
        refreshStats()
    }

    /// Runs one step: schedules a batch, runs it, samples, and returns what each sampled completion gained.
    public func step() -> [RequestOutput] {
        // Last step's outputs first: they share the sequences' token arrays, which this step reuses.
        var emitted = emittedStorage.takeEmptied()
        let batch = scheduler.schedule()
        stats.preemptions += batch.preempted.count
        exchangeBlocks(batch)
        guard !batch.entries.isEmpty else {
            // Only requests whose blocks are being read from disk: wait for a read rather than spin.
            if scheduler.hasWork { tiers?.waitForReads(seconds: 0.002) }
            publishKVEvents()
            refreshStats()
            return []
        }
        outputs.scheduled(batch, at: Self.now())
        stats.prefillTokens += batch.prefillTokens
        let head =
            configuration.sparseHead
            ? pipeline.sparseHead(batch, sequences, limit: configuration.maxSparseHeadTokens) : nil
        if head != nil { stats.sparseHeadSteps += 1 }
        runner.run(batch, head: head)
        sample(batch)
        let outcomes = scheduler.update(batch, results: results)
        let now = Self.now()
        for entry in batch.entries where entry.samples && sequences[entry.id] != nil {
            guard let result = results[entry.id], let outcome = outcomes[entry.id] else { continue }
            stats.observeDraft(entry.draft, accepted: result.acceptedDraft)
            if outcome.forked && outcome.appended == 0 { continue }
            if !outcome.forked, let fallback = unforked[entry.id] {
                // The pool could not hold the forks: the first tokens decided.
                for child in sequences[entry.id]!.classification!.children.keys { scoringParent[child] = nil }
                sequences[entry.id] = fallback
            }
            emit(entry.id, result, outcome, now: now, into: &emitted)
        }
        for id in resumed {
            if let outcome = outcomes[id] { emit(id, results[id]!, outcome, now: now, into: &emitted) }
        }
        stats.steps += 1
        publishKVEvents()
        refreshStats()
        emittedStorage = emitted
        return emitted
    }

    /// Hands completion `id`'s appended tokens to the output processor and retires it once finished.
    func emit(
        _ id: Int,
        _ result: Scheduler.Sampled,
        _ outcome: Scheduler.Outcome,
        now: Double,
        into emitted: inout [RequestOutput]
    ) {
        guard var sequence = sequences[id] else { return }
        sequence.generated += outcome.appended
        let reports = sequence.reports
        sequence.reports = []
        sequences[id] = sequence
        guard
            let output = outputs.process(
                id,
                tokens: result.tokens,
                outcome,
                logprobs: sampledLogprobs[id] ?? [],
                classifications: reports,
                now: now
            )
        else { return }
        stats.observe(output, stopToken: outcome.stoppedByToken)
        if output.isFinished, let proposer, !sequence.history.isEmpty {
            let end = min(sequence.history.count, sequence.promptLength + sequence.generated)
            proposer.finished(Array(sequence.history[..<end]), promptLength: sequence.promptLength)
        }
        if output.isFinished {
            sequences[id] = nil
            requests[sequence.requestID]?.removeAll { $0 == id }
            if requests[sequence.requestID]?.isEmpty == true { requests[sequence.requestID] = nil }
        }
        emitted.append(output)
    }

    func refreshStats() {
        stats.running = scheduler.running.count
        stats.waiting = scheduler.waiting.count + scheduler.deferredCount
        stats.kvCacheUsage = scheduler.blocks.usage
        stats.prefixCacheQueries = scheduler.blocks.prefixQueryTokens
        stats.prefixCacheHits = scheduler.blocks.prefixHitTokens
        if let tiers { stats.kvTiers = tiers.stats }
    }

    /// Runs steps until every queued request has finished; returns all outputs in order (offline use).
    public func runToCompletion() -> [RequestOutput] {
        var outputs: [RequestOutput] = []
        while hasWork { outputs += step() }
        return outputs
    }

    /// Monotonic seconds.
    public static func now() -> Double { Monotonic.seconds() }
}
