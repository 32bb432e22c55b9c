import SwerveCore

/// The paged KV cache's bookkeeping: a pool of fixed-size blocks, each sequence's block table, reference
/// counts, and automatic prefix caching, as vLLM's block manager does it. Pure state, no I/O and no tensors,
/// so the scheduler can plan with it and property tests can drive it.
///
/// Prefix caching: a full block is identified by a `BlockKey` (its parent's chain hash, its token ids and
/// any extra keys), so equal prefixes map to the same blocks. Blocks no sequence holds stay in the cache on
/// a free list in least-recently-freed order and are evicted (their key forgotten) only when a new block is
/// needed and no never-cached block is left; a request that finds its prefix cached takes those blocks off
/// the free list and shares them. Written here because no Swift package provides a paged KV block manager.
public struct BlockManager: Sendable {
    public let blockCount: Int
    public let blockSize: Int
    public let prefixCaching: Bool

    struct Block {
        var references = 0
        var key: BlockKey?
        // Free-list links (-1: none); a block is on the free list exactly when `references` is 0.
        var previous = -1
        var next = -1
    }

    var blocks: [Block]
    var head = -1
    var tail = -1
    public private(set) var freeBlockCount: Int
    var cached: [BlockKey: Int] = [:]
    var tables: [Int: [Int]] = [:]
    /// Prompt tokens looked up and found in the prefix cache (vLLM's prefix cache queries and hits).
    /// Blocks a new table reserves room for (the scheduler sets those of `--max-model-len`), so a decoding
    /// sequence's table never reallocates as it grows.
    public var tableCapacity = 0
    public private(set) var prefixQueryTokens = 0
    public private(set) var prefixHitTokens = 0
    /// Whether to record `events` (vLLM's KV-cache events, `--kv-events-config`); off, nothing is recorded.
    public var recordsEvents = false
    /// The prefix cache's changes since `takeEvents()`, when `recordsEvents`: a block entering the cache
    /// (`commit`) is stored, a cached block reused for other contents (`allocate`) removed.
    public private(set) var events: [KVCacheEvent] = []
    /// Whether to record `evictions` (a lower KV tier takes what the pool evicts).
    public var recordsEvictions = false
    /// Cached blocks reused for other contents since `takeEvictions()`, when `recordsEvictions`.
    public private(set) var evictions: [KVEviction] = []

    public init(blockCount: Int, blockSize: Int, prefixCaching: Bool = true) {
        precondition(blockCount > 0 && blockSize > 0, "the KV cache needs at least one block of at least one token")
        self.blockCount = blockCount
        self.blockSize = blockSize
        self.prefixCaching = prefixCaching
        blocks = Array(repeating: Block(), count: blockCount)
        // At most one key per block: committing a block never grows the table.
        if prefixCaching { cached.reserveCapacity(blockCount) }
        freeBlockCount = 0
        for id in 0..<blockCount { pushBack(id) }
    }

    /// Share of the blocks held by sequences (cached free blocks count as free).
    public var usage: Double { Double(blockCount - freeBlockCount) / Double(blockCount) }

    /// The block table of `sequence` (empty if it holds none).
    public func blockTable(_ sequence: Int) -> [Int] { tables[sequence] ?? [] }

    /// Blocks needed to hold `tokens` tokens.
    public func blocksNeeded(_ tokens: Int) -> Int { (tokens + blockSize - 1) / blockSize }

    /// The chain of keys of the full blocks of `tokens`.
    public func keys(for tokens: [Int32], extra: Int? = nil) -> [BlockKey] {
        var keys: [BlockKey] = []
        extendKeys(&keys, tokens: tokens, extra: extra)
        return keys
    }

    /// Appends to `keys` (the chain of a prefix of `tokens` + `more`) the keys of their further full blocks,
    /// so a growing sequence hashes each block once.
    public func extendKeys(_ keys: inout [BlockKey], tokens: [Int32], then more: [Int32] = [], extra: Int? = nil) {
        var parent = keys.last?.chainHash ?? BlockKey.chainSeed
        var start = keys.count * blockSize
        // `tokens` then `more`, without joining them (a request's prompt and output): the key's own array is
        // the one allocation per key.
        while start + blockSize <= tokens.count + more.count {
            let block = (start..<(start + blockSize)).map { $0 < tokens.count ? tokens[$0] : more[$0 - tokens.count] }
            let key = BlockKey(parent: parent, tokens: block, extra: extra)
            keys.append(key)
            parent = key.chainHash
            start += blockSize
        }
    }

