/// A `Grammar` flattened for matching: every alternative's symbols laid end to end in one array of
/// positions, each alternative closed by an end marker, so a matcher's stack entries are single integers.
///
/// Checked once here: every rule reference resolves, and no rule can reach itself again before consuming
/// a byte unless through a tail position (left recursion would make the matcher's stack grow forever;
/// tail positions reuse the caller's continuation, so `x ::= y x | ""`-style loops are fine).
public final class CompiledGrammar: Sendable {
    /// Per position: a byte-set index (>= 0), `end` (-1), or a rule reference (-(rule + 2)).
    let symbols: [Int32]
    let sets: [ByteSet]
    /// Per rule, its alternatives' first positions.
    let alternatives: [[Int32]]
    let root: Int
    let names: [String]
    /// The rule each position belongs to.
    let ruleOf: [Int32]
    /// Per rule, the position of its only reference in the grammar, or -1 (none, several, or the root):
    /// matching can return from such a rule without knowing the caller's stack.
    let onlyCallSite: [Int32]
    /// Per rule: every alternative is a literal (single bytes only) — an enum's values, a choice's strings.
    let isLiteralChoice: [Bool]

    static let end: Int32 = -1

    public var positionCount: Int { symbols.count }
    public var ruleCount: Int { alternatives.count }

    public init(_ grammar: Grammar) throws(GrammarError) {
        let productive = Self.productiveRules(grammar)
        guard productive[grammar.root] else {
            throw GrammarError(
                "the constraint matches no finite text: rule '\(grammar.rules[grammar.root].name)' never finishes "
                    + "(its recursion has no way out)"
            )
        }
        var symbols: [Int32] = []
        var sets: [ByteSet] = []
        var setIndex: [ByteSet: Int32] = [:]
        var alternatives: [[Int32]] = []
        var ruleOf: [Int32] = []
        var callSites = [[Int32]](repeating: [], count: grammar.rules.count)
        for (ruleID, rule) in grammar.rules.enumerated() {
            var starts: [Int32] = []
            // Alternatives that can never finish are dropped, so every live matcher state can still end.
            for alternative in rule.alternatives
            where alternative.allSatisfy({
                if case .rule(let r) = $0 { productive.indices.contains(r) && productive[r] } else { true }
            }) {
                starts.append(Int32(symbols.count))
                for symbol in alternative {
                    switch symbol {
                    case .bytes(let set):
                        guard !set.isEmpty else {
                            throw GrammarError(
                                "rule '\(rule.name)' has an empty character class, which matches nothing"
                            )
                        }
                        if let index = setIndex[set] {
                            symbols.append(index)
                        } else {
                            setIndex[set] = Int32(sets.count)
                            symbols.append(Int32(sets.count))
                            sets.append(set)
                        }
                    case .rule(let id):
                        guard grammar.rules.indices.contains(id) else {
                            throw GrammarError("rule '\(rule.name)' refers to an undefined rule")
                        }
                        callSites[id].append(Int32(symbols.count))
                        symbols.append(-Int32(id) - 2)
                    }
                }
                symbols.append(Self.end)
            }
            alternatives.append(starts)
            ruleOf += repeatElement(Int32(ruleID), count: symbols.count - ruleOf.count)
        }
        self.ruleOf = ruleOf
        isLiteralChoice = grammar.rules.map { rule in
            rule.alternatives.count > 1
                && rule.alternatives.allSatisfy { alternative in
                    !alternative.isEmpty
                        && alternative.allSatisfy { if case .bytes(let set) = $0 { set.count == 1 } else { false } }
                }
        }
        onlyCallSite = callSites.enumerated().map { id, sites in
            sites.count == 1 && id != grammar.root ? sites[0] : -1
        }
        self.symbols = symbols
        self.sets = sets
        self.alternatives = alternatives
        root = grammar.root
        names = grammar.rules.map(\.name)
        try checkLeftRecursion(grammar)
    }

    /// Which rules can derive some finite byte string (fixed point); the others only recurse forever.
    static func productiveRules(_ grammar: Grammar) -> [Bool] {
        var productive = [Bool](repeating: false, count: grammar.rules.count)
        var changed = true
        while changed {
            changed = false
            for (id, rule) in grammar.rules.enumerated() where !productive[id] {
                let finishes = rule.alternatives.contains { alternative in
                    alternative.allSatisfy {
                        if case .rule(let r) = $0 { productive.indices.contains(r) && productive[r] } else { true }
                    }
                }
                if finishes {
                    productive[id] = true
                    changed = true
                }
            }
        }
        return productive
    }

    /// Throws for a rule that can reach itself, before any byte is consumed, through a reference that is
    /// not in tail position.
    func checkLeftRecursion(_ grammar: Grammar) throws(GrammarError) {
        let n = grammar.rules.count
        // Which rules can match the empty string (fixed point).
        var nullable = [Bool](repeating: false, count: n)
        var changed = true
        while changed {
            changed = false
            for (id, rule) in grammar.rules.enumerated() where !nullable[id] {
                let canBeEmpty = rule.alternatives.contains { alternative in
                    alternative.allSatisfy { if case .rule(let r) = $0 { nullable[r] } else { false } }
                }
                if canBeEmpty {
                    nullable[id] = true
                    changed = true
                }
            }
        }
        // Left-corner edges: rule -> a rule it may start with; `grows` when not in tail position.
        var edges = [[(to: Int, grows: Bool)]](repeating: [], count: n)
        for (id, rule) in grammar.rules.enumerated() {
            for alternative in rule.alternatives {
                for (i, symbol) in alternative.enumerated() {
                    guard case .rule(let r) = symbol else { break }
                    edges[id].append((r, i < alternative.count - 1))
                    if !nullable[r] { break }
                }
            }
        }
        // Tarjan's strongly connected components, iteratively.
        var index = [Int](repeating: -1, count: n)
        var low = [Int](repeating: 0, count: n)
        var onStack = [Bool](repeating: false, count: n)
        var component = [Int](repeating: -1, count: n)
        var stack: [Int] = []
        var counter = 0
        var components = 0
        for start in 0..<n where index[start] < 0 {
            var work: [(node: Int, edge: Int)] = [(start, 0)]
            index[start] = counter
            low[start] = counter
            counter += 1
            stack.append(start)
            onStack[start] = true
            while let (node, edge) = work.last {
                if edge < edges[node].count {
                    work[work.count - 1].edge += 1
                    let next = edges[node][edge].to
                    if index[next] < 0 {
                        index[next] = counter
                        low[next] = counter
                        counter += 1
                        stack.append(next)
                        onStack[next] = true
                        work.append((next, 0))
                    } else if onStack[next] {
                        low[node] = min(low[node], index[next])
                    }
                } else {
                    work.removeLast()
                    if let parent = work.last?.node { low[parent] = min(low[parent], low[node]) }
                    if low[node] == index[node] {
                        while let top = stack.popLast() {
                            onStack[top] = false
                            component[top] = components
                            if top == node { break }
                        }
                        components += 1
                    }
                }
            }
        }
        for (id, list) in edges.enumerated() {
            for edge in list where edge.grows && component[edge.to] == component[id] {
                throw GrammarError(
                    "rule '\(grammar.rules[id].name)' is left-recursive (it can reach itself through "
                        + "'\(grammar.rules[edge.to].name)' before matching anything); rewrite the recursion with "
                        + "repetition"
                )
            }
        }
    }
}
