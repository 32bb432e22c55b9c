/// The parsed form of a chat template: statements and expressions of the Jinja2 subset Swerve renders.
indirect enum JinjaNode: Sendable {
    case text(String)
    case output(JinjaExpr)
    case conditional([(JinjaExpr, [JinjaNode])], otherwise: [JinjaNode])
    case loop(targets: [String], over: JinjaExpr, filter: JinjaExpr?, body: [JinjaNode], otherwise: [JinjaNode])
    case assign(target: JinjaExpr, value: JinjaExpr)
    case assignBlock(name: String, body: [JinjaNode])
    case breakLoop
    case continueLoop
}

indirect enum JinjaExpr: Sendable {
    case literal(JinjaValue)
    case name(String)
    case list([JinjaExpr])
    case dict([(JinjaExpr, JinjaExpr)])
    case attribute(JinjaExpr, String)
    case index(JinjaExpr, JinjaExpr)
    case slice(JinjaExpr, JinjaExpr?, JinjaExpr?, JinjaExpr?)
    case call(JinjaExpr, [JinjaExpr], [(String, JinjaExpr)])
    case filter(JinjaExpr, String, [JinjaExpr], [(String, JinjaExpr)])
    case test(JinjaExpr, String, [JinjaExpr], negated: Bool)
    case negate(JinjaExpr)
    case not(JinjaExpr)
    case binary(String, JinjaExpr, JinjaExpr)
    case compare(JinjaExpr, [(String, JinjaExpr)])
    case and(JinjaExpr, JinjaExpr)
    case or(JinjaExpr, JinjaExpr)
    case ternary(JinjaExpr, then: JinjaExpr, otherwise: JinjaExpr?)
}

enum JinjaToken: Equatable {
    case name(String)
    case string(String)
    case int(Int)
    case double(Double)
    case op(String)
}

/// One piece of template source: literal text, or the tokens of a `{{ }}` or `{% %}` tag.
enum JinjaSegment {
    case text(String)
    case output([JinjaToken], line: Int)
    case statement([JinjaToken], line: Int)
}

/// Splits template source into segments, applying `-` whitespace control and Hugging Face's
/// `trim_blocks` / `lstrip_blocks` settings exactly as Jinja2's lexer does.
enum JinjaLexer {
    static func segments(_ source: String) throws(ChatTemplateError) -> [JinjaSegment] {
        var s = Array(source.unicodeScalars)
        // keep_trailing_newline is off: one final newline of the source is dropped.
        if s.last == "\n" {
            s.removeLast()
            if s.last == "\r" { s.removeLast() }
        }
        var segments: [JinjaSegment] = []
        var pos = 0
        var lineStarting = true
        var trimNewline = false
        var stripLeading = false
        var line = 1
        func isSpace(_ c: Unicode.Scalar) -> Bool { c == " " || c == "\t" || c == "\n" || c == "\r" }
        while pos <= s.count {
            var next = pos
            while next + 1 < s.count
                && !(s[next] == "{" && (s[next + 1] == "{" || s[next + 1] == "%" || s[next + 1] == "#"))
            {
                next += 1
            }
            if next + 1 >= s.count { next = s.count }
            var text = Array(s[pos..<next])
            line += text.filter { $0 == "\n" }.count
            if stripLeading {
                var k = 0
                while k < text.count && isSpace(text[k]) { k += 1 }
                lineStarting = k > 0 ? text[k - 1] == "\n" : false
                text.removeFirst(k)
            } else if trimNewline && text.first == "\n" {
                text.removeFirst()
                lineStarting = true
            } else if pos > 0 {
                lineStarting = false
            }
            guard next < s.count else {
                if !text.isEmpty { segments.append(.text(String(String.UnicodeScalarView(text)))) }
                break
            }
            let kind = s[next + 1]
            var start = next + 2
            let marker: Unicode.Scalar? = start < s.count && (s[start] == "-" || s[start] == "+") ? s[start] : nil
            if marker != nil { start += 1 }
            if marker == "-" {
                while let last = text.last, isSpace(last) { text.removeLast() }
            } else if kind != "{" && marker != "+" {
                // lstrip_blocks: whitespace between a line start and a block or comment tag goes.
                if let newline = text.lastIndex(of: "\n") {
                    if text[(newline + 1)...].allSatisfy({ $0 == " " || $0 == "\t" }) {
                        text.removeSubrange((newline + 1)...)
                    }
                } else if lineStarting && text.allSatisfy({ $0 == " " || $0 == "\t" }) {
                    text.removeAll()
                }
            }
            if !text.isEmpty { segments.append(.text(String(String.UnicodeScalarView(text)))) }
            let tagLine = line
            if kind == "#" {
                var k = start
                while k + 1 < s.count && !(s[k] == "#" && s[k + 1] == "}") { k += 1 }
                guard k + 1 < s.count else { throw .syntax("unclosed comment", line: tagLine) }
                line += s[start..<k].filter { $0 == "\n" }.count
                stripLeading = k > start && s[k - 1] == "-"
                trimNewline = true
                pos = k + 2
                continue
            }
            let close: Unicode.Scalar = kind == "{" ? "}" : "%"
            var tokens: [JinjaToken] = []
            var k = start
            var closedWithMinus = false
            scan: while true {
                while k < s.count && isSpace(s[k]) {
                    if s[k] == "\n" { line += 1 }
                    k += 1
                }
                guard k < s.count else { throw .syntax("unclosed tag", line: tagLine) }
                if s[k] == "-", k + 2 < s.count, s[k + 1] == close, s[k + 2] == "}" {
                    closedWithMinus = true
                    k += 3
                    break scan
                }
                if s[k] == close, k + 1 < s.count, s[k + 1] == "}" {
                    k += 2
                    break scan
                }
                tokens.append(try token(s, &k, line: tagLine))
            }
            segments.append(kind == "{" ? .output(tokens, line: tagLine) : .statement(tokens, line: tagLine))
            stripLeading = closedWithMinus
            trimNewline = kind == "%"
            pos = k
        }
        return segments
    }