    /// The longest run of cached blocks matching `keys` from the start, counted as a query of `promptTokens`.
    /// At least one prompt token is always left to compute (its logits are needed), so a fully cached prompt
    /// reuses all but its last block.
    public mutating func cachedPrefix(_ keys: [BlockKey], promptTokens: Int) -> [Int] {
        guard prefixCaching else { return [] }
        var found: [Int] = []
        for key in keys {
            guard let id = cached[key] else { break }
            found.append(id)
        }
        while !found.isEmpty && found.count * blockSize >= promptTokens { found.removeLast() }
        prefixQueryTokens += promptTokens
        prefixHitTokens += found.count * blockSize
        return found
    }

    /// How many of `keys`, from the start, the pool holds (without counting a query).
    public func cachedRun(_ keys: [BlockKey]) -> Int {
        guard prefixCaching else { return 0 }
        return keys.firstIndex { cached[$0] == nil } ?? keys.count
    }

    /// Counts `tokens` prompt tokens found in a lower tier as prefix-cache hits (vLLM counts hits in any tier).
    public mutating func countTierHits(_ tokens: Int) { prefixHitTokens += tokens }

    /// The recorded evictions, emptied (the engine copies those blocks out before the step runs).
    public mutating func takeEvictions() -> [KVEviction] {
        guard !evictions.isEmpty else { return [] }
        defer { evictions.removeAll(keepingCapacity: true) }
        return evictions
    }

    /// Whether `sequence` could grow to `tokens` tokens, after taking `cachedBlocks` (from `cachedPrefix`).
    public func canAllocate(_ sequence: Int, tokens: Int, cachedBlocks: [Int] = []) -> Bool {
        let held = blockTable(sequence).count + cachedBlocks.count
        let reclaimed = cachedBlocks.filter { blocks[$0].references == 0 }.count
        return blocksNeeded(tokens) - held <= freeBlockCount - reclaimed
    }

    /// Grows `sequence`'s table to hold `tokens` tokens: first the cached blocks (shared), then new ones.
    /// Returns false, changing nothing, when the pool cannot supply them (the scheduler then preempts).
    public mutating func allocate(_ sequence: Int, tokens: Int, cachedBlocks: [Int] = []) -> Bool {
        guard canAllocate(sequence, tokens: tokens, cachedBlocks: cachedBlocks) else { return false }
        let needed = blocksNeeded(tokens)
        // Out of the table while it grows, so it is not copied on write; a new one is sized for the longest
        // sequence the pool can hold, so a decoding sequence's table never reallocates.
        var table = tables.removeValue(forKey: sequence) ?? []
        if table.capacity < needed { table.reserveCapacity(Swift.max(needed, Swift.min(blockCount, tableCapacity))) }
        defer { tables[sequence] = table }
        precondition(cachedBlocks.isEmpty || table.isEmpty, "cached blocks start a sequence")
        for id in cachedBlocks {
            if blocks[id].references == 0 { unlink(id) }
            blocks[id].references += 1
            table.append(id)
        }
        while table.count < needed {
            let id = head
            unlink(id)
            if let key = blocks[id].key {  // evict the least recently freed cached block
                cached[key] = nil
                blocks[id].key = nil
                if recordsEvents { recordRemoved(key.chainHash) }
                if recordsEvictions { evictions.append(KVEviction(key: key, block: id)) }
            }
            blocks[id].references = 1
            table.append(id)
        }
        return true
    }

