import SwerveCore

/// Continuous batching as a pure state machine (no model, no I/O): each `schedule()` builds one step's batch
/// from running and waiting requests under vLLM's limits, and `update` applies the tokens the step sampled.
///
/// Per step, at most `maxNumSeqs` sequences and `maxNumBatchedTokens` tokens: running requests first (a
/// decode takes one token; a prompt still being prefilled takes the next chunk), then waiting requests in
/// arrival order, each reusing its longest cached prefix. With chunked prefill on, a prompt longer than the
/// remaining budget is split across steps so decodes keep flowing; off, it waits for a step with room for
/// all of it. When the KV pool runs out, the most recently admitted running request is preempted: its
/// blocks are freed and it goes back to the front of the queue, to be recomputed (prompt and output so
/// far) later, so its output is unchanged.
///
/// Speculative tokens: a request may carry a `draft` (tokens proposed after its last sampled one: jump-forward
/// decoding's grammar-forced text). A step that reaches the end of the request's real tokens also runs the
/// draft, within `maxSpeculativeTokens` per step, so one forward pass yields logits for every draft position;
/// `update` then keeps the draft tokens the sampler accepted and discards the rest (their KV slots are simply
/// overwritten later).
///
/// The batch policy is decided here, as in vLLM v1's scheduler, and the engine only reports what sampling
/// gave: completions of one request after the first wait (`add(group:)`) until the first has
/// computed the prompt, so they find it in the prefix cache; a result may ask for scoring forks, which are
/// made in `update` (their KV block copies travel in the next batch) while the request is parked, and a
/// result for a parked request resumes it and ends its forks; requests the output processor finished (a
/// stop string) are named to the next `schedule`. Written here because no Swift package provides an LLM
/// scheduler.
public struct Scheduler: Sendable {
    public struct Configuration: Sendable {
        public var maxNumSeqs: Int
        public var maxNumBatchedTokens: Int
        public var maxModelLen: Int
        public var enableChunkedPrefill: Bool
        /// Draft tokens one step may run, over all sequences (each needs a logits row).
        public var maxSpeculativeTokens: Int
        /// Drafts run only while at most this many requests are running or queued (vLLM's
        /// `disable_by_batch_size`): past it a step is compute bound, every extra row costs about what a
        /// decode step per sequence saves, and a rejected draft token is pure loss.
        public var maxSpeculativeBatch: Int

        public init(
            maxNumSeqs: Int = 256,
            maxNumBatchedTokens: Int = 2048,
            maxModelLen: Int,
            enableChunkedPrefill: Bool = true,
            maxSpeculativeTokens: Int = 0,
            maxSpeculativeBatch: Int = .max
        ) {
            self.maxNumSeqs = maxNumSeqs
            self.maxNumBatchedTokens = maxNumBatchedTokens
            self.maxModelLen = maxModelLen
            self.enableChunkedPrefill = enableChunkedPrefill
            self.maxSpeculativeTokens = maxSpeculativeTokens
            self.maxSpeculativeBatch = maxSpeculativeBatch
        }
    }

    /// One request as the scheduler tracks it.
    public struct Request: Sendable {
        public let id: Int
        public let prompt: [Int32]
        public let maxTokens: Int
        public let stopTokens: Set<Int32>
        public internal(set) var output: [Int32] = []
        /// Tokens (prompt, then output) whose keys and values are in the KV cache.
        public internal(set) var computed = 0
        public internal(set) var preemptions = 0
        public internal(set) var cachedPromptTokens = 0
        /// Proposed tokens after the last output token, not yet verified (see the type's comment).
        public internal(set) var draft: [Int32] = []
        /// Every scheduled token needs its logits (a scoring sequence forked by `fork`), not just the last.
        public internal(set) var scoresEveryToken = false
        /// Prefix-cache keys of the full blocks of `tokens` hashed so far, and how many are committed.
        var blockKeys: [BlockKey] = []
        var committedBlocks = 0

        public init(id: Int, prompt: [Int32], maxTokens: Int, stopTokens: Set<Int32> = [], draft: [Int32] = []) {
            self.id = id
            self.prompt = prompt
            self.maxTokens = maxTokens
            self.stopTokens = stopTokens
            self.draft = draft
        }

