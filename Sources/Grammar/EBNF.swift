/// Grammars written as EBNF in the GBNF dialect llama.cpp and xgrammar read (vLLM's `grammar` constraint):
/// `name ::= alternatives`, double- or single-quoted literals with `\n \t \r \\ \" \xHH \uHHHH` escapes,
/// character classes `[a-z]` / `[^"\\]`, `.`, groups, `|`, the postfix operators `* + ? {m} {m,} {m,n}`,
/// and `#` comments; a rule may span lines (it ends where the next `name ::=` begins). The start rule is
/// `root`. Groups nest at most `maxNesting` deep. Errors give the line and column.
public enum EBNF {
    /// Deepest nesting of groups accepted (the parser and the compiler recurse on it).
    public static let maxNesting = 256
    /// Most repetition operators stacked on one item (`x*?+…`; each is a level of the tree).
    public static let maxStackedOperators = 8

    indirect enum Node {
        case literal([UInt8])
        case chars(CharacterClass)
        case reference(String, offset: Int)
        case sequence([Node])
        case alternation([Node])
        case repetition(Node, min: Int, max: Int?)
    }

    /// Compiles the grammar text, rooted at `root`.
    public static func grammar(_ text: String, limit: Int = GrammarBuilder.defaultLimit) throws(GrammarError) -> Grammar
    {
        let scalars = Array(text.unicodeScalars)
        var parser = EBNFParser(scalars: scalars)
        let rules = try parser.rules()
        guard !rules.isEmpty else { throw GrammarError("the grammar has no rules") }
        var b = GrammarBuilder(limit: limit)
        var ids: [String: Int] = [:]
        for (name, _, line) in rules {
            guard ids[name] == nil else { throw GrammarError("rule '\(name)' is defined twice", at: "line \(line)") }
            ids[name] = b.declare(name)
        }
        guard let root = ids["root"] else { throw GrammarError("the grammar has no 'root' rule (the start rule)") }
        func compile(_ node: Node) throws(GrammarError) -> [Grammar.Symbol] {
            switch node {
            case .literal(let bytes): return GrammarBuilder.literal(bytes)
            case .chars(let set):
                let alternatives = set.alternatives()
                guard !alternatives.isEmpty else { throw GrammarError("a character class matches nothing") }
                return [try b.choice(alternatives, name: "class")]
            case .reference(let name, let offset):
                guard let id = ids[name] else {
                    let (line, column) = EBNFParser.location(of: offset, in: scalars)
                    throw GrammarError("rule '\(name)' is not defined", at: "line \(line), column \(column)")
                }
                return [.rule(id)]
            case .sequence(let items):
                var out: [Grammar.Symbol] = []
                for item in items { out += try compile(item) }
                return out
            case .alternation(let options):
                var alternatives: [[Grammar.Symbol]] = []
                for option in options { alternatives.append(try compile(option)) }
                return [try b.choice(alternatives)]
            case .repetition(let item, let min, let max):
                return try b.repeated(try compile(item), min: min, max: max)
            }
        }
        for (name, body, _) in rules {
            let alternatives: [[Grammar.Symbol]]
            if case .alternation(let options) = body {
                var list: [[Grammar.Symbol]] = []
                for option in options { list.append(try compile(option)) }
                alternatives = list
            } else {
                alternatives = [try compile(body)]
            }
            try b.define(ids[name]!, alternatives)
        }
        return try b.build(root: .rule(root))
    }
}

/// The parser behind `EBNF.grammar`.
struct EBNFParser: ScalarReader {
    let scalars: [Unicode.Scalar]
    var i = 0
    /// Groups open at the cursor.
    var depth = 0

    var position: (line: Int, column: Int) { Self.location(of: i, in: scalars) }

    static func location(of offset: Int, in scalars: [Unicode.Scalar]) -> (line: Int, column: Int) {
        var line = 1
        var column = 1
        for s in scalars[..<min(offset, scalars.count)] {
            if s == "\n" {
                line += 1
                column = 1
            } else {
                column += 1
            }
        }
        return (line, column)
    }

    func fail(_ message: String) -> GrammarError {
        let (line, column) = position
        return GrammarError("grammar: \(message)", at: "line \(line), column \(column)")
    }

    static func isNameStart(_ s: Unicode.Scalar) -> Bool {
        ("a"..."z").contains(s) || ("A"..."Z").contains(s) || s == "_"
    }

    static func isName(_ s: Unicode.Scalar) -> Bool {
        isNameStart(s) || ("0"..."9").contains(s) || s == "-" || s == "."
    }

    mutating func skipSpace() {
        while let c = peek {
            if c == "#" {
                while let d = peek, d != "\n" { i += 1 }
            } else if c == " " || c == "\t" || c == "\n" || c == "\r" {
                i += 1
            } else {
                return
            }
        }
    }

    /// Whether a `name ::=` starts here (the end of the previous rule).
    func atRuleStart() -> Bool {
        var j = i
        guard j < scalars.count, Self.isNameStart(scalars[j]) else { return false }
        while j < scalars.count && Self.isName(scalars[j]) { j += 1 }
        while j < scalars.count && (scalars[j] == " " || scalars[j] == "\t" || scalars[j] == "\n" || scalars[j] == "\r")
        {
            j += 1
        }
        return j + 2 < scalars.count && scalars[j] == ":" && scalars[j + 1] == ":" && scalars[j + 2] == "="
    }

