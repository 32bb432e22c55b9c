/// A regular expression parsed into a tree and compiled into grammar rules, matching the whole text (as
/// vLLM's `regex` constraint does). The dialect is the common subset of Python's `re` and ECMAScript:
/// literals, `.`, classes (`[a-z]`, `[^"]`, `\d \w \s` and their negations), groups (plain, `(?:…)` and
/// named), alternation, and the greedy or lazy quantifiers `* + ? {m} {m,} {m,n}` (laziness does not
/// change what a whole-text match accepts). Anchors are accepted only at the ends. Backreferences,
/// lookaround and word boundaries are refused with their offset: no finite automaton matches them.
public indirect enum Regex: Equatable, Sendable {
    case chars(CharacterClass)
    case sequence([Regex])
    case alternation([Regex])
    case repetition(Regex, min: Int, max: Int?)

    /// Largest `{m,n}` bound accepted.
    public static let maxRepetition = 10_000

    /// Parses `pattern`; `anchoredStart`/`anchoredEnd` say whether it began with `^` or ended with `$`.
    public static func parse(
        _ pattern: String
    ) throws(GrammarError) -> (regex: Regex, anchoredStart: Bool, anchoredEnd: Bool) {
        var parser = RegexParser(scalars: Array(pattern.unicodeScalars))
        let start = parser.take("^")
        let regex = try parser.alternation()
        let end = parser.anchoredEnd
        guard parser.i == parser.scalars.count else {
            throw parser.fail(
                parser.peek == ")" ? "unbalanced ')'" : "unexpected '\(parser.peek.map(String.init) ?? "")'"
            )
        }
        return (regex, start, end)
    }

    /// Grammar symbols matching this regex; `json`: as the content of a JSON string (escapes and all).
    public func symbols(_ b: inout GrammarBuilder, json: Bool) throws(GrammarError) -> [Grammar.Symbol] {
        switch self {
        case .chars(let set):
            let alternatives = set.alternatives(json: json)
            guard !alternatives.isEmpty else { throw GrammarError("a character class in the pattern matches nothing") }
            return [try b.choice(alternatives, name: "class")]
        case .sequence(let items):
            var out: [Grammar.Symbol] = []
            for item in items { out += try item.symbols(&b, json: json) }
            return out
        case .alternation(let options):
            var alternatives: [[Grammar.Symbol]] = []
            for option in options { alternatives.append(try option.symbols(&b, json: json)) }
            return [try b.choice(alternatives, name: "alt")]
        case .repetition(let item, let min, let max):
            return try b.repeated(try item.symbols(&b, json: json), min: min, max: max, name: "rep")
        }
    }

    /// A grammar matching exactly the texts the pattern matches in full.
    public static func grammar(
        _ pattern: String,
        limit: Int = GrammarBuilder.defaultLimit
    ) throws(GrammarError) -> Grammar {
        var b = GrammarBuilder(limit: limit)
        let symbols = try parse(pattern).regex.symbols(&b, json: false)
        let root = try b.rule("root", [symbols])
        return try b.build(root: root)
    }
}

/// The reading both text front ends (regex, EBNF) share: a cursor over Unicode scalars, numbers and hex
/// escapes.
protocol ScalarReader {
    var scalars: [Unicode.Scalar] { get }
    var i: Int { get set }
    func fail(_ message: String) -> GrammarError
}

extension ScalarReader {
    var peek: Unicode.Scalar? { i < scalars.count ? scalars[i] : nil }

    /// A decimal number at the cursor (capped at Int32.max), nil if there is no digit.
    mutating func number() -> Int? {
        var value = 0
        var digits = 0
        while let c = peek, ("0"..."9").contains(c) {
            value = min(value * 10 + Int(c.value - 48), Int(Int32.max))
            digits += 1
            i += 1
        }
        return digits > 0 ? value : nil
    }

    /// `count` hex digits at the cursor.
    mutating func hex(_ count: Int) throws(GrammarError) -> UInt32 {
        var value: UInt32 = 0
        for _ in 0..<count {
            guard let c = peek, let d = UInt32(String(c), radix: 16) else { throw fail("bad hex escape") }
            value = value * 16 + d
            i += 1
        }
        return value
    }
}

/// The recursive-descent parser behind `Regex.parse`; errors name the offset in the pattern.
struct RegexParser: ScalarReader {
    let scalars: [Unicode.Scalar]
    var i = 0
    var anchoredEnd = false

    func fail(_ message: String) -> GrammarError { GrammarError("regex: \(message)", at: "pattern offset \(i)") }

    mutating func take(_ s: Unicode.Scalar) -> Bool {
        if peek == s {
            i += 1
            return true
        }
        return false
    }

    mutating func alternation() throws(GrammarError) -> Regex {
        var options = [try sequence()]
        while take("|") { options.append(try sequence()) }
        return options.count == 1 ? options[0] : .alternation(options)
    }

    mutating func sequence() throws(GrammarError) -> Regex {
        var items: [Regex] = []
        while let c = peek, c != "|", c != ")" {
            if c == "$" {
                i += 1
                guard peek == nil else { throw fail("'$' is supported only at the end of the pattern") }
                anchoredEnd = true
                break
            }
            if c == "^" { throw fail("'^' is supported only at the start of the pattern") }
            var atom = try self.atom()
            atom = try quantified(atom)
            items.append(atom)
        }
        return items.count == 1 ? items[0] : .sequence(items)
    }