        /// Prompt and output so far: what the KV cache must eventually hold.
        public var tokens: [Int32] { prompt + output }
        public var tokenCount: Int { prompt.count + output.count }

        /// Token `index` of `tokens`, without building the whole sequence.
        func token(at index: Int) -> Int32 { index < prompt.count ? prompt[index] : output[index - prompt.count] }
    }

    /// One sequence's share of a step: feed `tokens` at positions `firstPosition...` through `blockTable`;
    /// when `samples`, the step's logits for its last real token give the request's next token. The last
    /// `draft` of `tokens` are the request's draft: their logits rows follow, one per draft token.
    public struct Entry: Sendable, Equatable {
        public var id: Int
        /// A slice of the step's one token buffer (the scheduler reuses it step after step).
        public var tokens: ArraySlice<Int32>
        public var firstPosition: Int
        public var blockTable: [Int]
        public var samples: Bool
        public var draft: Int = 0
        /// Logits rows the step returns for this entry (the last `logitRows` tokens).
        public var logitRows: Int = 0
        /// The draft tokens the step runs.
        public var draftTokens: ArraySlice<Int32> { tokens.suffix(draft) }
    }

    /// What sampling gave one entry: `tokens` to append in order (the accepted draft tokens, which the step
    /// computed, then one new token), the next draft, and whether the output must end after them (a
    /// grammar that admits nothing more). With `forks`, the request asks to be parked after its first
    /// `forkAt` tokens while the forks score (see `Fork`); the rest of `tokens`, `draft` and `end` are what
    /// to append if the pool cannot hold them.
    public struct Sampled: Sendable, Equatable {
        public var tokens: [Int32]
        public var acceptedDraft: Int
        public var draft: [Int32]
        public var end: Bool
        public var forks: [Fork]
        public var forkAt = 0
        /// A stop string ends the output after `tokens[..<stopAfter]` (the output processor found it in
        /// their text): they are appended and the request finishes with `stop` in this update.
        public var stopAfter: Int?

        public init(
            tokens: [Int32],
            acceptedDraft: Int = 0,
            draft: [Int32] = [],
            end: Bool = false,
            forks: [Fork] = []
        ) {
            self.tokens = tokens
            self.acceptedDraft = acceptedDraft
            self.draft = draft
            self.end = end
            self.forks = forks
        }
    }

    /// A sequence `child` to start as the parent's tokens followed by `tokens`, sharing the parent's full KV
    /// blocks, every token with logits: it scores one alternative of a classification.
    public struct Fork: Sendable, Equatable {
        public var child: Int
        public var tokens: [Int32]

        public init(child: Int, tokens: [Int32]) {
            self.child = child
            self.tokens = tokens
        }
    }

    /// How `update` left one sampled entry: how many of its tokens were appended, and why it finished.
    public struct Outcome: Sendable, Equatable {
        public var appended: Int
        public var reason: FinishReason?
        /// The finish came from a stop token, which is not appended: it is `tokens[appended]`.
        public var stoppedByToken: Bool
        /// The result's forks were made: only the tokens before the fork point were appended, and the
        /// request is parked.
        public var forked = false
        /// The request's prompt tokens whose KV came from the prefix cache.
        public var cachedPromptTokens = 0
    }

    /// What one step runs, whom it preempted to make room, and the KV block copies to make before it runs
    /// (the partly filled last blocks of new forks).
    public struct Batch: Sendable {
        public var entries: [Entry] = []
        public var preempted: [Int] = []
        public var copies: [KVCopy] = []
        /// Cached blocks evicted for this step, to copy out to a lower tier before it runs (`tiers` set).
        public var evictions: [KVEviction] = []
        /// Blocks to fill from a lower tier before it runs (after `evictions`, before `copies`).
        public var loads: [KVLoad] = []
        /// Prompt tokens the entries compute (prefill work).
        public var prefillTokens = 0
        public var tokenCount: Int { entries.reduce(0) { $0 + $1.tokens.count } }
    }

