/// Builds `JinjaNode`s from lexed segments: a recursive-descent parser with Jinja2's operator precedence
/// (filters and tests bind tighter than arithmetic, which binds tighter than comparisons, `not`, `and`, `or`,
/// and the inline `if`). Anything outside the subset is a syntax error naming the construct and its line.
struct JinjaParser {
    private var segments: [JinjaSegment]
    private var index = 0
    /// Blocks (`if`, `for`, ...) open at the cursor.
    private var depth = 0
    /// Deepest nesting of blocks, and of parentheses, brackets and operators in one expression, accepted
    /// (the parser and the interpreter recurse on both; a model file's template must not exhaust the stack).
    static let maxNesting = 128

    init(segments: [JinjaSegment]) { self.segments = segments }

    static func parse(_ source: String) throws(ChatTemplateError) -> [JinjaNode] {
        var parser = JinjaParser(segments: try JinjaLexer.segments(source))
        let (nodes, end) = try parser.block(until: [])
        if let end { throw .syntax("unexpected '\(end.keyword)'", line: end.line) }
        return nodes
    }

    struct BlockEnd {
        var keyword: String
        var tokens: [JinjaToken]
        var line: Int
    }

    /// Parses nodes until a statement whose keyword is in `until` (returned), or the end of input.
    mutating func block(until: Set<String>) throws(ChatTemplateError) -> ([JinjaNode], BlockEnd?) {
        var nodes: [JinjaNode] = []
        while index < segments.count {
            let segment = segments[index]
            index += 1
            switch segment {
            case .text(let text):
                nodes.append(.text(text))
            case .output(let tokens, let line):
                var expr = ExpressionParser(tokens: tokens, line: line)
                nodes.append(.output(try expr.parseAll()))
            case .statement(let tokens, let line):
                guard case .name(let keyword) = tokens.first else { throw .syntax("empty statement", line: line) }
                if until.contains(keyword) { return (nodes, BlockEnd(keyword: keyword, tokens: tokens, line: line)) }
                nodes.append(try statement(keyword, Array(tokens.dropFirst()), line: line))
            }
        }
        if let first = until.first(where: { $0.hasPrefix("end") }) {
            throw .syntax("missing '{% \(first) %}' at the end of the template", line: 0)
        }
        return (nodes, nil)
    }

    private mutating func statement(
        _ keyword: String,
        _ tokens: [JinjaToken],
        line: Int
    ) throws(ChatTemplateError) -> JinjaNode {
        depth += 1
        defer { depth -= 1 }
        guard depth <= Self.maxNesting else {
            throw .syntax("blocks nested deeper than \(Self.maxNesting)", line: line)
        }
        var expr = ExpressionParser(tokens: tokens, line: line)
        switch keyword {
        case "if":
            var branches: [(JinjaExpr, [JinjaNode])] = []
            var condition = try expr.parseAll()
            while true {
                let (body, end) = try block(until: ["elif", "else", "endif"])
                branches.append((condition, body))
                guard let end else { throw .syntax("'if' without 'endif'", line: line) }
                switch end.keyword {
                case "elif":
                    var next = ExpressionParser(tokens: Array(end.tokens.dropFirst()), line: end.line)
                    condition = try next.parseAll()
                case "else":
                    let (otherwise, last) = try block(until: ["endif"])
                    guard last != nil else { throw .syntax("'if' without 'endif'", line: line) }
                    return .conditional(branches, otherwise: otherwise)
                default:
                    return .conditional(branches, otherwise: [])
                }
            }
        case "for":
            var targets: [String] = []
            repeat {
                guard case .name(let target) = expr.next() else {
                    throw .syntax("expected a loop variable", line: line)
                }
                targets.append(target)
            } while expr.accept(.op(","))
            guard expr.accept(.name("in")) else { throw .syntax("expected 'in' in 'for'", line: line) }
            let iterable = try expr.parseTernary(allowIf: false)
            var filter: JinjaExpr?
            if expr.accept(.name("if")) { filter = try expr.parseOr() }
            if expr.accept(.name("recursive")) { throw .unsupported("recursive loops", line: line) }
            try expr.expectEnd()
            let (body, end) = try block(until: ["else", "endfor"])
            guard let end else { throw .syntax("'for' without 'endfor'", line: line) }
            var otherwise: [JinjaNode] = []
            if end.keyword == "else" {
                let (elseBody, last) = try block(until: ["endfor"])
                guard last != nil else { throw .syntax("'for' without 'endfor'", line: line) }
                otherwise = elseBody
            }
            return .loop(targets: targets, over: iterable, filter: filter, body: body, otherwise: otherwise)
        case "set":
            var target = try expr.parsePrimary()
            if case .name = target, expr.accept(.op(".")) {
                guard case .name(let attribute) = expr.next() else {
                    throw .syntax("expected an attribute name", line: line)
                }
                target = .attribute(target, attribute)
            }
            if expr.atEnd {
                guard case .name(let name) = target else { throw .syntax("block 'set' needs a plain name", line: line) }
                let (body, end) = try block(until: ["endset"])
                guard end != nil else { throw .syntax("'set' without 'endset'", line: line) }
                return .assignBlock(name: name, body: body)
            }
            guard expr.accept(.op("=")) else { throw .syntax("expected '=' in 'set'", line: line) }
            switch target {
            case .name, .attribute: break
            default: throw .unsupported("assignment to this target", line: line)
            }
            return .assign(target: target, value: try expr.parseAll())
        case "break": return .breakLoop
        case "continue": return .continueLoop
        default:
            throw .unsupported("'{% \(keyword) %}'", line: line)
        }
    }
}