    mutating func quantified(_ atom: Regex) throws(GrammarError) -> Regex {
        var atom = atom
        while let c = peek {
            var bounds: (Int, Int?)
            switch c {
            case "*": bounds = (0, nil)
            case "+": bounds = (1, nil)
            case "?": bounds = (0, 1)
            case "{":
                let save = i
                i += 1
                guard let low = number() else {
                    i = save
                    return atom  // a literal '{'
                }
                var high: Int? = low
                if take(",") { high = number() }
                guard take("}") else { throw fail("unterminated {m,n} quantifier") }
                guard high.map({ $0 >= low }) ?? true else {
                    throw fail("{\(low),\(high!)}: the maximum is below the minimum")
                }
                guard max(low, high ?? 0) <= Regex.maxRepetition else {
                    throw fail("repetition bound over \(Regex.maxRepetition)")
                }
                i -= 1
                bounds = (low, high)
            default: return atom
            }
            i += 1
            if peek == "?" || peek == "+" { i += 1 }  // lazy or possessive: same whole-text language
            atom = .repetition(atom, min: bounds.0, max: bounds.1)
        }
        return atom
    }

    mutating func atom() throws(GrammarError) -> Regex {
        guard let c = peek else { throw fail("unexpected end") }
        i += 1
        switch c {
        case "(":
            if take("?") {
                if take(":") {
                } else if take("P") || peek == "<" {
                    guard take("<") else { throw fail("unsupported group syntax") }
                    if peek == "=" || peek == "!" { throw fail("lookbehind is not supported") }
                    while let n = peek, n != ">" { i += 1 }
                    guard take(">") else { throw fail("unterminated group name") }
                } else if peek == "=" || peek == "!" {
                    throw fail("lookahead is not supported")
                } else {
                    throw fail("unsupported group flag '(?\(peek.map(String.init) ?? "")'")
                }
            }
            let inner = try alternation()
            guard take(")") else { throw fail("missing ')'") }
            return inner
        case "[": return .chars(try bracket())
        case ".": return .chars(CharacterClass.any.subtracting(CharacterClass(scalar: 0x0A)))
        case "\\": return .chars(try escape(inClass: false))
        case "*", "+", "?": throw fail("nothing to repeat before '\(c)'")
        default: return .chars(CharacterClass(scalar: c.value))
        }
    }

    mutating func escape(inClass: Bool) throws(GrammarError) -> CharacterClass {
        guard let c = peek else { throw fail("pattern ends with '\\'") }
        i += 1
        switch c {
        case "d": return .digit
        case "D": return CharacterClass.digit.inverted
        case "w": return .word
        case "W": return CharacterClass.word.inverted
        case "s": return .space
        case "S": return CharacterClass.space.inverted
        case "n": return CharacterClass(scalar: 0x0A)
        case "r": return CharacterClass(scalar: 0x0D)
        case "t": return CharacterClass(scalar: 0x09)
        case "f": return CharacterClass(scalar: 0x0C)
        case "v": return CharacterClass(scalar: 0x0B)
        case "0": return CharacterClass(scalar: 0)
        case "x": return CharacterClass(scalar: try hex(2))
        case "u":
            if take("{") {
                var value: UInt32 = 0
                while let d = peek, let v = UInt32(String(d), radix: 16) {
                    value = value * 16 + v
                    i += 1
                }
                guard take("}"), value <= 0x10FFFF else { throw fail("bad \\u{...} escape") }
                return CharacterClass(scalar: value)
            }
            return CharacterClass(scalar: try hex(4))
        case "b" where inClass: return CharacterClass(scalar: 0x08)
        case "b", "B": throw fail("word boundaries (\\b, \\B) are not supported")
        case "A", "Z", "z": throw fail("anchors \\A, \\Z are not supported; the pattern always matches the whole text")
        case "1"..."9": throw fail("backreferences are not supported")
        default:
            if ("a"..."z").contains(c) || ("A"..."Z").contains(c) { throw fail("unknown escape '\\\(c)'") }
            return CharacterClass(scalar: c.value)
        }
    }

    mutating func bracket() throws(GrammarError) -> CharacterClass {
        let negated = take("^")
        var set = CharacterClass([])
        var first = true
        while true {
            guard let c = peek else { throw fail("unterminated character class") }
            if c == "]" && !first {
                i += 1
                break
            }
            first = false
            if c == "[" && i + 1 < scalars.count && scalars[i + 1] == ":" {
                throw fail("POSIX classes like [:alpha:] are not supported")
            }
            var low: CharacterClass
            i += 1
            if c == "\\" {
                low = try escape(inClass: true)
            } else {
                low = CharacterClass(scalar: c.value)
            }
            if peek == "-", i + 1 < scalars.count, scalars[i + 1] != "]", low.ranges.count == 1,
                low.ranges[0].lowerBound == low.ranges[0].upperBound
            {
                i += 1
                let hc = scalars[i]
                i += 1
                let high = hc == "\\" ? try escape(inClass: true) : CharacterClass(scalar: hc.value)
                guard high.ranges.count == 1, high.ranges[0].lowerBound == high.ranges[0].upperBound else {
                    throw fail("a range cannot end in a class escape")
                }
                let (a, b) = (low.ranges[0].lowerBound, high.ranges[0].lowerBound)
                guard a <= b else { throw fail("range out of order") }
                low = CharacterClass([a...b])
            }
            set = set.union(low)
        }
        return negated ? set.inverted : set
    }
}