    public let configuration: Configuration
    public private(set) var blocks: BlockManager
    /// The KV cache's lower tiers: blocks past a waiting request's cached prefix that they hold are loaded
    /// instead of recomputed, and the pool's evictions are reported in each batch. A request whose blocks are
    /// still being read from disk waits while later ones run, so a load never stalls a step.
    public var tiers: (any KVTierIndex)? {
        didSet { blocks.recordsEvictions = tiers != nil }
    }
    public private(set) var waiting: [Int] = []
    public private(set) var running: [Int] = []
    public private(set) var requests: [Int: Request] = [:]
    /// Running requests not scheduled until a result resumes them (a request waiting for its scoring forks).
    public private(set) var parked: Set<Int> = []
    /// Each parked request's scoring forks.
    var forks: [Int: [Int]] = [:]
    /// KV copies of forks made by `update`, for the next batch: (fork, copy).
    var pendingCopies: [(child: Int, copy: KVCopy)] = []
    /// `update`'s table of outcomes, kept to reuse its storage.
    var outcomes: [Int: Outcome] = [:]
    /// The last batch's entries and the token buffer their `tokens` slice, kept to reuse their storage:
    /// once the caller lets go of a step's batch, the next step writes into the same memory.
    var entryStorage: [Entry] = []
    var tokenStorage: [Int32] = []
    /// Each entry's place in `tokenStorage` while `schedule` builds the batch.
    var tokenRanges: [Range<Int>] = []
    /// Completions held back until the named request has computed its prompt.
    var deferred: [Int: [Request]] = [:]
    /// Completions waiting in `deferred`.
    public var deferredCount: Int { deferred.values.reduce(0) { $0 + $1.count } }

    public init(_ configuration: Configuration, blocks: BlockManager) throws(SchedulerError) {
        guard blocks.blockCount * blocks.blockSize >= configuration.maxModelLen else {
            throw .poolTooSmall(tokens: blocks.blockCount * blocks.blockSize, maxModelLen: configuration.maxModelLen)
        }
        guard configuration.maxNumSeqs > 0, configuration.maxNumBatchedTokens > 0 else { throw .invalidLimits }
        guard configuration.enableChunkedPrefill || configuration.maxNumBatchedTokens >= configuration.maxModelLen
        else {
            throw .batchSmallerThanModelLen(configuration.maxNumBatchedTokens, configuration.maxModelLen)
        }
        self.configuration = configuration
        self.blocks = blocks
        self.blocks.tableCapacity = blocks.blocksNeeded(configuration.maxModelLen)
        tokenStorage.reserveCapacity(configuration.maxNumBatchedTokens)
        entryStorage.reserveCapacity(configuration.maxNumSeqs)
    }

    /// Queues a request; refuses one whose prompt (plus one output token) cannot fit `maxModelLen`.
    public mutating func add(_ request: Request) throws(SchedulerError) {
        guard !request.prompt.isEmpty else { throw .emptyPrompt(request.id) }
        guard request.prompt.count < configuration.maxModelLen else {
            throw .promptTooLong(id: request.id, tokens: request.prompt.count, maxModelLen: configuration.maxModelLen)
        }
        guard !isKnown(request.id) else { throw .duplicateID(request.id) }
        var request = request
        // Room for the whole output at once, so appending a step's tokens never reallocates.
        request.output.reserveCapacity(min(request.maxTokens, configuration.maxModelLen - request.prompt.count))
        if blocks.prefixCaching { request.blockKeys.reserveCapacity(blocks.tableCapacity) }
        requests[request.id] = request
        waiting.append(request.id)
    }

    /// Queues a request's completions (the same prompt): the first at once; with prefix caching the others
    /// wait until it has computed the prompt, then take its full blocks from the cache instead of
    /// recomputing them. Refuses the group, changing nothing, as `add` refuses one of them.
    public mutating func add(group: [Request]) throws(SchedulerError) {
        guard let first = group.first else { return }
        var ids = Set<Int>()
        for request in group {
            guard ids.insert(request.id).inserted, !isKnown(request.id) else { throw .duplicateID(request.id) }
        }
        try add(first)
        let rest = group.dropFirst()
        if blocks.prefixCaching {
            if !rest.isEmpty { deferred[first.id] = Array(rest) }
        } else {
            // Checked above: the ids are new, and the prompt is the first's.
            for request in rest { try! add(request) }
        }
    }

    /// Whether `id` is queued, running or deferred.
    func isKnown(_ id: Int) -> Bool { requests[id] != nil || deferredEntry(of: id) != nil }