    /// Gives `child` a table holding `tokens` tokens whose first `shared` are `parent`'s: the parent's full
    /// blocks among them are shared (reference counted); a partly filled last one is not (the child writes
    /// after it), so the child gets a fresh block whose KV the caller copies from the returned source block.
    /// nil, changing nothing, when the pool cannot supply the new blocks.
    public mutating func fork(_ parent: Int, child: Int, shared: Int, tokens: Int) -> [KVCopy]? {
        guard let table = tables[parent], tables[child] == nil, table.count * blockSize >= shared, tokens >= shared
        else {
            return nil
        }
        let full = shared / blockSize
        guard blocksNeeded(tokens) - full <= freeBlockCount else { return nil }
        for id in table[..<full] { blocks[id].references += 1 }
        tables[child] = Array(table[..<full])
        // Shared full blocks are held; only new blocks are taken from the pool.
        _ = allocate(child, tokens: tokens)
        let partial = shared % blockSize
        return partial == 0 ? [] : [KVCopy(source: table[full], destination: tables[child]![full], positions: partial)]
    }

    /// Records that `sequence`'s blocks `first..<keys.count` are full with these contents (`keys` is the
    /// chain from block 0), so later requests can share them. A block whose contents are already cached
    /// elsewhere stays private.
    public mutating func commit(_ sequence: Int, keys: [BlockKey], from first: Int = 0) {
        commit(sequence, keys: keys[...], from: first)
    }

    /// `commit(_:keys:from:)` for the start of a request's keys, without copying them.
    public mutating func commit(_ sequence: Int, keys: ArraySlice<BlockKey>, from first: Int = 0) {
        guard prefixCaching, let table = tables[sequence] else { return }
        for index in first..<min(table.count, keys.count) where blocks[table[index]].key == nil {
            let key = keys[keys.startIndex + index]
            guard cached[key] == nil else { continue }
            blocks[table[index]].key = key
            cached[key] = table[index]
            if recordsEvents { recordStored(key, parent: index == 0 ? nil : key.parent) }
        }
    }

    /// Forgets every cached block (vLLM's `reset_prefix_cache`), when no sequence holds a block; false,
    /// changing nothing, otherwise (a running sequence's blocks cannot be dropped).
    public mutating func resetPrefixCache() -> Bool {
        guard prefixCaching, tables.isEmpty else { return tables.isEmpty }
        for (_, id) in cached { blocks[id].key = nil }
        cached.removeAll(keepingCapacity: true)
        if recordsEvents { events.append(.allBlocksCleared) }
        return true
    }

    /// Every cached block's key and pool block, newest-freed last (what a graceful stop persists).
    public var cachedBlocks: [(key: BlockKey, block: Int)] { cached.map { ($0.key, $0.value) } }

    /// The chain hashes of every cached block, as KV events report them (for checking a subscriber's view).
    public var cachedHashes: [UInt64] { cached.keys.map(\.chainHash) }

    /// The recorded events, emptied (the engine publishes them once per step).
    public mutating func takeEvents() -> [KVCacheEvent] {
        guard !events.isEmpty else { return [] }
        defer { events.removeAll(keepingCapacity: true) }
        return events
    }

    /// Appends a stored block to the last event when that one stored its parent (a sequence's blocks filled
    /// in one step make one event, as vLLM sends them).
    mutating func recordStored(_ key: BlockKey, parent: UInt64?) {
        let hash = key.chainHash
        if case .blockStored(var hashes, let first, var tokens, let size, .pool)? = events.last, let parent,
            hashes.last == parent
        {
            events.removeLast()
            hashes.append(hash)
            tokens += key.tokens
            events.append(.blockStored(hashes: hashes, parent: first, tokens: tokens, blockSize: size))
        } else {
            events.append(.blockStored(hashes: [hash], parent: parent, tokens: key.tokens, blockSize: blockSize))
        }
    }

    mutating func recordRemoved(_ hash: UInt64) {
        if case .blockRemoved(var hashes, .pool)? = events.last {
            events.removeLast()
            hashes.append(hash)
            events.append(.blockRemoved(hashes: hashes))
        } else {
            events.append(.blockRemoved(hashes: [hash]))
        }
    }

    /// Releases `sequence`'s blocks (finished, aborted or preempted). Cached blocks stay reusable until
    /// evicted; a sequence's last blocks are evicted before its first (they are the least likely to be shared).
    public mutating func free(_ sequence: Int) {
        guard let table = tables.removeValue(forKey: sequence) else { return }
        for id in table.reversed() {
            blocks[id].references -= 1
            guard blocks[id].references == 0 else { continue }
            if blocks[id].key == nil { pushFront(id) } else { pushBack(id) }
        }
    }

