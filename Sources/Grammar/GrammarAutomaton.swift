import Dispatch
import Synchronization

/// The matcher for one compiled grammar over one vocabulary: a pushdown automaton over bytes, determinized
/// lazily, with the token-mask caches that make constrained decoding cheap. Shared by every request that
/// uses the same constraint (the server caches it by constraint); each request keeps only a state id
/// (`GrammarMatcher`).
///
/// - A *node* is one stack entry: a grammar position and the node below it (hash-consed, so equal stacks
///   are one id). After expansion the top of every stack is a byte set.
/// - A *state* is the set of stacks alive after some bytes (plus markers: the grammar may end here;
///   a rule completed and returned to an unknown caller). States are interned and each keeps its 256
///   byte transitions once computed: matching a token is one table lookup per byte.
/// - Token masks use xgrammar's split: for each grammar position, the verdict on every token is computed
///   once with the position's caller unknown: accepted, rejected, or (for tokens that run past the end
///   of the position's rule into a caller that could be one of several) uncertain; a rule referenced in
///   one place returns there, so its verdicts continue into the caller exactly. A state's mask is the union of its positions' accepted tokens
///   plus the uncertain ones re-checked in full context, and is then cached for the state.
///
/// Every method takes the automaton's lock for its whole call: the engine's thread is the one caller in
/// practice, so the lock is uncontended. Written here because no Swift package does grammar-constrained
/// decoding.
public final class GrammarAutomaton: @unchecked Sendable {
    public let grammar: CompiledGrammar
    public let vocabulary: TokenVocabulary
    let lock = Mutex(())

    // Stack nodes.
    var nodePosition: [Int32] = []
    var nodeParent: [Int32] = []
    var nodeIndex: [UInt64: Int32] = [:]
    // States: sorted members (node ids; `accept` and `escape` markers sort first).
    var stateMembers: [[Int32]] = []
    /// Whether each state holds the escape marker (`stateMembers[state].contains(escape)`, kept for the
    /// mask walk, which asks at every trie node).
    var stateEscapes: [Bool] = []
    var stateIndex: [[Int32]: Int32] = [:]
    var transitions: [Int32] = []
    var stateMasks: [Int32: [UInt64]] = [:]
    var forcedBytes: [Int16] = []
    var positionVerdicts: [Int32: Verdicts] = [:]
    var onlyTokens: [Int32: Int32] = [:]
    public private(set) var initialState: Int32 = 0

    /// Verdicts of every token at one grammar position, its caller unknown: the accepted tokens as a
    /// bitmask, or as a list when there are few (inside a literal most positions accept a handful, and
    /// merging a list is cheaper than a 6 KB mask).
    struct Verdicts {
        var accepted: [UInt64]
        var acceptedList: [Int32]?
        var uncertain: [Int32]
    }

    /// Accepted sets up to this size are kept as lists.
    static let sparseLimit = 256

    static let root: Int32 = -1
    static let sentinel: Int32 = -2
    static let accept: Int32 = -1
    static let escape: Int32 = -2
    public static let dead: Int32 = -1
    static let unknown: Int32 = -2
    /// `forcedBytes` values besides a byte: not computed, no single next byte, only the end may follow.
    static let forcedUnknown: Int16 = -2
    static let forcedNone: Int16 = -1
    static let forcedEnd: Int16 = 256
    /// Cached state masks kept at most (6 KB each for a 49k vocabulary).
    public static let maskCacheLimit = 2048
    /// States past which the constraint cache compiles the constraint afresh (dropping this automaton's tables).
    public static let stateLimit = 20_000
    /// When a mask computation must give up (compile-time bound); `.max` otherwise.
    var deadline: UInt64 = .max
    var timedOut = false

    public init(grammar: CompiledGrammar, vocabulary: TokenVocabulary) {
        self.grammar = grammar
        self.vocabulary = vocabulary
        var members: [Int32] = []
        var visited = Set<UInt64>()
        for start in grammar.alternatives[grammar.root] {
            closure(start, Self.root, into: &members, visited: &visited)
        }
        initialState = intern(members)
    }