    /// Where `id` waits in `deferred`, if it does.
    func deferredEntry(of id: Int) -> Dictionary<Int, [Request]>.Index? {
        deferred.firstIndex { $0.value.contains { $0.id == id } }
    }

    /// Drops a request at any time, freeing its blocks (and its forks') at once; completions deferred
    /// behind it are queued.
    public mutating func abort(_ id: Int) {
        if let index = deferredEntry(of: id) { deferred.values[index].removeAll { $0.id == id } }
        guard requests[id] != nil else { return }
        finish(id)
    }

    public var hasWork: Bool { !waiting.isEmpty || !running.isEmpty }

    /// Whether the block manager records KV-cache events (`takeKVEvents`).
    public var recordsKVEvents: Bool {
        get { blocks.recordsEvents }
        set { blocks.recordsEvents = newValue }
    }

    /// The block manager's KV-cache events since the last call.
    public mutating func takeKVEvents() -> [KVCacheEvent] { blocks.takeEvents() }

    /// Forgets every cached block when no request holds one (`BlockManager.resetPrefixCache`).
    public mutating func resetPrefixCache() -> Bool { blocks.resetPrefixCache() }

    /// Builds the next step's batch.
    public mutating func schedule() -> Batch {
        // The last step's entries go first: they hold the tokens' buffer and the block tables, which this
        // step changes in place once nothing else does.
        var batch = Batch(entries: entryStorage.takeEmptied())
        tokenStorage.removeAll(keepingCapacity: true)
        tokenRanges.removeAll(keepingCapacity: true)
        var budget = configuration.maxNumBatchedTokens
        // Drafts only while the requests in the engine (running and queued: vLLM counts what is enqueued) are
        // few enough; counting only those already running let the first step of a burst draft for all of it.
        let requestCount = running.count + waiting.count
        var draftBudget = requestCount <= configuration.maxSpeculativeBatch ? configuration.maxSpeculativeTokens : 0
        // Running requests first, oldest first; the newest is preempted when blocks run out.
        var index = 0
        while index < running.count && budget > 0 {
            let id = running[index]
            if parked.contains(id) {
                index += 1
                continue
            }
            let request = requests[id]!
            let remaining = request.tokenCount - request.computed
            let count = min(remaining, budget)
            if !configuration.enableChunkedPrefill && count < remaining { break }
            // The draft rides along when the step reaches the end of the real tokens and there is room.
            var draft = count == remaining ? draftLength(request, room: min(draftBudget, budget - count)) : 0
            if draft > 0 && !blocks.canAllocate(id, tokens: request.computed + count + draft) { draft = 0 }
            var admitted = false
            while true {
                if blocks.allocate(id, tokens: request.computed + count + draft) {
                    admitted = true
                    break
                }
                // Preempt the newest running request (possibly this one); a parked request waits on forks
                // that share its blocks, so it is not a victim.
                guard let last = running.lastIndex(where: { !parked.contains($0) }) else { break }
                let victim = running.remove(at: last)
                preempt(victim)
                batch.preempted.append(victim)
                if let index = batch.entries.firstIndex(where: { $0.id == victim }) {
                    batch.entries.remove(at: index)
                    tokenRanges.remove(at: index)
                }
                if victim == id { break }
            }
            guard admitted else { break }
            batch.entries.append(entry(for: request, count: count, draft: draft))
            budget -= count + draft
            draftBudget -= draft
            index += 1
        }
        // Then waiting requests, in arrival order (preempted ones first).
        var position = 0
        while position < waiting.count && budget > 0 && running.count < configuration.maxNumSeqs
            && batch.preempted.isEmpty
        {
            let id = waiting[position]
            var request = requests[id]!
            if blocks.prefixCaching {
                blocks.extendKeys(&request.blockKeys, tokens: request.prompt, then: request.output)
                requests[id] = request
            }
            guard let loads = tierLoads(request) else {
                position += 1  // its blocks are still being read: later requests go first
                continue
            }
            let cachedBlocks = blocks.cachedPrefix(request.blockKeys, promptTokens: request.tokenCount)
            // Loads leave a token to compute past them, so `cachedPrefix` never trims the run they follow.
            let cachedTokens = (cachedBlocks.count + loads.count) * blocks.blockSize
            let remaining = request.tokenCount - cachedTokens
            let count = min(remaining, budget)
            if !configuration.enableChunkedPrefill && count < remaining { break }
            var draft = count == remaining ? draftLength(request, room: min(draftBudget, budget - count)) : 0
            if draft > 0 && !blocks.canAllocate(id, tokens: cachedTokens + count + draft, cachedBlocks: cachedBlocks) {
                draft = 0
            }
            guard blocks.allocate(id, tokens: cachedTokens + count + draft, cachedBlocks: cachedBlocks) else { break }
            if !loads.isEmpty {
                // The loaded blocks are cached from now on: their KV is written before the step runs.
                let table = blocks.blockTable(id)
                for (index, data) in loads.enumerated() {
                    batch.loads.append(KVLoad(block: table[cachedBlocks.count + index], data: data))
                }
                blocks.commit(
                    id,
                    keys: request.blockKeys.prefix(cachedBlocks.count + loads.count),
                    from: cachedBlocks.count
                )
                blocks.countTierHits(loads.count * blocks.blockSize)
            }
            request.computed = cachedTokens
            request.committedBlocks = cachedBlocks.count + loads.count
            if request.output.isEmpty { request.cachedPromptTokens = cachedTokens }
            requests[id] = request
            waiting.remove(at: position)
            running.append(id)
            batch.entries.append(entry(for: request, count: count, draft: draft))
            budget -= count + draft
            draftBudget -= draft
        }
        // Copies for forks still running (a preempted or aborted fork recomputes or needs none).
        for (child, copy) in pendingCopies where running.contains(child) {
            batch.copies.append(copy)
        }
        pendingCopies = []
        if tiers != nil { batch.evictions = blocks.takeEvictions() }
        for index in batch.entries.indices {
            batch.entries[index].tokens = tokenStorage[tokenRanges[index]]
            let entry = batch.entries[index]
            let prompt = requests[entry.id]!.prompt.count
            batch.prefillTokens += max(0, min(entry.firstPosition + entry.tokens.count, prompt) - entry.firstPosition)
        }
        entryStorage = batch.entries
        return batch
    }

