import Dispatch
import GGUF
import Grammar
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
///
/// Structured output: a constrained sequence samples only tokens its grammar allows (greedy checks the
/// best token first and builds the whole mask only if the grammar refuses it). With jump-forward on, a
/// token that is the only one the grammar allows is appended at once (no forward pass decides it), and
/// text the grammar forces is tokenized into a draft that the next step runs in the same forward pass;
/// each draft token is kept only if sampling at its position picks it (speculative decoding with the
/// grammar as the draft model), so the output is exactly what masked decoding would give, token for
/// token. An output that ends where its grammar ends is validated before it is returned.
/// Not thread-safe: one caller at a time.
public final class EngineCore: @unchecked Sendable {
    public let configuration: EngineConfiguration
    public let plan: KVCachePlan
    public let tokenizer: any Tokenizer
    /// End-of-sequence ids (EOS, end of turn) that stop a completion unless `ignoreEOS`.
    public let endOfGeneration: Set<Int32>
    public var maxModelLen: Int { plan.maxModelLen }
    public let forward: any ForwardPass
    /// Compiled structured-output constraints for this model's vocabulary (shared by all requests).
    public let constraints: ConstraintCache
    let kv: BackendTensor
    let layout: BatchLayout
    var logits: [Float]
    var rawLogits: [Float]
    /// The union of a step's grammar masks (one bit per token), for the sparse output head.
    var headMask: [UInt64]
    /// The step's log-probabilities, for the sequences that asked (one per appended token).
    var sampledLogprobs: [Int: [TokenLogprobs]] = [:]
    public internal(set) var scheduler: Scheduler
    var sequences: [Int: SequenceState] = [:]
    var requests: [String: RequestState] = [:]
    var nextSequenceID = 0
    /// Scoring forks: child sequence id -> the sequence it scores alternatives for.
    var scoringParent: [Int: Int] = [:]
    /// Sequences whose scoring forks start after this step's update.
    var pendingForks: [Int] = []
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
        /// The structured-output constraint's position after the tokens so far.
        var matcher: GrammarMatcher?
        /// The whole output's bytes, kept to validate a constrained answer.
        var text: [UInt8] = []
        /// One-pass classification due at the next sampled row, or waiting for its scoring forks.
        var classification: PendingClassification?
        /// Decided classifications not yet reported in an output.
        var reports: [Classification] = []
    }

    /// A choice between literals being scored: each alternative's tokens and text, its log-likelihood so
    /// far, and the forked sequences still scoring alternatives of more than one token.
    struct PendingClassification {
        var alternatives: [[Int32]]
        var texts: [String]
        var scores: [Float]
        var children: [Int: Int] = [:]
        var reported = Set<Int>()
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
        let speculative = configuration.jumpForward ? configuration.maxSpeculativeTokens : 0
        let logitRows = min(configuration.maxNumSeqs + speculative, configuration.maxNumBatchedTokens)
        forward = try ModelRegistry.makeForward(
            gguf: gguf,
            backend: backend,
            maxBatch: configuration.maxNumBatchedTokens,
            maxSequences: logitRows
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
                enableChunkedPrefill: configuration.enableChunkedPrefill,
                maxSpeculativeTokens: logitRows - configuration.maxNumSeqs,
                maxSpeculativeBatch: configuration.maxJumpForwardBatch
            ),
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
        kv = forward.makeKVCache(blocks: plan.blocks, blockSize: plan.blockSize, type: plan.type)
        layout = BatchLayout(blockSize: plan.blockSize)
        layout.reserve(
            rows: configuration.maxNumBatchedTokens,
            sequences: configuration.maxNumSeqs,
            blocks: configuration.maxNumSeqs * ((maxModelLen + plan.blockSize - 1) / plan.blockSize),
            headColumns: min(configuration.maxSparseHeadTokens, config.vocabularySize)
        )
        logits = [Float](repeating: 0, count: logitRows * config.vocabularySize)
        rawLogits = [Float](repeating: 0, count: config.vocabularySize)
        headMask = [UInt64](repeating: 0, count: (config.vocabularySize + 63) / 64)
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
        let matcher = p.constraint.map(GrammarMatcher.init)
        let classification = p.classify ? matcher.flatMap(classificationPoint) : nil
        let draft = classification == nil ? matcher.map { forcedDraft(after: $0) } ?? [] : []
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
                arrival: arrival,
                matcher: matcher,
                classification: classification
            )
            let scheduled = Scheduler.Request(
                id: id,
                prompt: request.prompt,
                maxTokens: p.maxTokens,
                stopTokens: stopTokens,
                draft: draft
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
            for child in sequences[id]?.classification?.children.keys ?? [:].keys {
                scheduler.abort(child)
                scoringParent[child] = nil
            }
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
            if let prompt = scheduler.requests[entry.id]?.prompt.count {
                stats.prefillTokens += max(
                    0,
                    min(entry.firstPosition + entry.tokens.count, prompt) - entry.firstPosition
                )
            }
            if let sequence = sequences[entry.id], sequence.firstScheduled == nil {
                sequences[entry.id]!.firstScheduled = started
                EngineStats.record(started - sequence.arrival, in: &stats.queueTime)
            }
            entry.tokens.withUnsafeBufferPointer {
                layout.append(
                    $0,
                    firstPosition: entry.firstPosition,
                    blockTable: entry.blockTable[...],
                    logitRows: entry.logitRows
                )
            }
        }
        restrictHead(batch)
        logits.withUnsafeMutableBufferPointer { forward.forward(layout, cache: kv, logits: $0) }
        let sampled = sample(batch)
        let outcomes = scheduler.update(batch, results: sampled)
        let now = Self.now()
        var outputs = startScoringForks(now: now)
        for entry in batch.entries where entry.samples && scoringParent[entry.id] == nil {
            guard let result = sampled[entry.id], let outcome = outcomes[entry.id] else { continue }
            // A sequence whose row went to classification forks has nothing to report yet.
            if result.tokens.isEmpty && sequences[entry.id]?.classification != nil { continue }
            stats.draftTokens += entry.draft
            stats.acceptedDraftTokens += result.acceptedDraft
            if let output = emit(entry.id, result, outcome, logprobs: sampledLogprobs[entry.id] ?? [], now: now) {
                outputs.append(output)
            }
        }
        outputs += finishScoring(batch, now: now)
        stats.steps += 1
        refreshStats()
        return outputs
    }

    /// Limits the step's output head to the tokens the grammars allow at its logits rows (the state after
    /// each draft token for a draft's rows), when every sampled row is constrained and needs nothing of
    /// the other tokens: no log-probabilities, classification or scoring fork, no dead grammar. The masked
    /// logits, and so the tokens chosen, are those of the full head.
    func restrictHead(_ batch: Scheduler.Batch) {
        guard configuration.sparseHead else { return }
        var any = false
        headMask.withUnsafeMutableBufferPointer { $0.update(repeating: 0) }
        for entry in batch.entries where entry.samples {
            guard scoringParent[entry.id] == nil, let sequence = sequences[entry.id], var matcher = sequence.matcher,
                sequence.parameters.logprobs == nil, !sequence.parameters.classify
            else { return }
            let draft = entry.draftTokens
            for i in 0..<entry.logitRows {
                guard !matcher.isDead else { return }
                let mask = matcher.automaton.mask(matcher.state)
                headMask.withUnsafeMutableBufferPointer { union in
                    for w in 0..<min(union.count, mask.count) { union[w] |= mask[w] }
                }
                if i < entry.draft { matcher.accept(draft[draft.startIndex + i]) }
            }
            any = true
        }
        guard any, headMask.reduce(0, { $0 + $1.nonzeroBitCount }) <= configuration.maxSparseHeadTokens else { return }
        headMask.withUnsafeBufferPointer { layout.restrictHead(to: $0) }
        stats.sparseHeadSteps += 1
    }

    /// Samples every entry that samples: its draft tokens are checked in order against what sampling picks
    /// at their rows (kept while equal), then one new token; with a constraint, the tokens it forces follow
    /// (appended as they are) and the text it forces becomes the next draft.
    func sample(_ batch: Scheduler.Batch) -> [Int: Scheduler.Sampled] {
        var results: [Int: Scheduler.Sampled] = [:]
        sampledLogprobs.removeAll(keepingCapacity: true)
        var row = 0
        for entry in batch.entries where entry.samples {
            defer { row += entry.logitRows }
            if let parent = scoringParent[entry.id] {
                scoreFork(entry, row: row, parent: parent)
                results[entry.id] = Scheduler.Sampled(tokens: [])
                continue
            }
            guard var sequence = sequences[entry.id] else { continue }
            if sequence.outputCount == 0 {
                sequence.cachedPromptTokens = scheduler.requests[entry.id]?.cachedPromptTokens ?? 0
                stats.cachedPromptTokens += sequence.cachedPromptTokens
            }
            var result = Scheduler.Sampled(tokens: [])
            var logprobs: [TokenLogprobs] = []
            let draft = entry.draftTokens
            var forking = false
            for i in 0..<entry.logitRows {
                // At a choice between literals, a classifying request scores the alternatives with this row
                // instead of sampling from it.
                if sequence.parameters.classify, let matcher = sequence.matcher {
                    if sequence.classification == nil { sequence.classification = classificationPoint(matcher) }
                    if sequence.classification != nil {
                        if scoreFirstTokens(row: row + i, &sequence) {
                            pendingForks.append(entry.id)
                            forking = true
                        } else {
                            result.tokens += decide(&sequence)
                        }
                        break
                    }
                }
                let token = choose(row: row + i, &sequence, earlier: result.tokens.count, logprobs: &logprobs)
                result.tokens.append(token)
                sequence.sampler.observe(token)
                if let matcher = sequence.matcher, configuration.jumpForward {
                    matcher.automaton.recordChoice(matcher.state, token)
                }
                sequence.matcher?.accept(token)
                guard i < entry.draft, token == draft[draft.startIndex + i] else { break }
                result.acceptedDraft += 1
            }
            if !forking { proceed(&sequence, &result) }
            if sequence.parameters.logprobs != nil { sampledLogprobs[entry.id] = logprobs }
            sequences[entry.id] = sequence
            results[entry.id] = result
        }
        return results
    }

    /// Scores every alternative's first token of `sequence`'s classification with logits row `row`;
    /// whether some alternative is longer (and needs a scoring fork).
    func scoreFirstTokens(row: Int, _ sequence: inout SequenceState) -> Bool {
        guard var pending = sequence.classification else { return false }
        let logTotal = Self.logSumExp(row: row, vocabulary: forward.config.vocabularySize, logits)
        let base = row * forward.config.vocabularySize
        for (i, alternative) in pending.alternatives.enumerated() {
            pending.scores[i] = logits[base + Int(alternative[0])] - logTotal
        }
        sequence.classification = pending
        return pending.alternatives.contains { $0.count > 1 }
    }

    /// What follows a constrained sequence's new tokens: a classification point (scored at its next row),
    /// or, with jump-forward, the tokens the grammar alone decides (the only one it allows: no logits
    /// needed, unless the request wants their log-probabilities), whether it must end, and the draft of
    /// the text it forces.
    func proceed(_ sequence: inout SequenceState, _ result: inout Scheduler.Sampled) {
        guard var matcher = sequence.matcher, let last = result.tokens.last, !endOfGeneration.contains(last) else {
            return
        }
        defer { sequence.matcher = matcher }
        while !matcher.isDead && !matcher.mustEnd {
            if sequence.parameters.classify, let point = classificationPoint(matcher) {
                sequence.classification = point
                return
            }
            guard configuration.jumpForward, sequence.parameters.logprobs == nil,
                result.tokens.count < sequence.parameters.maxTokens,
                let only = matcher.automaton.onlyToken(matcher.state)
            else { break }
            result.tokens.append(only)
            sequence.sampler.observe(only)
            matcher.automaton.recordChoice(matcher.state, only)
            matcher.accept(only)
        }
        guard configuration.jumpForward else { return }
        result.end = matcher.mustEnd
        if !result.end && !matcher.isDead { result.draft = forcedDraft(after: matcher) }
    }

    /// The alternatives to classify when `matcher` is inside a choice between literals (each tokenized
    /// as the tokenizer would, and checked against the grammar); nil where classification does not apply
    /// (not a literal choice, more than 64 alternatives, an alternative over 32 tokens or not whole UTF-8).
    func classificationPoint(_ matcher: GrammarMatcher) -> PendingClassification? {
        guard let literals = matcher.automaton.literalAlternatives(matcher.state), literals.count <= 64 else {
            return nil
        }
        var alternatives: [[Int32]] = []
        var texts: [String] = []
        for bytes in literals {
            guard let text = String(validating: bytes, as: UTF8.self) else { return nil }
            let ids = tokenizer.encode(text, parseSpecial: false, addBOS: false).map(Int32.init)
            var check = matcher
            guard !ids.isEmpty, ids.count <= 32, ids.allSatisfy({ check.accept($0) }) else { return nil }
            alternatives.append(ids)
            // A JSON string value's quotes are part of the literal; report the value itself.
            let quoted = text.count >= 2 && text.hasPrefix("\"") && text.hasSuffix("\"")
            texts.append(
                quoted ? String(text.dropFirst().dropLast()) : text.hasSuffix("\"") ? String(text.dropLast()) : text
            )
        }
        return PendingClassification(
            alternatives: alternatives,
            texts: texts,
            scores: [Float](repeating: 0, count: alternatives.count)
        )
    }

    /// log Σ exp over logits row `row`.
    static func logSumExp(row: Int, vocabulary: Int, _ logits: [Float]) -> Float {
        logits.withUnsafeBufferPointer { all in
            TokenLogprobs.logSumExp(UnsafeBufferPointer(rebasing: all[(row * vocabulary)..<((row + 1) * vocabulary)]))
        }
    }

    /// Adds a scoring fork's rows to its alternative's log-likelihood: row j predicts the alternative's
    /// token j + 1.
    func scoreFork(_ entry: Scheduler.Entry, row: Int, parent: Int) {
        guard var sequence = sequences[parent], var pending = sequence.classification,
            let index = pending.children[entry.id]
        else { return }
        let alternative = pending.alternatives[index]
        let vocabulary = forward.config.vocabularySize
        for j in 0..<entry.logitRows where j + 1 < alternative.count {
            let logTotal = Self.logSumExp(row: row + j, vocabulary: vocabulary, logits)
            pending.scores[index] += logits[(row + j) * vocabulary + Int(alternative[j + 1])] - logTotal
        }
        pending.reported.insert(entry.id)
        sequence.classification = pending
        sequences[parent] = sequence
    }

    /// The best alternative of a finished classification (reported in the next output); the matcher and
    /// sampler advance over its tokens.
    func decide(_ sequence: inout SequenceState) -> [Int32] {
        guard let pending = sequence.classification else { return [] }
        var best = 0
        for i in pending.scores.indices where pending.scores[i] > pending.scores[best] { best = i }
        sequence.reports.append(Classification(alternatives: pending.texts, logprobs: pending.scores, chosen: best))
        sequence.classification = nil
        for token in pending.alternatives[best] {
            sequence.sampler.observe(token)
            sequence.matcher?.accept(token)
        }
        return pending.alternatives[best]
    }

    /// Forks one scoring sequence per alternative of more than one token for each sequence whose
    /// classification row came this step (sharing its KV blocks, the partly filled last one copied), and
    /// parks the sequence until they are scored. If the pool cannot hold them, the first-token scores
    /// decide at once; the outputs of such sequences are returned.
    func startScoringForks(now: Double) -> [RequestOutput] {
        var outputs: [RequestOutput] = []
        for parent in pendingForks {
            guard var sequence = sequences[parent], var pending = sequence.classification else { continue }
            var complete = true
            for (i, alternative) in pending.alternatives.enumerated() where alternative.count > 1 {
                let child = nextSequenceID
                nextSequenceID += 1
                guard let copies = scheduler.fork(parent, child: child, tokens: Array(alternative.dropLast())) else {
                    complete = false
                    break
                }
                for copy in copies {
                    forward.backend.copyKVBlock(kv, from: copy.source, to: copy.destination, positions: copy.positions)
                }
                pending.children[child] = i
                scoringParent[child] = parent
            }
            if complete {
                sequence.classification = pending
                sequences[parent] = sequence
                scheduler.park(parent)
                continue
            }
            for child in pending.children.keys {
                scheduler.abort(child)
                scoringParent[child] = nil
            }
            pending.children = [:]
            sequence.classification = pending
            if let output = resume(parent, &sequence, now: now) { outputs.append(output) }
        }
        pendingForks = []
        return outputs
    }

    /// Finishes the classifications whose forks all reported this step: forks freed, best alternative
    /// appended to the sequence, which resumes.
    func finishScoring(_ batch: Scheduler.Batch, now: Double) -> [RequestOutput] {
        var done = Set<Int>()
        for entry in batch.entries {
            guard let parent = scoringParent[entry.id], let pending = sequences[parent]?.classification else {
                continue
            }
            if pending.reported.count == pending.children.count { done.insert(parent) }
        }
        var outputs: [RequestOutput] = []
        for parent in done.sorted() {
            guard var sequence = sequences[parent] else { continue }
            for child in sequence.classification?.children.keys ?? [:].keys {
                scheduler.abort(child)
                scoringParent[child] = nil
            }
            scheduler.unpark(parent)
            if let output = resume(parent, &sequence, now: now) { outputs.append(output) }
        }
        return outputs
    }

    /// Appends a decided classification's tokens (and what the grammar forces after them) to `id` and
    /// returns its output.
    func resume(_ id: Int, _ sequence: inout SequenceState, now: Double) -> RequestOutput? {
        var result = Scheduler.Sampled(tokens: decide(&sequence))
        proceed(&sequence, &result)
        sequences[id] = sequence
        guard let outcome = scheduler.append(id, result) else { return nil }
        return emit(id, result, outcome, logprobs: [], now: now)
    }

    /// One token from logits row `row` for `sequence`, `earlier` tokens after its last output token:
    /// penalties and bans, then the constraint's mask (for greedy, only if the best token is refused), then
    /// the sampler.
    func choose(row: Int, _ sequence: inout SequenceState, earlier: Int, logprobs: inout [TokenLogprobs]) -> Int32 {
        let vocabulary = forward.config.vocabularySize
        return logits.withUnsafeMutableBufferPointer { all in
            let logits = UnsafeMutableBufferPointer(rebasing: all[(row * vocabulary)..<((row + 1) * vocabulary)])
            if sequence.parameters.logprobs != nil {
                rawLogits.withUnsafeMutableBufferPointer { _ = $0.update(fromContentsOf: logits) }
            }
            let banned = sequence.outputCount + earlier < sequence.parameters.minTokens ? sequence.banned : []
            sequence.sampler.adjust(logits, banned: banned)
            var token: Int32
            if let matcher = sequence.matcher, !matcher.isDead {
                let best = sequence.sampler.isGreedy ? Sampler.argmax(UnsafeBufferPointer(logits)) : -1
                if best >= 0 && matcher.allows(best) {
                    token = best
                } else if Self.applyMask(matcher.automaton.mask(matcher.state), to: logits) {
                    token = sequence.sampler.sample(UnsafeBufferPointer(logits))
                } else {
                    // Nothing the grammar allows survived the bans (min_tokens against a finished grammar):
                    // the grammar wins, and the output ends.
                    token = endOfGeneration.min() ?? 0
                }
            } else {
                token = sequence.sampler.sample(UnsafeBufferPointer(logits))
            }
            if let top = sequence.parameters.logprobs {
                logprobs.append(rawLogits.withUnsafeBufferPointer { TokenLogprobs(logits: $0, token: token, top: top) })
            }
            return token
        }
    }

    /// Sets every logit the mask refuses to -inf; false when nothing finite is left.
    static func applyMask(_ mask: [UInt64], to logits: UnsafeMutableBufferPointer<Float>) -> Bool {
        var alive = false
        mask.withUnsafeBufferPointer { words in
            for w in 0..<words.count {
                let word = words[w]
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
        }
        return alive
    }

    /// The draft for the text the grammar forces after `matcher` (see `GrammarAutomaton.forcedTokens`).
    func forcedDraft(after matcher: GrammarMatcher) -> [Int32] {
        guard configuration.jumpForward else { return [] }
        return matcher.automaton.forcedTokens(after: matcher.state, limit: configuration.maxJumpForwardTokens) {
            self.tokenizer.encode(String(decoding: $0, as: UTF8.self), parseSpecial: false, addBOS: false).map(
                Int32.init
            )
        }
    }

    /// Turns a step's result for one completion into its output: text of the appended tokens (held back
    /// while it may start a stop string), finish reason, usage; retires finished sequences (validating a
    /// constrained answer that ended with its grammar) and releases deferred siblings.
    func emit(
        _ id: Int,
        _ result: Scheduler.Sampled,
        _ outcome: Scheduler.Outcome,
        logprobs: [TokenLogprobs],
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
            finishReason: outcome.reason,
            time: now
        )
        output.classifications = sequence.reports
        sequence.reports = []
        var reason = outcome.reason
        var stopString: String?
        for (i, token) in result.tokens.prefix(outcome.appended).enumerated() {
            sequence.outputCount += 1
            output.tokenIDs.append(token)
            if i < logprobs.count { output.logprobs.append(logprobs[i]) }
            let piece = sequence.decoder.append(Int(token)).utf8
            sequence.held.append(contentsOf: piece)
            if sequence.matcher != nil { sequence.text.append(contentsOf: piece) }
            if let (index, stop) = Self.firstStop(sequence.stops, in: sequence.held) {
                sequence.held.removeSubrange(index...)
                stopString = String(decoding: stop, as: UTF8.self)
                reason = .stop
                output.stopReason = .string(stopString!)
                break
            }
        }
        if outcome.stoppedByToken && stopString == nil {
            let token = result.tokens[outcome.appended]
            // The scheduler stops on a stop token, which is not part of the output.
            if sequence.stopTokenIDs.contains(token) { output.stopReason = .token(token) }
        }
        stats.generationTokens += output.tokenIDs.count + (outcome.stoppedByToken ? 1 : 0)
        if let last = sequence.lastToken {
            EngineStats.record(now - last, in: &stats.interTokenLatency)
        } else {
            sequence.firstToken = now
            EngineStats.record(now - sequence.arrival, in: &stats.timeToFirstToken)
        }
        sequence.lastToken = now
        if let reason {
            if stopString == nil {
                let tail = sequence.decoder.flush().utf8
                sequence.held.append(contentsOf: tail)
                if sequence.matcher != nil { sequence.text.append(contentsOf: tail) }
            }
            output.text = String(decoding: sequence.held, as: UTF8.self)
            output.finishReason = reason
            if let matcher = sequence.matcher, reason == .stop, output.stopReason == nil {
                output.constraintViolation = matcher.constraint.violation(
                    String(decoding: sequence.text, as: UTF8.self)
                )
                if output.constraintViolation != nil { stats.constraintViolations += 1 }
            }
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
