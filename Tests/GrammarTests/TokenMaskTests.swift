import Grammar
import TestSupport
import Testing

@Suite struct TokenMaskTests {
    static let schemas = [
        JSONSchemaGrammarTests.pika,
        #"{"type":"object","properties":{"name":{"type":"string","maxLength":12},"age":{"type":"integer","minimum":0,"maximum":150},"tags":{"type":"array","items":{"type":"string","enum":["a","ab","abc"]},"maxItems":3}},"required":["name"]}"#,
        "{}",
    ]

    /// The mask (cached per position, uncertain tokens re-checked) must equal the brute-force answer:
    /// token allowed iff advancing by it does not kill the state. Checked at every state of random walks.
    @Test(arguments: schemas)
    func masksEqualBruteForce(_ schema: String) throws {
        let c = try TestVocabulary.schema(schema)
        let a = c.automaton
        let v = TestVocabulary.vocabulary
        var random = SeededRandom(seed: 7)
        for _ in 0..<25 {
            var state = a.initialState
            for _ in 0..<40 {
                let mask = a.mask(state)
                #expect(a.uncachedMask(state) == mask)
                let allowed = allowedTokens(mask, size: v.size)
                for token in 0..<Int32(v.size) {
                    let brute = a.advance(state, token: token) != GrammarAutomaton.dead
                    #expect(allowed.contains(token) == brute, "token \(token) at state \(state) of \(schema)")
                }
                #expect(allowed.contains(TestVocabulary.eos) == a.canEnd(state))
                #expect(!allowed.contains(Int32(v.size - 1)), "a control token is never allowed")
                let choices = allowed.filter { $0 != TestVocabulary.eos }
                if choices.isEmpty { break }
                state = a.advance(state, token: choices[random.below(choices.count)])
            }
        }
    }

    /// Random walks through the masks always end in text the independent validator accepts.
    @Test(arguments: schemas)
    func randomConstrainedWalksAreValid(_ schema: String) throws {
        let c = try TestVocabulary.schema(schema)
        let a = c.automaton
        let v = TestVocabulary.vocabulary
        var random = SeededRandom(seed: 11)
        var finished = 0
        for _ in 0..<200 {
            var state = a.initialState
            var text: [UInt8] = []
            for step in 0..<300 {
                let allowed = allowedTokens(a.mask(state), size: v.size)
                #expect(!allowed.isEmpty, "a live state always allows something")
                // Prefer ending once possible, after a while, so walks finish.
                let mustEnd = allowed == [TestVocabulary.eos]
                if allowed.contains(TestVocabulary.eos) && (mustEnd || step > 30 || random.below(3) == 0) {
                    let answer = String(decoding: text, as: UTF8.self)
                    #expect(c.violation(answer) == nil, "\(answer): \(c.violation(answer) ?? "")")
                    finished += 1
                    break
                }
                let choices = allowed.filter { $0 != TestVocabulary.eos }
                guard !choices.isEmpty else { break }
                // Past the midpoint, favour the token that closes structures (`}` `]` `"`) to end sooner.
                let closers = choices.filter {
                    [UInt8(ascii: "}"), UInt8(ascii: "]"), UInt8(ascii: "\"")].contains(
                        v.tokenBytes[Int($0)].first ?? 0
                    )
                }
                let token =
                    step > 60 && !closers.isEmpty
                    ? closers[random.below(closers.count)] : choices[random.below(choices.count)]
                text += v.tokenBytes[Int(token)]
                state = a.advance(state, token: token)
            }
        }
        #expect(finished > 100)
    }

    @Test func choiceAndRegexAndGrammarConstrainTokens() throws {
        let choice = try TestVocabulary.constraint(.choice(["happy", "happy_2", "calm"]))
        #expect(
            choice.matches("happy_2") && choice.matches("calm") && !choice.matches("happy_") && !choice.matches("Calm")
        )
        let a = choice.automaton
        let after = a.run(from: a.initialState, bytes: Array("happy".utf8))
        #expect(a.canEnd(after) && !a.mustEnd(after))
        #expect(choice.violation("happy") == nil && choice.violation("sad") != nil)
        let regex = try TestVocabulary.constraint(.regex("[0-9]{3}-[a-z]+"))
        #expect(regex.matches("123-abc") && !regex.matches("12-abc"))
        #expect(regex.violation("123-x") == nil && regex.violation("x") != nil)
    }
}