    /// The blocks a lower tier holds past the pool's cached prefix of a waiting `request` (at least one token
    /// is always left to compute); nil while some of them are still being read, all reads started.
    func tierLoads(_ request: Request) -> [KVBlockData]? {
        guard let tiers, blocks.prefixCaching else { return [] }
        let keys = request.blockKeys
        var index = blocks.cachedRun(keys)
        var loads: [KVBlockData] = []
        var pending = false
        while index < keys.count && (index + 1) * blocks.blockSize < request.tokenCount {
            switch tiers.lookup(keys[index]) {
            case .absent: return pending ? nil : loads
            case .loading: pending = true
            case .ready(let data): loads.append(data)
            }
            index += 1
        }
        return pending ? nil : loads
    }

    /// How much of `request`'s draft a step can run with `room` tokens to spare.
    func draftLength(_ request: Request, room: Int) -> Int {
        max(0, min(request.draft.count, room, configuration.maxModelLen - request.tokenCount))
    }

    /// `request`'s entry for a step that computes `count` tokens and `draft` draft tokens; its tokens are
    /// appended to `tokenStorage` and their place to `tokenRanges` (the entry's slice, once the batch is
    /// complete).
    mutating func entry(for request: Request, count: Int, draft: Int = 0) -> Entry {
        let samples = request.computed + count == request.tokenCount
        tokenRanges.append(tokenStorage.count..<(tokenStorage.count + count + draft))
        for index in request.computed..<(request.computed + count) { tokenStorage.append(request.token(at: index)) }
        tokenStorage.append(contentsOf: request.draft.prefix(draft))
        return Entry(
            id: request.id,
            tokens: [],
            firstPosition: request.computed,
            blockTable: blocks.blockTable(request.id),
            samples: samples,
            draft: draft,
            logitRows: samples ? (request.scoresEveryToken ? count : 1) + draft : 0
        )
    }

