import Grammar
import Testing

@Suite struct RegexAndEBNFTests {
    func regex(_ pattern: String) throws -> StructuredConstraint { try TestVocabulary.constraint(.regex(pattern)) }
    func ebnf(_ text: String) throws -> StructuredConstraint { try TestVocabulary.constraint(.grammar(text)) }

    @Test func regexFeatures() throws {
        let cases: [(String, [String], [String])] = [
            ("a|bc", ["a", "bc"], ["b", "abc"]),
            ("(ab)+c?", ["ab", "ababc"], ["", "abca"]),
            ("[^0-9]{2,3}", ["ab", "é!x"], ["a", "a1", "abcd"]),
            ("\\d\\s\\w\\.", ["1 _.", "9\tZ."], ["a b.", "1 _x"]),
            ("x{3}", ["xxx"], ["xx", "xxxx"]),
            ("x{2,}", ["xx", "xxxxx"], ["x"]),
            ("(?:a|b)*?c", ["c", "abac"], ["ab"]),
            ("(?P<year>[0-9]{4})-(?<m>0[1-9])", ["2024-05"], ["2024-5"]),
            ("^.+$", ["any thing"], ["", "two\nlines"]),
            ("\\u00e9\\x41", ["éA"], ["eA"]),
            ("[\\]\\-a]+", ["]-a"], ["b"]),
            ("Tớ (buồn|vui) quá", ["Tớ buồn quá", "Tớ vui quá"], ["Tớ buon quá"]),
        ]
        for (pattern, good, bad) in cases {
            let c = try regex(pattern)
            for text in good {
                #expect(c.matches(text), "\(pattern) should match \(text)")
                #expect(c.violation(text) == nil, "validator: \(pattern) on \(text)")
            }
            for text in bad { #expect(!c.matches(text), "\(pattern) should not match \(text)") }
        }
    }

    @Test func regexErrorsGiveTheOffset() {
        let cases: [(String, String)] = [
            ("(a", "missing ')'"), ("a)", "unbalanced ')'"), ("(?=a)b", "lookahead"), ("a\\bc", "word boundaries"),
            ("(a)\\1", "backreferences"), ("*a", "nothing to repeat"), ("[a-", "unterminated character class"),
            ("a{3,1}", "maximum is below the minimum"), ("a{99999}", "repetition bound"),
            ("a^b", "'^' is supported only"),
            ("[z-a]", "range out of order"), ("\\q", "unknown escape"), ("x\\u12", "bad hex escape"),
            ("(?i)a", "unsupported group flag"), ("\\Aa", "anchors"),
        ]
        for (pattern, message) in cases {
            #expect {
                _ = try regex(pattern)
            } throws: { error in
                guard let e = error as? GrammarError else { return false }
                return e.message.contains(message) && e.location?.hasPrefix("pattern offset") == true
            }
        }
    }

    @Test func ebnfFeatures() throws {
        let grammar = """
            # a tiny arithmetic language
            root ::= expr
            expr ::= term (("+" | "-") term)*
            term ::= factor ('*' factor)*
            factor ::= num | "(" expr ")"
            num ::= [1-9] [0-9]{0,2} | "0"
            """
        let c = try ebnf(grammar)
        for text in ["1", "12+3*4", "(1+2)*3", "0-(7)"] { #expect(c.matches(text), "\(text)") }
        for text in ["", "1+", "01", "(1", "1234"] { #expect(!c.matches(text), "\(text)") }
        #expect(c.violation("1+2") == nil && c.violation("1+") != nil)
        let multiline = try ebnf("root ::= \"a\"\n  | \"b\" x?\nx ::= [^\\n]+ \"\\n\"")
        #expect(
            multiline.matches("a") && multiline.matches("b") && multiline.matches("bzz\n") && !multiline.matches("c")
        )
        let unicode = try ebnf(#"root ::= "xin " ("chào" | "\u0063hao") [😀-😂]?"#)
        #expect(unicode.matches("xin chào") && unicode.matches("xin chao😁") && !unicode.matches("xin chào😃"))
        let anything = try ebnf("root ::= . . \"!\"")
        #expect(anything.matches("ab!") && anything.matches("éx!") && !anything.matches("a!"))
    }

    @Test func ebnfErrorsGiveLineAndColumn() {
        let cases: [(String, String, String)] = [
            ("root ::= foo", "rule 'foo' is not defined", "line 1, column 10"),
            ("start ::= \"a\"", "no 'root' rule", ""),
            ("root ::= \"a\"\nroot ::= \"b\"", "defined twice", "line 2"),
            ("root ::= \"a", "unterminated string", "line 1"),
            ("root ::= (\"a\"", "missing ')'", "line 1"),
            ("root ::= root \"a\" | \"b\"", "left-recursive", ""),
            ("root ::= root \"a\"", "matches no finite text", ""),
            ("root ::= x \"a\"\nx ::= \"\" | root", "left-recursive", ""),
            ("root := \"a\"", "expected '::='", "line 1"),
            ("root ::= [b-a]", "out of order", "line 1"),
            ("# nothing but a comment", "has no rules", ""),
            ("root ::= \"\\uD8\"", "bad hex escape", "line 1"),
            ("root ::= \"a\" ::= \"b\"", "unexpected ':'", "line 1"),
            ("root ::= \"a\"{3,1}", "{m,n} with n below m", "line 1"),
        ]
        for (text, message, location) in cases {
            #expect {
                _ = try ebnf(text)
            } throws: { error in
                guard let e = error as? GrammarError else { return false }
                return e.message.contains(message) && (location.isEmpty || e.location?.hasPrefix(location) == true)
            }
        }
        // Right recursion and nullable tail loops are fine.
        #expect((try? ebnf("root ::= \"a\" root | \"\"")) != nil)
        #expect((try? ebnf("root ::= x* \nx ::= \"a\"?")) != nil)
    }

    @Test func constraintTextSizeIsBounded() {
        let huge = "root ::= \"" + String(repeating: "a", count: ConstraintSpec.maxTextBytes) + "\""
        #expect(throws: GrammarError.self) { try ebnf(huge) }
        #expect(throws: GrammarError.self) { try TestVocabulary.constraint(.choice([])) }
    }
}