    public var stateCount: Int { lock.withLock { _ in stateMembers.count } }

    // MARK: Construction of nodes and states

    func node(_ position: Int32, _ parent: Int32) -> Int32 {
        let key = UInt64(UInt32(bitPattern: position)) << 32 | UInt64(UInt32(bitPattern: parent))
        if let id = nodeIndex[key] { return id }
        let id = Int32(nodePosition.count)
        nodePosition.append(position)
        nodeParent.append(parent)
        nodeIndex[key] = id
        return id
    }

    /// Expands position `position` with continuation `parent` until every stack's top is a byte set,
    /// adding the resulting nodes (and markers) to `members`.
    func closure(_ position: Int32, _ parent: Int32, into members: inout [Int32], visited: inout Set<UInt64>) {
        let key = UInt64(UInt32(bitPattern: position)) << 32 | UInt64(UInt32(bitPattern: parent))
        guard visited.insert(key).inserted else { return }
        let symbol = grammar.symbols[Int(position)]
        if symbol >= 0 {
            members.append(node(position, parent))
        } else if symbol == CompiledGrammar.end {
            switch parent {
            case Self.root: members.append(Self.accept)
            case Self.sentinel:
                // The caller is unknown, but a rule used in one place can only return there.
                let site = grammar.onlyCallSite[Int(grammar.ruleOf[Int(position)])]
                if site >= 0 {
                    closure(site + 1, Self.sentinel, into: &members, visited: &visited)
                } else {
                    members.append(Self.escape)
                }
            default: closure(nodePosition[Int(parent)], nodeParent[Int(parent)], into: &members, visited: &visited)
            }
        } else {
            let rule = Int(-symbol - 2)
            let next = position + 1
            let continuation = grammar.symbols[Int(next)] == CompiledGrammar.end ? parent : node(next, parent)
            for start in grammar.alternatives[rule] {
                closure(start, continuation, into: &members, visited: &visited)
            }
        }
    }

    func intern(_ members: [Int32]) -> Int32 {
        var sorted = members.sorted()
        var unique = 0
        for i in sorted.indices where i == 0 || sorted[i] != sorted[i - 1] {
            sorted[unique] = sorted[i]
            unique += 1
        }
        sorted.removeSubrange(unique...)
        if let id = stateIndex[sorted] { return id }
        let id = Int32(stateMembers.count)
        stateMembers.append(sorted)
        stateEscapes.append(sorted.contains(Self.escape))
        stateIndex[sorted] = id
        transitions.append(contentsOf: repeatElement(Self.unknown, count: 256))
        forcedBytes.append(Self.forcedUnknown)
        return id
    }

    @inline(__always)
    func isMarker(_ member: Int32) -> Bool { member < 0 }

    func accepts(_ state: Int32) -> Bool { stateMembers[Int(state)].first == Self.accept }

    func escapes(_ state: Int32) -> Bool { stateEscapes[Int(state)] }

    /// The state after `byte`, or `dead`.
    @inline(__always)
    func step(_ state: Int32, _ byte: UInt8) -> Int32 {
        let slot = Int(state) &* 256 &+ Int(byte)
        let known = transitions[slot]
        if known != Self.unknown { return known }
        var members: [Int32] = []
        var visited = Set<UInt64>()
        for member in stateMembers[Int(state)] where !isMarker(member) {
            let position = nodePosition[Int(member)]
            if grammar.sets[Int(grammar.symbols[Int(position)])].contains(byte) {
                closure(position + 1, nodeParent[Int(member)], into: &members, visited: &visited)
            }
        }
        let next = members.isEmpty ? Self.dead : intern(members)
        transitions[slot] = next
        return next
    }

    func run(_ state: Int32, _ bytes: [UInt8]) -> Int32 {
        var state = state
        for byte in bytes {
            state = step(state, byte)
            if state == Self.dead { break }
        }
        return state
    }

    // MARK: Public matching