    /// Starts sequence `child` as `parent`'s tokens followed by `tokens`, sharing the parent's full KV
    /// blocks (its partly filled last block is not shared: the returned copies fill the child's), every
    /// token of `tokens` with logits. nil, changing nothing, if the parent is not fully computed or the pool
    /// cannot hold the child.
    mutating func fork(_ parent: Int, child: Int, tokens: [Int32]) -> [KVCopy]? {
        guard let p = requests[parent], p.computed == p.tokenCount, requests[child] == nil, !tokens.isEmpty else {
            return nil
        }
        guard let copies = blocks.fork(parent, child: child, shared: p.computed, tokens: p.computed + tokens.count)
        else {
            return nil
        }
        var request = Request(id: child, prompt: p.tokens + tokens, maxTokens: 1)
        request.computed = p.computed
        request.scoresEveryToken = true
        request.blockKeys = Array(p.blockKeys.prefix(p.computed / blocks.blockSize))
        request.committedBlocks = min(p.committedBlocks, request.blockKeys.count)
        requests[child] = request
        running.append(child)
        return copies
    }

    /// Makes all of `forks` of `id` and parks it until a result resumes it; false, changing nothing, if
    /// the pool cannot hold them all.
    mutating func park(_ id: Int, forks: [Fork]) -> Bool {
        var made: [Int] = []
        var copies: [(child: Int, copy: KVCopy)] = []
        for fork in forks {
            guard let forkCopies = self.fork(id, child: fork.child, tokens: fork.tokens) else {
                for child in made { finish(child) }
                return false
            }
            made.append(fork.child)
            copies += forkCopies.map { (fork.child, $0) }
        }
        pendingCopies += copies
        self.forks[id] = made
        parked.insert(id)
        return true
    }

    /// Ends a parked request's forks and schedules it again.
    mutating func resume(_ id: Int) {
        parked.remove(id)
        for child in forks.removeValue(forKey: id) ?? [] { finish(child) }
    }

    /// Appends `tokens` to a running request's output as if sampled (up to a stop token, `maxTokens` or
    /// `maxModelLen`), sets its next draft, and finishes it if it must end; what `update` does per entry.
    /// A result with forks parks the request instead, when the pool can hold them.
    mutating func append(_ id: Int, _ result: Sampled) -> Outcome? {
        // Out of the table while its output grows (so the array is not copied on write); back before any
        // other method reads it.
        guard var request = requests.removeValue(forKey: id) else { return nil }
        var outcome = Outcome(appended: 0, reason: nil, stoppedByToken: false)
        outcome.cachedPromptTokens = request.cachedPromptTokens
        for (i, token) in result.tokens.enumerated() {
            if i == result.forkAt && !result.forks.isEmpty {
                // The tokens before the fork point are computed: the forks continue from them.
                request.draft = []
                requests[id] = request
                if park(id, forks: result.forks) {
                    outcome.forked = true
                    return outcome
                }
            }
            if request.stopTokens.contains(token) {
                outcome.reason = .stop
                outcome.stoppedByToken = true
                break
            }
            request.output.append(token)
            outcome.appended += 1
            if outcome.appended == result.stopAfter {
                outcome.reason = .stop
                break
            }
            if request.output.count >= request.maxTokens
                || request.prompt.count + request.output.count >= configuration.maxModelLen
            {
                outcome.reason = .length
                break
            }
        }
        if outcome.reason == nil && result.end { outcome.reason = .stop }
        request.draft = outcome.reason == nil ? result.draft : []
        requests[id] = request
        if outcome.reason != nil { finish(id) }
        return outcome
    }

    mutating func finish(_ id: Int) {
        requests[id] = nil
        waiting.removeAll { $0 == id }
        running.removeAll { $0 == id }
        pendingCopies.removeAll { $0.child == id }
        if parked.contains(id) { resume(id) }
        blocks.free(id)
        release(id)
    }

    /// Queues the completions deferred behind `id` (it computed the prompt, or is gone).
    mutating func release(_ id: Int) {
        // Same prompt as `id`'s, which fitted, and new ids.
        for request in deferred.removeValue(forKey: id) ?? [] { try! add(request) }
    }

    mutating func preempt(_ id: Int) {
        blocks.free(id)
        requests[id]!.draft = []
        requests[id]!.computed = 0
        requests[id]!.committedBlocks = 0
        requests[id]!.preemptions += 1
        waiting.insert(id, at: 0)
    }

    /// Applies a step's results with one sampled token per sampling entry (no drafts).
    public mutating func update(_ batch: Batch, sampled: [Int: Int32]) -> [(id: Int, reason: FinishReason)] {
        update(batch, results: sampled.mapValues { Sampled(tokens: [$0]) }).compactMap { id, outcome in
            outcome.reason.map { (id, $0) }
        }
    }

