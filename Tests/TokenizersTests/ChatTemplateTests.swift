import Testing

@testable import Tokenizers

@Suite struct ChatTemplateTests {
    static let cases = templateFixture.cases.indices.map { $0 }

    @Test(arguments: cases)
    func rendersLikeJinja2(index: Int) throws {
        let c = templateFixture.cases[index]
        let template = try ChatTemplate(templateFixture.templates[c.template]!)
        let context = try JinjaValue(json: c.context)
        let render = { () throws -> String in
            var extra: [String: JinjaValue] = [:]
            if case .object(let o) = context { for key in o.keys { extra[key] = o[key] } }
            return try template.render(
                messages: context["messages"],
                addGenerationPrompt: context["add_generation_prompt"].isTruthy,
                bosToken: context["bos_token"].pythonString,
                eosToken: context["eos_token"].pythonString,
                extra: extra
            )
        }
        if let expected = c.expected {
            let output = try render()
            #expect(output == expected, "\(c.template) / \(c.messages): got \(output.debugDescription)")
        } else {
            #expect(throws: ChatTemplateError.raised(c.error!)) { try render() }
        }
    }

    @Test func unsupportedConstructsFailAtLoad() {
        let bad: [(String, String)] = [
            ("{% macro f() %}x{% endmacro %}", "'{% macro %}'"),
            ("{{ x | wordwrap }}", "filter 'wordwrap'"),
            ("{{ x is sameas y }}", "test 'sameas'"),
            ("{{ cycler() }}", "function 'cycler'"),
            ("{{ x.pop() }}", "method '.pop()'"),
        ]
        for (source, construct) in bad {
            do {
                _ = try ChatTemplate(source)
                Issue.record("\(source) loaded")
            } catch {
                guard case .unsupported(let what, _) = error else {
                    Issue.record("\(source): \(error)")
                    continue
                }
                #expect(what == construct)
                #expect(error.description.contains("does not support"))
            }
        }
        for source in ["{% if x %}no end", "{{ 'open", "{% for %}{% endfor %}", "{{ a b }}", "{% endif %}"] {
            #expect(throws: ChatTemplateError.self) { try ChatTemplate(source) }
        }
    }

    @Test func whitespaceControl() throws {
        let template = try ChatTemplate(
            "a  {%- if true -%}  b  {%- endif %}\n  {% if true %}\nc{% endif %}  {{- ' d' }}"
        )
        // Expected strings are Jinja2's own output with trim_blocks and lstrip_blocks.
        #expect(try template.render(messages: .array([]), addGenerationPrompt: false) == "abc d")
        let other = try ChatTemplate("x {% if true %}y{% endif %}\n   {# c #}\nz\n  {%+ if true %}w{% endif %}")
        #expect(try other.render(messages: .array([]), addGenerationPrompt: false) == "x yz\n  w")
    }

    @Test func jsonReaderKeepsOrderAndRejectsGarbage() throws {
        let value = try JinjaValue(json: #"{"z": 1, "a": [true, null, 2.5, "\u00e9\n"], "m": {}}"#)
        #expect(value.json() == #"{"z": 1, "a": [true, null, 2.5, "é\n"], "m": {}}"#)
        for text in ["{", "[1,]", "{\"a\" 1}", "tru", "\"unterminated", "1 2"] {
            #expect(throws: ChatTemplateError.self) { try JinjaValue(json: text) }
        }
    }
}

/// Templates come from model files: one built to exhaust the parser's stack is refused with its limit.
@Suite struct ChatTemplateDepthTests {
    @Test func deepTemplatesAreRefusedByName() {
        let cases = [
            "{{ " + String(repeating: "(", count: 50_000) + "1" + String(repeating: ")", count: 50_000) + " }}",
            "{{ " + String(repeating: "not ", count: 50_000) + "x }}",
            "{{ " + String(repeating: "-", count: 50_000) + "1 }}",
            "{{ " + String(repeating: "[", count: 50_000) + String(repeating: "]", count: 50_000) + " }}",
            String(repeating: "{% if x %}", count: 20_000) + String(repeating: "{% endif %}", count: 20_000),
        ]
        for source in cases {
            do {
                _ = try ChatTemplate(source)
                Issue.record("accepted \(source.prefix(20))")
            } catch {
                #expect("\(error)".contains("nested deeper than"), "\(error)")
            }
        }
        #expect(
            (try? ChatTemplate("{{ ((1 + -(2))) }}{% if a %}{% for m in b %}{{ not not m }}{% endfor %}{% endif %}"))
                != nil
        )
    }
}