    /// The state after `token`, or `dead` if the grammar refuses it. End-of-sequence tokens are accepted
    /// (and leave the state unchanged) exactly where the grammar may end.
    public func advance(_ state: Int32, token: Int32) -> Int32 {
        lock.withLock { _ in advanceLocked(state, token: token) }
    }

    func advanceLocked(_ state: Int32, token: Int32) -> Int32 {
        guard token >= 0 && Int(token) < vocabulary.size else { return Self.dead }
        let bytes = vocabulary.tokenBytes[Int(token)]
        if bytes.isEmpty {
            return vocabulary.endOfSequence.contains(token) && accepts(state) ? state : Self.dead
        }
        return run(state, bytes)
    }

    /// Whether the grammar allows `token` next, without computing the whole mask.
    public func allows(_ state: Int32, token: Int32) -> Bool {
        lock.withLock { _ in
            if let mask = stateMasks[state] { return mask[Int(token) >> 6] & (1 << UInt64(token & 63)) != 0 }
            return advanceLocked(state, token: token) != Self.dead
        }
    }

    /// Whether the grammar may end in `state` (end of sequence allowed).
    public func canEnd(_ state: Int32) -> Bool { lock.withLock { _ in accepts(state) } }

    /// Whether nothing but the end may follow `state`.
    public func mustEnd(_ state: Int32) -> Bool { lock.withLock { _ in forced(state) == Self.forcedEnd } }

    /// Bytes the grammar forces after `state` (each the only byte it allows, with no option to end), up
    /// to `limit` of them: the text jump-forward decoding appends without sampling.
    public func forcedText(after state: Int32, limit: Int = 256) -> (bytes: [UInt8], state: Int32) {
        lock.withLock { _ in
            var state = state
            var bytes: [UInt8] = []
            while bytes.count < limit {
                let forced = forced(state)
                guard forced >= 0 && forced < 256 else { break }
                bytes.append(UInt8(forced))
                state = step(state, UInt8(forced))
            }
            return (bytes, state)
        }
    }

    func forced(_ state: Int32) -> Int16 {
        let known = forcedBytes[Int(state)]
        if known != Self.forcedUnknown { return known }
        var union = ByteSet()
        var hasAccept = false
        for member in stateMembers[Int(state)] {
            if member == Self.accept { hasAccept = true }
            if isMarker(member) { continue }
            union = union.union(grammar.sets[Int(grammar.symbols[Int(nodePosition[Int(member)])])])
        }
        let result: Int16
        if union.isEmpty {
            result = hasAccept ? Self.forcedEnd : Self.forcedNone
        } else if !hasAccept, let byte = union.single {
            result = Int16(byte)
        } else {
            result = Self.forcedNone
        }
        forcedBytes[Int(state)] = result
        return result
    }

    /// The rest of each alternative when `state` is inside a rule whose alternatives are all literals (an
    /// enum's values, a choice's strings) and several are still possible: what one-pass classification
    /// scores. nil elsewhere.
    public func literalAlternatives(_ state: Int32) -> [[UInt8]]? {
        lock.withLock { _ in
            let members = stateMembers[Int(state)]
            guard members.count > 1, let first = members.first, first >= 0 else { return nil }
            let parent = nodeParent[Int(first)]
            let rule = grammar.ruleOf[Int(nodePosition[Int(first)])]
            guard grammar.isLiteralChoice[Int(rule)] else { return nil }
            var alternatives: [[UInt8]] = []
            // In the rule's order (an enum's, a choice's), not the state's.
            for member in members.sorted(by: { nodePosition[Int($0)] < nodePosition[Int($1)] }) {
                var position = nodePosition[Int(member)]
                guard nodeParent[Int(member)] == parent, grammar.ruleOf[Int(position)] == rule else { return nil }
                var bytes: [UInt8] = []
                while grammar.symbols[Int(position)] >= 0 {
                    bytes.append(grammar.sets[Int(grammar.symbols[Int(position)])].single!)
                    position += 1
                }
                alternatives.append(bytes)
            }
            return alternatives
        }
    }
}