    /// Applies a step's results: every entry's real tokens and its accepted draft tokens are now computed;
    /// entries that sample get `results[id].tokens` appended (see `append`), and a result for a parked
    /// request resumes it (its forks end) with its tokens appended. Returns each result's outcome; finished
    /// requests are removed.
    public mutating func update(_ batch: Batch, results: [Int: Sampled]) -> [Int: Outcome] {
        // The table is reused step after step (its storage is unique again once the caller let go of the
        // last step's), so a step allocates none.
        outcomes.removeAll(keepingCapacity: true)
        for (id, result) in results where parked.contains(id) {
            resume(id)
            outcomes[id] = append(id, result)
        }
        for entry in batch.entries {
            guard requests[entry.id] != nil else { continue }  // aborted meanwhile
            let result = entry.samples ? results[entry.id] : nil
            computed(entry, accepted: min(result?.acceptedDraft ?? 0, entry.draft))
            if entry.samples { release(entry.id) }
            if let result { outcomes[entry.id] = append(entry.id, result) }
        }
        return outcomes
    }

    /// Marks `entry`'s real tokens and its first `accepted` draft tokens computed, and commits the blocks
    /// the step filled to the prefix cache (each block hashed once, when it first fills).
    mutating func computed(_ entry: Entry, accepted: Int) {
        var request = requests.removeValue(forKey: entry.id)!
        defer { requests[entry.id] = request }
        request.computed = entry.firstPosition + entry.tokens.count - entry.draft + accepted
        request.draft = []
        let full = request.computed / blocks.blockSize
        if blocks.prefixCaching && full > request.committedBlocks {
            if request.blockKeys.count < full {
                blocks.extendKeys(&request.blockKeys, tokens: request.prompt, then: request.output)
            }
            blocks.commit(entry.id, keys: request.blockKeys.prefix(full), from: request.committedBlocks)
            request.committedBlocks = full
        }
    }

    /// Every broken invariant, described: for property tests.
    public func invariantViolations() -> [String] {
        var problems = blocks.invariantViolations()
        if Set(waiting).count != waiting.count || Set(running).count != running.count {
            problems.append("a request is queued twice")
        }
        if !Set(waiting).isDisjoint(with: running) { problems.append("a request is both waiting and running") }
        if Set(waiting).union(running) != Set(requests.keys) { problems.append("requests and queues disagree") }
        if running.count > configuration.maxNumSeqs { problems.append("\(running.count) running > max-num-seqs") }
        for id in running {
            let request = requests[id]!
            if blocks.blockTable(id).count < blocks.blocksNeeded(request.computed) {
                problems.append("request \(id) computed \(request.computed) tokens beyond its blocks")
            }
        }
        for id in waiting where !blocks.blockTable(id).isEmpty { problems.append("waiting request \(id) holds blocks") }
        return problems
    }
}

/// Why the scheduler refuses a configuration or a request.
public enum SchedulerError: Error, Equatable, CustomStringConvertible {
    case poolTooSmall(tokens: Int, maxModelLen: Int)
    case invalidLimits
    case batchSmallerThanModelLen(Int, Int)
    case emptyPrompt(Int)
    case promptTooLong(id: Int, tokens: Int, maxModelLen: Int)
    case duplicateID(Int)

    public var description: String {
        switch self {
        case .poolTooSmall(let tokens, let maxModelLen):
            "the KV cache holds \(tokens) tokens, less than one sequence of --max-model-len \(maxModelLen); "
                + "give it more memory or lower --max-model-len"
        case .invalidLimits: "--max-num-seqs and --max-num-batched-tokens must be at least 1"
        case .batchSmallerThanModelLen(let batched, let maxModelLen):
            "with chunked prefill off, --max-num-batched-tokens (\(batched)) must be at least --max-model-len "
                + "(\(maxModelLen))"
        case .emptyPrompt(let id): "request \(id) has an empty prompt"
        case .promptTooLong(let id, let tokens, let maxModelLen):
            "request \(id): the prompt has \(tokens) tokens, more than --max-model-len \(maxModelLen) allows"
        case .duplicateID(let id): "request id \(id) is already in use"
        }
    }
}
