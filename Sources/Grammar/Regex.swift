/// A regular expression parsed into a tree and compiled into grammar rules, matching the whole text (as
/// vLLM's `regex` constraint does). The dialect is Python's `re` with `re.ASCII` (vLLM's language; the
/// tests hold the parser to `re.fullmatch` on a committed corpus): literals, `.`, classes (`[a-z]`, `[^"]`,
/// `\d \w \s` and their negations), groups (plain, `(?:…)` and named), alternation, and the greedy, lazy or
/// possessive quantifiers `* + ? {m} {m,} {,n} {m,n}` (laziness does not change what a whole-text match
/// accepts); a `{` that closes no bound is a literal, a quantifier on a quantifier is Python's "multiple
/// repeat". Anchors are accepted only at the ends. Backreferences, lookaround and word boundaries are
/// refused with their offset: no finite automaton matches them. Groups nest at most `maxNesting` deep.
/// Answers are checked by `RegexMatcher`, built from the same tree.
public indirect enum Regex: Equatable, Sendable {
    case chars(CharacterClass)
    case sequence([Regex])
    case alternation([Regex])
    case repetition(Regex, min: Int, max: Int?)

    /// Largest `{m,n}` bound accepted.
    public static let maxRepetition = 10_000

    /// Deepest nesting of groups accepted (the parser and everything that walks the tree recurse on it).
    public static let maxNesting = 256

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
    /// Groups open at the cursor.
    var depth = 0

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
            if try atQuantifier() { throw fail("nothing to repeat before '\(c)'") }
            var atom = try self.atom()
            atom = try quantified(atom)
            items.append(atom)
        }
        return items.count == 1 ? items[0] : .sequence(items)
    }

    /// One quantifier at the cursor as (min, max), consumed; nil (cursor unmoved) when there is none. As
    /// Python's `re`: `{,n}` is `{0,n}`, `{,}` is `*`, and a `{` that does not close a bound is a literal.
    mutating func quantifier() throws(GrammarError) -> (min: Int, max: Int?)? {
        guard let c = peek else { return nil }
        switch c {
        case "*", "+", "?":
            i += 1
            return c == "*" ? (0, nil) : c == "+" ? (1, nil) : (0, 1)
        case "{":
            let save = i
            i += 1
            let low = number()
            var high = low
            if take(",") {
                high = number()
            } else if low == nil {
                i = save
                return nil
            }
            guard take("}") else {
                i = save
                return nil
            }
            if let high, high < (low ?? 0) {
                throw fail("{\(low ?? 0),\(high)}: the maximum is below the minimum")
            }
            guard max(low ?? 0, high ?? 0) <= Regex.maxRepetition else {
                throw fail("repetition bound over \(Regex.maxRepetition)")
            }
            return (low ?? 0, high)
        default: return nil
        }
    }

    /// Whether a quantifier starts at the cursor (the cursor stays).
    mutating func atQuantifier() throws(GrammarError) -> Bool {
        let save = i
        defer { i = save }
        return try quantifier() != nil
    }

    mutating func quantified(_ atom: Regex) throws(GrammarError) -> Regex {
        guard let (low, high) = try quantifier() else { return atom }
        if peek == "?" || peek == "+" { i += 1 }  // lazy or possessive: same whole-text language
        // As Python's `re` (and so no quantifier stacks deeper than the groups nest).
        if try atQuantifier() { throw fail("multiple repeat") }
        return .repetition(atom, min: low, max: high)
    }

    mutating func atom() throws(GrammarError) -> Regex {
        guard let c = peek else { throw fail("unexpected end") }
        i += 1
        switch c {
        case "(":
            depth += 1
            defer { depth -= 1 }
            guard depth <= Regex.maxNesting else { throw fail("groups nested deeper than \(Regex.maxNesting)") }
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
        case "a": return CharacterClass(scalar: 0x07)
        case "v": return CharacterClass(scalar: 0x0B)
        case "0":
            // An octal escape: `\0` and up to two more octal digits, as Python's `re`.
            var value: UInt32 = 0
            for _ in 0..<2 {
                guard let d = peek, ("0"..."7").contains(d) else { break }
                value = value * 8 + d.value - 48
                i += 1
            }
            return CharacterClass(scalar: value)
        case "x": return CharacterClass(scalar: try hex(2))
        case "u":
            return CharacterClass(scalar: try hex(4))
        case "U":
            let value = try hex(8)
            guard value <= 0x10FFFF else { throw fail("bad \\U escape") }
            return CharacterClass(scalar: value)
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
            let single = low.ranges.count == 1 && low.ranges[0].lowerBound == low.ranges[0].upperBound
            if peek == "-", i + 1 < scalars.count, scalars[i + 1] != "]", !single {
                throw fail("bad character range: a class escape cannot start a range")
            }
            if peek == "-", i + 1 < scalars.count, scalars[i + 1] != "]", single {
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
