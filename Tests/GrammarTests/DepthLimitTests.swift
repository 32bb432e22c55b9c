import Testing

@testable import Grammar
@testable import TestSupport

/// Inputs built to exhaust the stack (a single request used to crash the server with them): every recursive
/// parser refuses them with an error naming its limit, and what stays under the limits compiles.
@Suite struct DepthLimitTests {
    static func refusal(_ spec: ConstraintSpec) -> String? {
        do {
            _ = try TestVocabulary.constraint(spec)
            return nil
        } catch {
            return "\(error)"
        }
    }

    @Test func deepRegexesAreRefusedByName() {
        let deep = String(repeating: "(", count: 100_000) + "a" + String(repeating: ")", count: 100_000)
        #expect(Self.refusal(.regex(deep))?.contains("nested deeper than \(Regex.maxNesting)") == true)
        let stacked = "a" + String(repeating: "*", count: 100_000)
        #expect(Self.refusal(.regex(stacked))?.contains("multiple repeat") == true)
        let atLimit =
            String(repeating: "(", count: Regex.maxNesting) + "a" + String(repeating: ")", count: Regex.maxNesting)
        #expect(Self.refusal(.regex(atLimit)) == nil)
    }

    @Test func deepGrammarsAreRefusedByName() {
        let deep = "root ::= " + String(repeating: "(", count: 30_000) + "\"a\"" + String(repeating: ")", count: 30_000)
        #expect(Self.refusal(.grammar(deep))?.contains("nested deeper than \(EBNF.maxNesting)") == true)
        let stacked = "root ::= \"a\"" + String(repeating: "*", count: 30_000)
        #expect(Self.refusal(.grammar(stacked))?.contains("repetition operators") == true)
        // A chain of 10,000 rules is data, not nesting: it compiles (or is refused for size), never crashes.
        let chain = (0..<10_000).map { "r\($0) ::= r\($0 + 1)" }.joined(separator: "\n") + "\nr10000 ::= \"a\""
        let refused = Self.refusal(.grammar("root ::= r0\n" + chain))
        #expect(refused == nil || refused!.contains("too"), "\(refused ?? "")")
        let atLimit =
            "root ::= " + String(repeating: "(", count: EBNF.maxNesting) + "\"a\""
            + String(repeating: ")", count: EBNF.maxNesting)
        #expect(Self.refusal(.grammar(atLimit)) == nil)
    }

    @Test func deepSchemasAndJSONAreRefusedByName() {
        let deepJSON = String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000)
        #expect(Self.refusal(.jsonSchema(deepJSON))?.contains("nested more than") == true)
        let deepSchema =
            String(repeating: #"{"type": "array", "items": "#, count: 200) + #"{"type": "string"}"#
            + String(repeating: "}", count: 200)
        #expect(Self.refusal(.jsonSchema(deepSchema))?.contains("nests deeper than") == true)
    }
}
