import Foundation
import Testing

@testable import Grammar
@testable import TestSupport

/// The regex dialect held to Python's `re` (re.ASCII) on a committed corpus (`scripts/make-regex-fixture.py`):
/// what Python refuses is refused, what no automaton can match is refused, and on everything else the
/// grammar (what generation follows) and `RegexMatcher` (what checks the answer) both give Python's verdict.
/// And whatever the grammar generates, the matcher accepts: an answer is never a 500 for want of agreement.
@Suite struct RegexCorpusTests {
    struct Corpus: Decodable {
        let python: String
        let patterns: [Entry]
    }

    struct Entry: Decodable {
        let pattern: String
        let python_compiles: Bool
        let unsupported: Bool
        let cases: [Case]
    }

    struct Case: Decodable {
        let text: String
        let fullmatch: Bool
        let search: Bool
    }

    static let corpus: Corpus = try! loadFixture("regex-corpus", as: Corpus.self, in: .module)

    @Test func refusedExactlyWherePythonRefusesOrNoAutomatonCan() throws {
        for entry in Self.corpus.patterns {
            let compiled = try? TestVocabulary.constraint(.regex(entry.pattern))
            if !entry.python_compiles || entry.unsupported {
                #expect(compiled == nil, "\(entry.pattern) should be refused")
                #expect((try? RegexMatcher(entry.pattern)) == nil)
            } else {
                #expect(compiled != nil, "\(entry.pattern) should compile")
            }
        }
    }

    @Test func grammarAndMatcherGivePythonsVerdict() throws {
        for entry in Self.corpus.patterns where entry.python_compiles && !entry.unsupported {
            let constraint = try TestVocabulary.constraint(.regex(entry.pattern))
            let matcher = try RegexMatcher(entry.pattern)
            for example in entry.cases {
                let label = "\(entry.pattern.prefix(40)) on \(example.text.debugDescription)"
                #expect(matcher.matchesWhole(example.text) == example.fullmatch, "matcher: \(label)")
                #expect(constraint.matches(example.text) == example.fullmatch, "grammar: \(label)")
                #expect((constraint.violation(example.text) == nil) == example.fullmatch, "violation: \(label)")
                // Python's `$` also matches before a final newline; JSON Schema's (ECMAScript's) does not.
                if !example.text.hasSuffix("\n") {
                    #expect(matcher.matchesSomewhere(example.text) == example.search, "search: \(label)")
                }
            }
        }
    }

    @Test func whateverTheGrammarGeneratesTheMatcherAccepts() throws {
        var random = SeededRandom(seed: 16)
        var sampled = 0
        var nonEmpty = 0
        for entry in Self.corpus.patterns where entry.python_compiles && !entry.unsupported {
            let constraint = try TestVocabulary.constraint(.regex(entry.pattern))
            for _ in 0..<6 {
                guard let text = Self.sample(constraint.automaton, &random) else { continue }
                sampled += 1
                if !text.isEmpty { nonEmpty += 1 }
                #expect(
                    constraint.violation(text) == nil,
                    "\(entry.pattern.prefix(40)) generated \(text.debugDescription)"
                )
            }
        }
        #expect(sampled > 250 && nonEmpty > 200, "\(sampled) samples, \(nonEmpty) non-empty")
    }

    /// A random text the automaton accepts: a walk over allowed bytes that stops where the grammar may end.
    static func sample(_ automaton: GrammarAutomaton, _ random: inout SeededRandom) -> String? {
        var state = automaton.initialState
        var bytes: [UInt8] = []
        for step in 0..<96 {
            if automaton.canEnd(state), step >= 24 || random.below(4) == 0 { break }
            let next = (0..<256).map(UInt8.init).filter {
                automaton.run(from: state, bytes: [$0]) != GrammarAutomaton.dead
            }
            guard let byte = next.isEmpty ? nil : next[random.below(next.count)] else { break }
            bytes.append(byte)
            state = automaton.run(from: state, bytes: [byte])
        }
        guard automaton.canEnd(state) else { return nil }
        return String(validating: bytes, as: UTF8.self)
    }
}
