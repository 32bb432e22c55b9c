/// Continuous batching as a pure state machine (no model, no I/O): each `schedule()` builds one step's batch
/// from running and waiting requests under vLLM's limits, and `update` applies the tokens the step sampled.
///
/// Per step, at most `maxNumSeqs` sequences and `maxNumBatchedTokens` tokens: running requests first (a
/// decode takes one token; a prompt still being prefilled takes the next chunk), then waiting requests in
/// arrival order, each reusing its longest cached prefix. With chunked prefill on, a prompt longer than the
/// remaining budget is split across steps so decodes keep flowing; off, it waits for a step with room for
/// all of it. When the KV pool runs out, the most recently admitted running request is preempted: its
/// blocks are freed and it goes back to the front of the queue, to be recomputed (prompt and output so
/// far) later, so its output is unchanged. Written here because no Swift package provides an LLM scheduler.
public struct Scheduler: Sendable {
    public struct Configuration: Sendable {
        public var maxNumSeqs: Int
        public var maxNumBatchedTokens: Int
        public var maxModelLen: Int
        public var enableChunkedPrefill: Bool

        public init(
            maxNumSeqs: Int = 256,
            maxNumBatchedTokens: Int = 2048,
            maxModelLen: Int,
            enableChunkedPrefill: Bool = true
        ) {
            self.maxNumSeqs = maxNumSeqs
            self.maxNumBatchedTokens = maxNumBatchedTokens
            self.maxModelLen = maxModelLen
            self.enableChunkedPrefill = enableChunkedPrefill
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
        /// Prefix-cache keys of the full blocks of `tokens` hashed so far, and how many are committed.
        var blockKeys: [BlockKey] = []
        var committedBlocks = 0

        public init(id: Int, prompt: [Int32], maxTokens: Int, stopTokens: Set<Int32> = []) {
            self.id = id
            self.prompt = prompt
            self.maxTokens = maxTokens
            self.stopTokens = stopTokens
        }

        /// Prompt and output so far: what the KV cache must eventually hold.
        public var tokens: [Int32] { prompt + output }
        public var tokenCount: Int { prompt.count + output.count }

        /// Tokens `range` of `tokens`, without building the whole sequence.
        func tokens(_ range: Range<Int>) -> [Int32] {
            range.map { $0 < prompt.count ? prompt[$0] : output[$0 - prompt.count] }
        }
    }

    /// One sequence's share of a step: feed `tokens` at positions `firstPosition...` through `blockTable`;
    /// when `samples`, the step's logits for its last token give the request's next token.
    public struct Entry: Sendable, Equatable {
        public var id: Int
        public var tokens: [Int32]
        public var firstPosition: Int
        public var blockTable: [Int]
        public var samples: Bool
    }

    /// What one step runs, and whom it preempted to make room.
    public struct Batch: Sendable {
        public var entries: [Entry] = []
        public var preempted: [Int] = []
        public var tokenCount: Int { entries.reduce(0) { $0 + $1.tokens.count } }
    }

    public let configuration: Configuration
    public private(set) var blocks: BlockManager
    public private(set) var waiting: [Int] = []
    public private(set) var running: [Int] = []
    public private(set) var requests: [Int: Request] = [:]

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
    }

    /// Queues a request; refuses one whose prompt (plus one output token) cannot fit `maxModelLen`.
    public mutating func add(_ request: Request) throws(SchedulerError) {
        guard !request.prompt.isEmpty else { throw .emptyPrompt(request.id) }
        guard request.prompt.count < configuration.maxModelLen else {
            throw .promptTooLong(id: request.id, tokens: request.prompt.count, maxModelLen: configuration.maxModelLen)
        }
        guard requests[request.id] == nil else { throw .duplicateID(request.id) }
        requests[request.id] = request
        waiting.append(request.id)
    }

    /// Drops a request at any time, freeing its blocks at once.
    public mutating func abort(_ id: Int) {
        guard requests.removeValue(forKey: id) != nil else { return }
        waiting.removeAll { $0 == id }
        running.removeAll { $0 == id }
        blocks.free(id)
    }

    public var hasWork: Bool { !waiting.isEmpty || !running.isEmpty }