/// Parses the tokens of one tag into an expression.
struct ExpressionParser {
    let tokens: [JinjaToken]
    let line: Int
    var i = 0
    /// Nested sub-expressions open at the cursor.
    var depth = 0

    init(tokens: [JinjaToken], line: Int) {
        self.tokens = tokens
        self.line = line
    }

    var atEnd: Bool { i >= tokens.count }
    func peek(_ offset: Int = 0) -> JinjaToken? { i + offset < tokens.count ? tokens[i + offset] : nil }

    mutating func next() -> JinjaToken? {
        defer { i += 1 }
        return peek()
    }

    mutating func accept(_ token: JinjaToken) -> Bool {
        guard peek() == token else { return false }
        i += 1
        return true
    }

    mutating func expect(_ token: JinjaToken) throws(ChatTemplateError) {
        guard accept(token) else {
            throw .syntax("expected \(Self.show(token)) but found \(Self.show(peek()))", line: line)
        }
    }

    func expectEnd() throws(ChatTemplateError) {
        guard atEnd else { throw .syntax("unexpected \(Self.show(peek()))", line: line) }
    }

    static func show(_ token: JinjaToken?) -> String {
        switch token {
        case nil: "end of tag"
        case .name(let n): "'\(n)'"
        case .string(let s): "string '\(s)'"
        case .int(let v): "\(v)"
        case .double(let v): "\(v)"
        case .op(let o): "'\(o)'"
        }
    }

    mutating func parseAll() throws(ChatTemplateError) -> JinjaExpr {
        let expr = try parseTernary(allowIf: true)
        try expectEnd()
        return expr
    }

    /// Counts one level of nesting (refused past `JinjaParser.maxNesting`); pair with `leave()`.
    mutating func enter() throws(ChatTemplateError) {
        depth += 1
        guard depth <= JinjaParser.maxNesting else {
            throw .syntax("an expression nested deeper than \(JinjaParser.maxNesting)", line: line)
        }
    }

    mutating func leave() { depth -= 1 }

    mutating func parseTernary(allowIf: Bool) throws(ChatTemplateError) -> JinjaExpr {
        try enter()
        defer { leave() }
        let value = try parseOr()
        guard allowIf, accept(.name("if")) else { return value }
        let condition = try parseOr()
        let otherwise = accept(.name("else")) ? try parseTernary(allowIf: true) : nil
        return .ternary(condition, then: value, otherwise: otherwise)
    }

