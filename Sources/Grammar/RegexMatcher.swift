/// A Thompson NFA built from a parsed `Regex`, simulated over a text's Unicode scalars: how Swerve checks a
/// finished answer against a `regex` constraint or a JSON Schema `pattern` in the same dialect the grammar
/// was compiled from (one parser, `RegexParser`, two independent back ends: grammar rules for generation,
/// this for validation). Linear in the text times the automaton; no backtracking, so no input is slow.
/// Written here because Foundation's `NSRegularExpression` is ICU's dialect, which reads `a{,3}` or
/// `[a-z&&[^b]]` differently from Python's `re`.
public struct RegexMatcher: Sendable {
    /// One NFA state: a character class to consume (`next` after it), a split (`next` and `other`), or the
    /// accepting state.
    struct State: Sendable {
        var classIndex: Int32  // -1: split or match
        var next: Int32  // -1 in the match state
        var other: Int32
    }

    let states: [State]
    let classes: [CharacterClass]
    let start: Int32
    let anchoredStart: Bool
    let anchoredEnd: Bool

    /// States past which `init` refuses (a pattern whose counted repetitions multiply out that far).
    public static let stateLimit = 1 << 18

    struct TooLarge: Error {}

    /// Builds the automaton for `pattern` (`GrammarError` where `Regex.parse` refuses it, or where the
    /// automaton would exceed `stateLimit` states).
    public init(_ pattern: String) throws(GrammarError) {
        let parsed = try Regex.parse(pattern)
        var builder = Builder()
        let fragment: Builder.Fragment
        do {
            fragment = try builder.build(parsed.regex)
        } catch {
            throw GrammarError("regex: the pattern's automaton is larger than \(Self.stateLimit) states")
        }
        let match = builder.add(State(classIndex: -1, next: -1, other: -1))
        builder.patch(fragment.exits, to: match)
        states = builder.states
        classes = builder.classes
        start = fragment.entry
        anchoredStart = parsed.anchoredStart
        anchoredEnd = parsed.anchoredEnd
    }

    /// Whether the pattern matches all of `text` (a `regex` constraint's meaning), anchors or not.
    public func matchesWhole(_ text: String) -> Bool { run(text, search: false) }

    /// Whether the pattern matches somewhere in `text`, honouring `^`/`$` (a JSON Schema `pattern`).
    public func matchesSomewhere(_ text: String) -> Bool { run(text, search: true) }

    func run(_ text: String, search: Bool) -> Bool {
        let openStart = search && !anchoredStart
        let openEnd = search && !anchoredEnd
        let match = Int32(states.count - 1)
        var current: [Int32] = []
        var next: [Int32] = []
        var mark = [Int](repeating: -1, count: states.count)
        var stack: [Int32] = []
        var step = 0
        func add(_ state: Int32, to list: inout [Int32]) {
            stack.append(state)
            while let s = stack.popLast() {
                guard s >= 0, mark[Int(s)] != step else { continue }
                mark[Int(s)] = step
                let node = states[Int(s)]
                if node.classIndex < 0 && s != match {
                    stack.append(node.other)
                    stack.append(node.next)
                } else {
                    list.append(s)
                }
            }
        }
        add(start, to: &current)
        for scalar in text.unicodeScalars {
            if openEnd && current.contains(match) { return true }
            step += 1
            next.removeAll(keepingCapacity: true)
            for s in current where s != match {
                let node = states[Int(s)]
                if classes[Int(node.classIndex)].contains(scalar.value) { add(node.next, to: &next) }
            }
            if openStart { add(start, to: &next) }
            swap(&current, &next)
            if current.isEmpty { return false }
        }
        return current.contains(match)
    }

    /// Thompson's construction: each node a fragment with one entry and dangling exits to patch.
    struct Builder {
        var states: [State] = []
        var classes: [CharacterClass] = []

        /// An exit: a state's `next` (false) or `other` (true) field.
        struct Exit {
            var state: Int32
            var other: Bool
        }

        struct Fragment {
            var entry: Int32
            var exits: [Exit]
        }

        mutating func add(_ state: State) -> Int32 {
            states.append(state)
            return Int32(states.count - 1)
        }

        mutating func patch(_ exits: [Exit], to target: Int32) {
            for exit in exits {
                if exit.other { states[Int(exit.state)].other = target } else { states[Int(exit.state)].next = target }
            }
        }

        /// A state that consumes nothing and leads on (a split whose `other` is unused).
        mutating func empty() -> Fragment {
            let s = add(State(classIndex: -1, next: -1, other: -1))
            states[Int(s)].other = -1
            return Fragment(entry: s, exits: [Exit(state: s, other: false)])
        }

        mutating func build(_ regex: Regex) throws(TooLarge) -> Fragment {
            guard states.count < RegexMatcher.stateLimit else { throw TooLarge() }
            switch regex {
            case .chars(let set):
                classes.append(set)
                let s = add(State(classIndex: Int32(classes.count - 1), next: -1, other: -1))
                return Fragment(entry: s, exits: [Exit(state: s, other: false)])
            case .sequence(let items):
                guard var whole = try items.first.map({ item throws(TooLarge) in try build(item) }) else {
                    return empty()
                }
                for item in items.dropFirst() {
                    let part = try build(item)
                    patch(whole.exits, to: part.entry)
                    whole.exits = part.exits
                }
                return whole
            case .alternation(let options):
                var entry: Int32 = -1
                var exits: [Exit] = []
                var previousSplit: Int32 = -1
                for (index, option) in options.enumerated() {
                    let part = try build(option)
                    exits += part.exits
                    if index == options.count - 1 {
                        if previousSplit < 0 {
                            entry = part.entry
                        } else {
                            states[Int(previousSplit)].other = part.entry
                        }
                    } else {
                        let split = add(State(classIndex: -1, next: part.entry, other: -1))
                        if previousSplit < 0 { entry = split } else { states[Int(previousSplit)].other = split }
                        previousSplit = split
                    }
                }
                return Fragment(entry: entry, exits: exits)
            case .repetition(let item, let min, let max):
                var whole = empty()
                for _ in 0..<min {
                    let part = try build(item)
                    patch(whole.exits, to: part.entry)
                    whole.exits = part.exits
                }
                if let max {
                    // Optional copies: each a split into one more copy or out.
                    var outs: [Exit] = []
                    for _ in 0..<(max - min) {
                        let part = try build(item)
                        let split = add(State(classIndex: -1, next: part.entry, other: -1))
                        patch(whole.exits, to: split)
                        outs.append(Exit(state: split, other: true))
                        whole.exits = part.exits
                    }
                    whole.exits += outs
                } else {
                    let part = try build(item)
                    let split = add(State(classIndex: -1, next: part.entry, other: -1))
                    patch(whole.exits, to: split)
                    patch(part.exits, to: split)
                    whole.exits = [Exit(state: split, other: true)]
                }
                return whole
            }
        }
    }
}