    mutating func name() -> String {
        var out = ""
        while let c = peek, Self.isName(c) {
            out.unicodeScalars.append(c)
            i += 1
        }
        return out
    }

    mutating func rules() throws(GrammarError) -> [(String, EBNF.Node, Int)] {
        var rules: [(String, EBNF.Node, Int)] = []
        skipSpace()
        while peek != nil {
            guard let c = peek, Self.isNameStart(c) else { throw fail("expected a rule name") }
            let line = position.line
            let name = self.name()
            skipSpace()
            guard i + 2 < scalars.count, scalars[i] == ":", scalars[i + 1] == ":", scalars[i + 2] == "=" else {
                throw fail("expected '::=' after rule name '\(name)'")
            }
            i += 3
            rules.append((name, try alternation(), line))
            skipSpace()
        }
        return rules
    }

    mutating func alternation() throws(GrammarError) -> EBNF.Node {
        var options = [try sequence()]
        while true {
            skipSpace()
            guard peek == "|" else { break }
            i += 1
            options.append(try sequence())
        }
        return options.count == 1 ? options[0] : .alternation(options)
    }

    mutating func sequence() throws(GrammarError) -> EBNF.Node {
        var items: [EBNF.Node] = []
        while true {
            skipSpace()
            guard let c = peek, c != "|", c != ")", !atRuleStart() else { break }
            var item = try primary()
            var stacked = 0
            while true {
                guard let q = peek else { break }
                if "*+?{".unicodeScalars.contains(q) {
                    stacked += 1
                    guard stacked <= EBNF.maxStackedOperators else {
                        throw fail("more than \(EBNF.maxStackedOperators) repetition operators on one item")
                    }
                }
                if q == "*" || q == "+" || q == "?" {
                    i += 1
                    item = .repetition(item, min: q == "+" ? 1 : 0, max: q == "*" || q == "+" ? nil : 1)
                } else if q == "{" {
                    i += 1
                    skipSpace()
                    guard let low = number() else { throw fail("expected a number after '{'") }
                    skipSpace()
                    var high: Int? = low
                    if peek == "," {
                        i += 1
                        skipSpace()
                        high = number()
                        skipSpace()
                    }
                    guard peek == "}" else { throw fail("expected '}'") }
                    i += 1
                    guard high.map({ $0 >= low }) ?? true else { throw fail("{m,n} with n below m") }
                    guard max(low, high ?? 0) <= Regex.maxRepetition else {
                        throw fail("repetition bound over \(Regex.maxRepetition)")
                    }
                    item = .repetition(item, min: low, max: high)
                } else {
                    break
                }
            }
            items.append(item)
        }
        return items.count == 1 ? items[0] : .sequence(items)
    }

    mutating func primary() throws(GrammarError) -> EBNF.Node {
        guard let c = peek else { throw fail("unexpected end of grammar") }
        switch c {
        case "\"", "'":
            i += 1
            var bytes: [UInt8] = []
            while true {
                guard let d = peek, d != "\n" else { throw fail("unterminated string literal") }
                i += 1
                if d == c { break }
                let scalar = d == "\\" ? try escape() : d.value
                bytes += CharacterClass.encode(scalar)
            }
            return .literal(bytes)
        case "[":
            i += 1
            let negated = peek == "^"
            if negated { i += 1 }
            var ranges: [ClosedRange<UInt32>] = []
            while true {
                guard let d = peek else { throw fail("unterminated character class") }
                i += 1
                if d == "]" { break }
                let low = d == "\\" ? try escape() : d.value
                var high = low
                if peek == "-", i + 1 < scalars.count, scalars[i + 1] != "]" {
                    i += 1
                    let e = scalars[i]
                    i += 1
                    high = e == "\\" ? try escape() : e.value
                    guard high >= low else { throw fail("character range out of order") }
                }
                ranges.append(low...high)
            }
            let set = CharacterClass(ranges)
            return .chars(negated ? set.inverted : set)
        case ".":
            i += 1
            return .chars(.any)
        case "(":
            i += 1
            depth += 1
            defer { depth -= 1 }
            guard depth <= EBNF.maxNesting else { throw fail("groups nested deeper than \(EBNF.maxNesting)") }
            let inner = try alternation()
            skipSpace()
            guard peek == ")" else { throw fail("missing ')'") }
            i += 1
            return inner
        default:
            guard Self.isNameStart(c) else { throw fail("unexpected '\(c)'") }
            let offset = i
            return .reference(name(), offset: offset)
        }
    }

    mutating func escape() throws(GrammarError) -> UInt32 {
        guard let c = peek else { throw fail("grammar ends with '\\'") }
        i += 1
        func scalar(_ digits: Int) throws(GrammarError) -> UInt32 {
            let value = try hex(digits)
            guard value <= 0x10FFFF else { throw fail("escape beyond U+10FFFF") }
            return value
        }
        switch c {
        case "n": return 0x0A
        case "r": return 0x0D
        case "t": return 0x09
        case "x": return try scalar(2)
        case "u": return try scalar(4)
        case "U": return try scalar(8)
        default: return c.value
        }
    }
}