    mutating func parseOr() throws(ChatTemplateError) -> JinjaExpr {
        var left = try parseAnd()
        while accept(.name("or")) { left = .or(left, try parseAnd()) }
        return left
    }

    mutating func parseAnd() throws(ChatTemplateError) -> JinjaExpr {
        var left = try parseNot()
        while accept(.name("and")) { left = .and(left, try parseNot()) }
        return left
    }

    mutating func parseNot() throws(ChatTemplateError) -> JinjaExpr {
        if accept(.name("not")) {
            try enter()
            defer { leave() }
            return .not(try parseNot())
        }
        return try parseCompare()
    }

    mutating func parseCompare() throws(ChatTemplateError) -> JinjaExpr {
        let left = try parseMath1()
        var ops: [(String, JinjaExpr)] = []
        while true {
            if case .op(let o) = peek(), ["==", "!=", "<", "<=", ">", ">="].contains(o) {
                i += 1
                ops.append((o, try parseMath1()))
            } else if accept(.name("in")) {
                ops.append(("in", try parseMath1()))
            } else if peek() == .name("not"), peek(1) == .name("in") {
                i += 2
                ops.append(("not in", try parseMath1()))
            } else {
                break
            }
        }
        return ops.isEmpty ? left : .compare(left, ops)
    }

    mutating func parseMath1() throws(ChatTemplateError) -> JinjaExpr {
        var left = try parseConcat()
        while case .op(let o) = peek(), o == "+" || o == "-" {
            i += 1
            left = .binary(o, left, try parseConcat())
        }
        return left
    }

    mutating func parseConcat() throws(ChatTemplateError) -> JinjaExpr {
        var left = try parseMath2()
        while accept(.op("~")) { left = .binary("~", left, try parseMath2()) }
        return left
    }

    mutating func parseMath2() throws(ChatTemplateError) -> JinjaExpr {
        var left = try parsePow()
        while case .op(let o) = peek(), ["*", "/", "//", "%"].contains(o) {
            i += 1
            left = .binary(o, left, try parsePow())
        }
        return left
    }

    mutating func parsePow() throws(ChatTemplateError) -> JinjaExpr {
        var left = try parseUnary()
        while accept(.op("**")) { left = .binary("**", left, try parseUnary()) }
        return left
    }

    mutating func parseUnary(withFilters: Bool = true) throws(ChatTemplateError) -> JinjaExpr {
        let expr: JinjaExpr
        let sign = peek() == .op("-") || peek() == .op("+")
        if sign { try enter() }
        defer { if sign { leave() } }
        if accept(.op("-")) {
            expr = .negate(try parseUnary(withFilters: false))
        } else if accept(.op("+")) {
            expr = try parseUnary(withFilters: false)
        } else {
            expr = try parsePostfix(try parsePrimary())
        }
        return withFilters ? try parseFilters(expr) : expr
    }

    mutating func parseFilters(_ base: JinjaExpr) throws(ChatTemplateError) -> JinjaExpr {
        var expr = base
        while true {
            if accept(.op("|")) {
                guard case .name(let name) = next() else {
                    throw .syntax("expected a filter name after '|'", line: line)
                }
                var args: [JinjaExpr] = []
                var kwargs: [(String, JinjaExpr)] = []
                if accept(.op("(")) { (args, kwargs) = try parseArguments() }
                expr = .filter(expr, name, args, kwargs)
                expr = try parsePostfix(expr)
            } else if accept(.name("is")) {
                let negated = accept(.name("not"))
                guard case .name(let name) = next() else {
                    throw .syntax("expected a test name after 'is'", line: line)
                }
                var args: [JinjaExpr] = []
                if accept(.op("(")) {
                    args = try parseArguments().0
                } else if let token = peek(), Self.startsPrimary(token) {
                    args = [try parsePostfix(try parsePrimary())]
                }
                expr = .test(expr, name, args, negated: negated)
            } else {
                return expr
            }
        }
    }

