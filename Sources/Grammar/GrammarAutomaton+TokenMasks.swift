import Dispatch

/// Token masks: which tokens the grammar allows after a state. Each grammar position's verdict on every
/// token is computed once, by one walk of the vocabulary's byte trie with the position's caller unknown
/// (accepted, rejected, or uncertain: runs past the position's rule into an unknown caller); a state's mask
/// is the union of its positions' accepted tokens plus its uncertain ones re-checked in full context, and
/// is cached for the state (xgrammar's adaptive token mask cache).
extension GrammarAutomaton {
    /// The one token the grammar allows after `state`, if there is exactly one and the grammar cannot end
    /// there: decoding must choose it whatever the logits say, so it needs no forward pass of its own.
    public func onlyToken(_ state: Int32) -> Int32? {
        lock.withLock { _ in
            if let known = onlyTokens[state] { return known >= 0 ? known : nil }
            var found: Int32 = -1
            if !accepts(state) {
                let mask = maskLocked(state, cache: true)
                var count = 0
                for (i, word) in mask.enumerated() where word != 0 {
                    count += word.nonzeroBitCount
                    if count > 1 { break }
                    found = Int32(i * 64 + word.trailingZeroBitCount)
                }
                if count != 1 { found = -1 }
            }
            onlyTokens[state] = found
            return found >= 0 ? found : nil
        }
    }

    /// Computes every byte-set position's token verdicts now (as xgrammar does at compile time) instead of
    /// on first use; returns how many positions there are.
    @discardableResult
    public func precomputeVerdicts() -> Int {
        lock.withLock { _ in
            var count = 0
            for position in 0..<Int32(grammar.positionCount) where grammar.symbols[Int(position)] >= 0 {
                _ = verdicts(position)
                count += 1
            }
            return count
        }
    }

    /// The tokens allowed after `state`, one bit per token id (`vocabulary.maskWords` words).
    public func mask(_ state: Int32) -> [UInt64] {
        lock.withLock { _ in maskLocked(state, cache: true) }
    }

    /// The mask, giving up (nil) once `deadline` (`DispatchTime` nanoseconds) passes.
    public func mask(_ state: Int32, deadline: UInt64) -> [UInt64]? {
        lock.withLock { _ in
            self.deadline = deadline
            timedOut = false
            defer { self.deadline = .max }
            let mask = maskLocked(state, cache: true)
            return timedOut ? nil : mask
        }
    }

    /// The state after `bytes` (or `dead`).
    public func run(from state: Int32, bytes: [UInt8]) -> Int32 {
        lock.withLock { _ in run(state, bytes) }
    }

    /// The mask computed afresh from the per-position verdicts (which are kept), ignoring and not filling
    /// the per-state cache: what a first visit to a state costs, for benchmarks.
    public func uncachedMask(_ state: Int32) -> [UInt64] {
        lock.withLock { _ in maskLocked(state, cache: false) }
    }

    func maskLocked(_ state: Int32, cache: Bool) -> [UInt64] {
        if cache, let mask = stateMasks[state] { return mask }
        var mask = [UInt64](repeating: 0, count: vocabulary.maskWords)
        var seen = Set<Int32>()
        var uncertain: [[Int32]] = []
        for member in stateMembers[Int(state)] where !isMarker(member) {
            let position = nodePosition[Int(member)]
            guard seen.insert(position).inserted else { continue }
            guard let verdicts = self.verdicts(position) else { return mask }
            if let list = verdicts.acceptedList {
                for token in list { mask[Int(token) >> 6] |= 1 << UInt64(token & 63) }
            } else {
                mask.withUnsafeMutableBufferPointer { m in
                    verdicts.accepted.withUnsafeBufferPointer { a in
                        for i in 0..<m.count { m[i] |= a[i] }
                    }
                }
            }
            if !verdicts.uncertain.isEmpty { uncertain.append(verdicts.uncertain) }
        }
        for list in uncertain {
            for token in list where mask[Int(token) >> 6] & (1 << UInt64(token & 63)) == 0 {
                if run(state, vocabulary.tokenBytes[Int(token)]) != Self.dead {
                    mask[Int(token) >> 6] |= 1 << UInt64(token & 63)
                }
            }
        }
        if accepts(state) {
            for token in vocabulary.endOfSequence where Int(token) < vocabulary.size {
                mask[Int(token) >> 6] |= 1 << UInt64(token & 63)
            }
        }
        if cache && !timedOut && stateMasks.count < Self.maskCacheLimit { stateMasks[state] = mask }
        return mask
    }

    func allowedTokens(_ mask: [UInt64]) -> [Int32] {
        var tokens: [Int32] = []
        for (i, word) in mask.enumerated() where word != 0 {
            var w = word
            while w != 0 {
                tokens.append(Int32(i * 64 + w.trailingZeroBitCount))
                w &= w - 1
            }
        }
        return tokens
    }

    /// Every token's verdict at `position` with the caller unknown (computed once, by one trie walk).
    func verdicts(_ position: Int32) -> Verdicts? {
        if let known = positionVerdicts[position] { return known }
        let v = vocabulary
        var accepted = [UInt64](repeating: 0, count: v.maskWords)
        var uncertain: [Int32] = []
        let start = intern([node(position, Self.sentinel)])
        var stateAt = [Int32](repeating: 0, count: v.maxDepth + 1)
        var escapedAt = [Bool](repeating: false, count: v.maxDepth + 1)
        stateAt[0] = start
        var i = 0
        let count = v.trieNodeCount
        var checked = 0
        var expired = false
        // The vocabulary's trie is well formed by construction (depths 1...maxDepth, subtree ends and token
        // ranges in bounds), so the walk reads it through unchecked pointers.
        v.nodes.withUnsafeBufferPointer { nodes in
            v.nodeTokens.withUnsafeBufferPointer { nodeTokens in
                while i < count {
                    checked += 1
                    if checked & 4095 == 0 && deadline != .max && DispatchTime.now().uptimeNanoseconds > deadline {
                        expired = true
                        return
                    }
                    let node = nodes[i]
                    let depth = Int(node.depth)
                    let parent = stateAt[depth - 1]
                    let escaped = escapedAt[depth - 1] || escapes(parent)
                    let next = step(parent, node.byte)
                    if next == Self.dead {
                        let end = Int(node.subtreeEnd)
                        if escaped {
                            for refused in nodes[i..<end] {
                                uncertain.append(
                                    contentsOf: nodeTokens[Int(refused.tokenStart)..<Int(refused.tokenEnd)]
                                )
                            }
                        }
                        i = end
                        continue
                    }
                    for t in Int(node.tokenStart)..<Int(node.tokenEnd) {
                        let token = nodeTokens[t]
                        accepted[Int(token) >> 6] |= 1 << UInt64(token & 63)
                    }
                    stateAt[depth] = next
                    escapedAt[depth] = escaped
                    i += 1
                }
            }
        }
        if expired {
            timedOut = true
            return nil
        }
        var result = Verdicts(accepted: accepted, acceptedList: nil, uncertain: uncertain)
        if accepted.reduce(0, { $0 + $1.nonzeroBitCount }) <= Self.sparseLimit {
            result.acceptedList = allowedTokens(accepted)
            result.accepted = []
        }
        positionVerdicts[position] = result
        return result
    }
}