    // MARK: Free list

    mutating func pushBack(_ id: Int) {
        blocks[id].previous = tail
        blocks[id].next = -1
        if tail >= 0 { blocks[tail].next = id } else { head = id }
        tail = id
        freeBlockCount += 1
    }

    /// Uncached blocks are reused first: nothing is lost by overwriting them.
    mutating func pushFront(_ id: Int) {
        blocks[id].next = head
        blocks[id].previous = -1
        if head >= 0 { blocks[head].previous = id } else { tail = id }
        head = id
        freeBlockCount += 1
    }

    mutating func unlink(_ id: Int) {
        let (previous, next) = (blocks[id].previous, blocks[id].next)
        if previous >= 0 { blocks[previous].next = next } else { head = next }
        if next >= 0 { blocks[next].previous = previous } else { tail = previous }
        blocks[id].previous = -1
        blocks[id].next = -1
        freeBlockCount -= 1
    }

    /// Every broken invariant, described (empty when consistent): for property tests.
    public func invariantViolations() -> [String] {
        var problems: [String] = []
        var held = [Int](repeating: 0, count: blockCount)
        for table in tables.values { for id in table { held[id] += 1 } }
        var onList = Set<Int>()
        var id = head
        var previous = -1
        while id >= 0 {
            if !onList.insert(id).inserted { return problems + ["free list has a cycle at \(id)"] }
            if blocks[id].previous != previous { problems.append("block \(id) has a broken back link") }
            previous = id
            id = blocks[id].next
        }
        if tail != previous { problems.append("tail \(tail) is not the last free block \(previous)") }
        if onList.count != freeBlockCount { problems.append("free count \(freeBlockCount) != \(onList.count) listed") }
        for b in 0..<blockCount {
            if blocks[b].references != held[b] {
                problems.append("block \(b) has \(blocks[b].references) references, \(held[b]) tables hold it")
            }
            if (blocks[b].references == 0) != onList.contains(b) {
                problems.append("block \(b): references \(blocks[b].references), on free list \(onList.contains(b))")
            }
            if let key = blocks[b].key, cached[key] != b { problems.append("block \(b)'s key is not cached to it") }
        }
        for (key, b) in cached where blocks[b].key != key { problems.append("cache entry for block \(b) is stale") }
        return problems
    }
}

/// The identity of a full block for prefix caching: its parent's chain hash, its tokens and extra keys
/// (for example a LoRA or multimodal input id). Equality compares the tokens themselves, so two blocks
/// are shared only if their parents' 64-bit chain hashes and their own tokens are equal.
public struct BlockKey: Hashable, Sendable {
    public let parent: UInt64
    public let tokens: [Int32]
    public let extra: Int?

    /// The parent hash of a sequence's first block (FNV-1a's offset basis): the chain starts from it.
    public static let chainSeed: UInt64 = 0xCBF2_9CE4_8422_2325

    public init(parent: UInt64, tokens: [Int32], extra: Int?) {
        self.parent = parent
        self.tokens = tokens
        self.extra = extra
    }

    /// This block's hash, the parent of the next block's key (FNV-1a over the parent hash, tokens, extra).
    public var chainHash: UInt64 {
        var hash = parent
        func mix(_ value: UInt64) {
            for shift in stride(from: 0, to: 64, by: 8) {
                hash = (hash ^ ((value >> UInt64(shift)) & 0xFF)) &* 0x100_0000_01B3
            }
        }
        for token in tokens { mix(UInt64(UInt32(bitPattern: token))) }
        mix(extra.map { UInt64(bitPattern: Int64($0)) } ?? 0xFFFF_FFFF_FFFF_FFFF)
        return hash
    }
}

/// KV to copy from one block to another (`Backend.copyKVBlock`): the first `positions` positions.
public struct KVCopy: Sendable, Equatable {
    public var source: Int
    public var destination: Int
    public var positions: Int
}