    /// Builds the next step's batch.
    public mutating func schedule() -> Batch {
        var batch = Batch()
        var budget = configuration.maxNumBatchedTokens
        var scheduled = Set<Int>()
        // Running requests first, oldest first; the newest is preempted when blocks run out.
        var index = 0
        while index < running.count && budget > 0 {
            let id = running[index]
            let request = requests[id]!
            let remaining = request.tokenCount - request.computed
            let count = min(remaining, budget)
            if !configuration.enableChunkedPrefill && count < remaining { break }
            var admitted = false
            while true {
                if blocks.allocate(id, tokens: request.computed + count) {
                    admitted = true
                    break
                }
                // Preempt the newest running request (possibly this one).
                let victim = running.removeLast()
                preempt(victim)
                batch.preempted.append(victim)
                batch.entries.removeAll { $0.id == victim }
                if victim == id { break }
            }
            guard admitted else { break }
            batch.entries.append(entry(for: request, count: count))
            scheduled.insert(id)
            budget -= count
            index += 1
        }
        // Then waiting requests, in arrival order (preempted ones first).
        while !waiting.isEmpty && budget > 0 && running.count < configuration.maxNumSeqs && batch.preempted.isEmpty {
            let id = waiting[0]
            var request = requests[id]!
            if blocks.prefixCaching {
                blocks.extendKeys(&request.blockKeys, tokens: request.tokens)
                requests[id] = request
            }
            let cachedBlocks = blocks.cachedPrefix(request.blockKeys, promptTokens: request.tokenCount)
            let cachedTokens = cachedBlocks.count * blocks.blockSize
            let remaining = request.tokenCount - cachedTokens
            let count = min(remaining, budget)
            if !configuration.enableChunkedPrefill && count < remaining { break }
            guard blocks.allocate(id, tokens: cachedTokens + count, cachedBlocks: cachedBlocks) else { break }
            request.computed = cachedTokens
            request.committedBlocks = cachedBlocks.count
            if request.output.isEmpty { request.cachedPromptTokens = cachedTokens }
            requests[id] = request
            waiting.removeFirst()
            running.append(id)
            batch.entries.append(entry(for: request, count: count))
            budget -= count
        }
        return batch
    }

    func entry(for request: Request, count: Int) -> Entry {
        Entry(
            id: request.id,
            tokens: request.tokens(request.computed..<(request.computed + count)),
            firstPosition: request.computed,
            blockTable: blocks.blockTable(request.id),
            samples: request.computed + count == request.tokenCount
        )
    }

    mutating func preempt(_ id: Int) {
        blocks.free(id)
        requests[id]!.computed = 0
        requests[id]!.committedBlocks = 0
        requests[id]!.preemptions += 1
        waiting.insert(id, at: 0)
    }

    /// Applies a step's results: every entry's tokens are now computed; entries that sample get `sampled[id]`
    /// appended. Returns the requests that finished (and were removed), with why.
    public mutating func update(_ batch: Batch, sampled: [Int: Int32]) -> [(id: Int, reason: FinishReason)] {
        var finished: [(Int, FinishReason)] = []
        for entry in batch.entries {
            guard var request = requests[entry.id] else { continue }  // aborted meanwhile
            request.computed = entry.firstPosition + entry.tokens.count
            var reason: FinishReason?
            if entry.samples, let token = sampled[entry.id] {
                if request.stopTokens.contains(token) {
                    reason = .stop
                } else {
                    request.output.append(token)
                    if request.output.count >= request.maxTokens
                        || request.prompt.count + request.output.count >= configuration.maxModelLen
                    {
                        reason = .length
                    }
                }
            }
            // Blocks the step filled become shareable; each block is hashed once, when it first fills.
            let full = request.computed / blocks.blockSize
            if blocks.prefixCaching && full > request.committedBlocks {
                if request.blockKeys.count < full { blocks.extendKeys(&request.blockKeys, tokens: request.tokens) }
                blocks.commit(entry.id, keys: Array(request.blockKeys.prefix(full)), from: request.committedBlocks)
                request.committedBlocks = full
            }
            requests[entry.id] = request
            if let reason {
                finished.append((entry.id, reason))
                requests[entry.id] = nil
                running.removeAll { $0 == entry.id }
                blocks.free(entry.id)
            }
        }
        return finished
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