    static func startsPrimary(_ token: JinjaToken) -> Bool {
        switch token {
        case .string, .int, .double: true
        case .name(let n): !["and", "or", "not", "in", "is", "if", "else"].contains(n)
        case .op: false
        }
    }

    mutating func parseArguments() throws(ChatTemplateError) -> ([JinjaExpr], [(String, JinjaExpr)]) {
        var args: [JinjaExpr] = []
        var kwargs: [(String, JinjaExpr)] = []
        if accept(.op(")")) { return (args, kwargs) }
        repeat {
            if case .name(let key) = peek(), peek(1) == .op("=") {
                i += 2
                kwargs.append((key, try parseTernary(allowIf: true)))
            } else {
                args.append(try parseTernary(allowIf: true))
            }
        } while accept(.op(","))
        try expect(.op(")"))
        return (args, kwargs)
    }

    mutating func parsePostfix(_ base: JinjaExpr) throws(ChatTemplateError) -> JinjaExpr {
        var expr = base
        while true {
            if accept(.op(".")) {
                switch next() {
                case .name(let name): expr = .attribute(expr, name)
                case .int(let n): expr = .index(expr, .literal(.int(n)))
                default: throw .syntax("expected an attribute name after '.'", line: line)
                }
            } else if accept(.op("[")) {
                var parts: [JinjaExpr?] = [nil]
                var isSlice = false
                while !accept(.op("]")) {
                    if accept(.op(":")) {
                        isSlice = true
                        parts.append(nil)
                    } else {
                        guard parts[parts.count - 1] == nil else { throw .syntax("expected ']'", line: line) }
                        parts[parts.count - 1] = try parseTernary(allowIf: true)
                    }
                    guard !atEnd else { throw .syntax("expected ']'", line: line) }
                }
                if isSlice {
                    guard parts.count <= 3 else { throw .syntax("too many ':' in slice", line: line) }
                    while parts.count < 3 { parts.append(nil) }
                    expr = .slice(expr, parts[0], parts[1], parts[2])
                } else {
                    guard let key = parts[0] else { throw .syntax("empty subscript", line: line) }
                    expr = .index(expr, key)
                }
            } else if accept(.op("(")) {
                let (args, kwargs) = try parseArguments()
                expr = .call(expr, args, kwargs)
            } else {
                return expr
            }
        }
    }

    mutating func parsePrimary() throws(ChatTemplateError) -> JinjaExpr {
        guard let token = next() else { throw .syntax("expression expected", line: line) }
        switch token {
        case .string(var s):
            while case .string(let more) = peek() {  // adjacent literals concatenate
                s += more
                i += 1
            }
            return .literal(.string(s))
        case .int(let v): return .literal(.int(v))
        case .double(let v): return .literal(.double(v))
        case .name(let n):
            switch n {
            case "true", "True": return .literal(.bool(true))
            case "false", "False": return .literal(.bool(false))
            case "none", "None": return .literal(.none)
            default: return .name(n)
            }
        case .op("("):
            let first = try parseTernary(allowIf: true)
            if accept(.op(")")) { return first }
            var items = [first]
            while accept(.op(",")) {
                if peek() == .op(")") { break }
                items.append(try parseTernary(allowIf: true))
            }
            try expect(.op(")"))
            return .list(items)
        case .op("["):
            var items: [JinjaExpr] = []
            while !accept(.op("]")) {
                items.append(try parseTernary(allowIf: true))
                if !accept(.op(",")) {
                    try expect(.op("]"))
                    break
                }
            }
            return .list(items)
        case .op("{"):
            var pairs: [(JinjaExpr, JinjaExpr)] = []
            while !accept(.op("}")) {
                let key = try parseTernary(allowIf: true)
                try expect(.op(":"))
                pairs.append((key, try parseTernary(allowIf: true)))
                if !accept(.op(",")) {
                    try expect(.op("}"))
                    break
                }
            }
            return .dict(pairs)
        default:
            throw .syntax("unexpected \(Self.show(token))", line: line)
        }
    }
}