    private static func token(_ s: [Unicode.Scalar], _ k: inout Int, line: Int) throws(ChatTemplateError) -> JinjaToken
    {
        let c = s[k]
        if c == "_" || c.properties.isAlphabetic && c.isASCII {
            var name = ""
            while k < s.count
                && (s[k] == "_"
                    || (s[k].isASCII && (s[k].properties.isAlphabetic || s[k].properties.numericType != nil)))
            {
                name.unicodeScalars.append(s[k])
                k += 1
            }
            return .name(name)
        }
        if c.isASCII && c.properties.numericType != nil {
            var text = ""
            var isFloat = false
            while k < s.count
                && (s[k].isASCII && s[k].properties.numericType != nil || s[k] == "_"
                    || (s[k] == "." && !isFloat && k + 1 < s.count && s[k + 1].properties.numericType != nil))
            {
                if s[k] == "." { isFloat = true }
                if s[k] != "_" { text.unicodeScalars.append(s[k]) }
                k += 1
            }
            if isFloat { return .double(Double(text) ?? 0) }
            guard let value = Int(text) else { throw .syntax("number \(text) is too large", line: line) }
            return .int(value)
        }
        if c == "'" || c == "\"" {
            k += 1
            var out = ""
            while k < s.count && s[k] != c {
                if s[k] == "\\" && k + 1 < s.count {
                    k += 1
                    switch s[k] {
                    case "n": out += "\n"
                    case "t": out += "\t"
                    case "r": out += "\r"
                    case "\\": out += "\\"
                    case "'": out += "'"
                    case "\"": out += "\""
                    default: out += "\\" + String(s[k])
                    }
                } else {
                    out.unicodeScalars.append(s[k])
                }
                k += 1
            }
            guard k < s.count else { throw .syntax("unterminated string", line: line) }
            k += 1
            return .string(out)
        }
        for op in ["==", "!=", "<=", ">=", "//", "**"] {
            let o = Array(op.unicodeScalars)
            if k + 1 < s.count && s[k] == o[0] && s[k + 1] == o[1] {
                k += 2
                return .op(op)
            }
        }
        guard "+-*/%~<>=()[]{}.,:|".unicodeScalars.contains(c) else {
            throw .syntax("unexpected character '\(c)'", line: line)
        }
        k += 1
        return .op(String(c))
    }
}
