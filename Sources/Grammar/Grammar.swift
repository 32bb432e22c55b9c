/// A context-free grammar over bytes: every constraint (JSON Schema, regex, choice, EBNF) compiles to one.
/// Rules are lists of alternatives; an alternative is a sequence of byte sets and rule references; an empty
/// alternative matches nothing (ε). Written here (with `GrammarBuilder`) because no Swift package provides
/// grammar-constrained decoding.
public struct Grammar: Sendable, Equatable {
    public enum Symbol: Hashable, Sendable {
        case bytes(ByteSet)
        case rule(Int)
    }

    public struct Rule: Sendable, Equatable {
        public var name: String
        public var alternatives: [[Symbol]]
    }

    public var rules: [Rule]
    public var root: Int

    /// Total symbols over all alternatives: the size bound's measure.
    public var size: Int { rules.reduce(0) { $0 + $1.alternatives.reduce($1.alternatives.count) { $0 + $1.count } } }
}

/// Builds a `Grammar` with the constructs every front end needs (literals, choices, bounded and unbounded
/// repetition), refusing to grow past a size bound, so a hostile schema or regex is refused rather than
/// compiled for minutes.
public struct GrammarBuilder: Sendable {
    public typealias Symbol = Grammar.Symbol
    public private(set) var rules: [Grammar.Rule] = []
    var defined: [Bool] = []
    var size = 0
    public let limit: Int
    /// Helper rules by a structural key, so equal constructs share one rule.
    var shared: [String: Int] = [:]

    public static let defaultLimit = 200_000

    public init(limit: Int = GrammarBuilder.defaultLimit) {
        self.limit = limit
    }

    /// A rule to define later (for recursion).
    public mutating func declare(_ name: String) -> Int {
        rules.append(Grammar.Rule(name: name, alternatives: []))
        defined.append(false)
        return rules.count - 1
    }

    public mutating func define(_ rule: Int, _ alternatives: [[Symbol]]) throws(GrammarError) {
        size += alternatives.reduce(alternatives.count) { $0 + $1.count }
        guard size <= limit else { throw .tooLarge(limit) }
        rules[rule].alternatives = alternatives
        defined[rule] = true
    }

    /// A new rule with these alternatives; returns its reference.
    public mutating func rule(_ name: String, _ alternatives: [[Symbol]]) throws(GrammarError) -> Symbol {
        let id = declare(name)
        try define(id, alternatives)
        return .rule(id)
    }

    /// A rule shared by everything that asks for `key`, built once by `make`.
    public mutating func shared(
        _ key: String,
        _ make: (inout GrammarBuilder) throws(GrammarError) -> [[Symbol]]
    ) throws(GrammarError) -> Symbol {
        if let id = shared[key] { return .rule(id) }
        let id = declare(key)
        shared[key] = id
        try define(id, try make(&self))
        return .rule(id)
    }

    public static func literal(_ text: String) -> [Symbol] { literal(Array(text.utf8)) }

    public static func literal(_ bytes: [UInt8]) -> [Symbol] { bytes.map { .bytes(ByteSet($0)) } }

    /// One symbol for a sequence: itself when it is one symbol, else a rule.
    public mutating func group(_ sequence: [Symbol], name: String = "group") throws(GrammarError) -> Symbol {
        if sequence.count == 1 { return sequence[0] }
        return try rule(name, [sequence])
    }

    /// One symbol matching any of `alternatives`.
    public mutating func choice(_ alternatives: [[Symbol]], name: String = "choice") throws(GrammarError) -> Symbol {
        if alternatives.count == 1 { return try group(alternatives[0], name: name) }
        return try rule(name, alternatives)
    }

    /// `element` repeated `min` to `max` times (`max` nil: unbounded). Unbounded repetition is a
    /// right-recursive rule and bounded optional copies nest (`(e (e ...)?)?`), so matching stays
    /// deterministic and the automaton's stacks stay shallow.
    public mutating func repeated(
        _ element: [Symbol],
        min: Int,
        max: Int?,
        name: String = "repeat"
    ) throws(GrammarError) -> [Symbol] {
        precondition(min >= 0 && (max ?? min) >= min)
        if max == 0 || element.isEmpty { return [] }
        let item = try group(element, name: name + "-item")
        // A small choice repeated (a string's characters) is copied into each loop rule rather than called,
        // so matching stays inside one rule from character to character and token masks need no context.
        var inlined: [[Symbol]]?
        if case .rule(let id) = item, defined[id], rules[id].alternatives.count > 1,
            rules[id].alternatives.allSatisfy({ !$0.isEmpty }),
            rules[id].alternatives.reduce(0, { $0 + $1.count }) <= 64,
            (max ?? min + 1) - min <= 2048
        {
            inlined = rules[id].alternatives
        }
        func loop(_ next: Symbol?) -> [[Symbol]] {
            var alternatives: [[Symbol]] = []
            for body in inlined ?? [[item]] {
                if let next { alternatives.append(body + [next]) } else { alternatives.append(body) }
            }
            return alternatives
        }
        size += min
        guard size <= limit else { throw .tooLarge(limit) }
        var sequence = [Symbol](repeating: item, count: min)
        if let max {
            guard max > min else { return sequence }
            guard max - min <= limit - size else { throw .tooLarge(limit) }
            var tail: Symbol?
            for _ in 0..<(max - min) {
                tail = try rule(name + "-opt", loop(tail) + [[]])
            }
            sequence.append(tail!)
        } else {
            let star = declare(name + "-star")
            try define(star, loop(.rule(star)) + [[]])
            sequence.append(.rule(star))
        }
        return sequence
    }

    /// The grammar, rooted at `root`; every declared rule must have been defined.
    public func build(root: Symbol) throws(GrammarError) -> Grammar {
        var rules = self.rules
        var rootID: Int
        if case .rule(let id) = root {
            rootID = id
        } else {
            rules.append(Grammar.Rule(name: "root", alternatives: [[root]]))
            rootID = rules.count - 1
        }
        if let missing = defined.firstIndex(of: false) {
            throw GrammarError("rule '\(rules[missing].name)' is used but never defined")
        }
        return Grammar(rules: rules, root: rootID)
    }
}
