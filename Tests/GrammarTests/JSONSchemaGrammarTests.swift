import Grammar
import Testing

@Suite struct JSONSchemaGrammarTests {
    static let pika = """
        {"type":"object","properties":{"emotion":{"type":"string","enum":["happy","happy_2","calm","thats_right",
        "thats_right_2"]},"learn_score":{"type":"boolean"}},"required":["emotion","learn_score"],
        "additionalProperties":false}
        """

    func check(_ schema: String, accepts good: [String], refuses bad: [String]) throws {
        let c = try TestVocabulary.schema(schema)
        for text in good { #expect(c.matches(text), "should accept \(text) for \(schema)") }
        for text in bad { #expect(!c.matches(text), "should refuse \(text) for \(schema)") }
        for text in good { #expect(c.violation(text) == nil, "validator accepts \(text)") }
    }

    @Test func pikaSchemaIsCompactAndExact() throws {
        try check(
            Self.pika,
            accepts: [#"{"emotion":"happy","learn_score":true}"#, #"{"emotion":"thats_right_2","learn_score":false}"#],
            refuses: [
                #"{"emotion": "happy","learn_score":true}"#, #"{"learn_score":true,"emotion":"happy"}"#,
                #"{"emotion":"sad","learn_score":true}"#, #"{"emotion":"happy"}"#,
                #"{"emotion":"happy","learn_score":true,"x":1}"#, #"{"emotion":"happy","learn_score":1}"#,
            ]
        )
    }

    @Test func forcedTextIsTheFixedSkeleton() throws {
        let c = try TestVocabulary.schema(Self.pika)
        let a = c.automaton
        var (forced, state) = a.forcedText(after: a.initialState)
        #expect(String(decoding: forced, as: UTF8.self) == #"{"emotion":""#)
        state = a.run(from: state, bytes: Array("thats".utf8))
        (forced, state) = a.forcedText(after: state)
        #expect(String(decoding: forced, as: UTF8.self) == "_right")
        state = a.run(from: state, bytes: Array("\"".utf8))
        (forced, state) = a.forcedText(after: state)
        #expect(String(decoding: forced, as: UTF8.self) == #","learn_score":"#)
        state = a.run(from: state, bytes: Array("false".utf8))
        (forced, state) = a.forcedText(after: state)
        #expect(String(decoding: forced, as: UTF8.self) == "}")
        #expect(a.mustEnd(state))
    }

    @Test func optionalPropertiesKeepOrderAndCommas() throws {
        let schema = """
            {"type":"object","properties":{"a":{"type":"integer"},"b":{"type":"string"},"c":{"type":"null"}},
            "required":["b"]}
            """
        try check(
            schema,
            accepts: [#"{"b":"x"}"#, #"{"a":1,"b":"x"}"#, #"{"b":"","c":null}"#, #"{"a":-5,"b":"y","c":null}"#],
            refuses: [#"{}"#, #"{"a":1}"#, #"{"b":"x",}"#, #"{,"b":"x"}"#, #"{"b":"x","a":1}"#, #"{"a":1,,"b":"x"}"#]
        )
        try check(
            #"{"type":"object","properties":{"a":{"type":"integer"},"b":{"type":"integer"}}}"#,
            accepts: ["{}", #"{"a":1}"#, #"{"b":2}"#, #"{"a":1,"b":2}"#],
            refuses: [#"{"b":2,"a":1}"#, #"{,}"#]
        )
    }

    @Test func additionalProperties() throws {
        try check(
            #"{"type":"object","properties":{"id":{"type":"integer"}},"required":["id"],"additionalProperties":{"type":"boolean"}}"#,
            accepts: [#"{"id":1}"#, #"{"id":1,"x":true,"y":false}"#],
            refuses: [#"{"id":1,"x":1}"#, #"{"x":true}"#]
        )
        try check(
            #"{"type":"object","additionalProperties":true}"#,
            accepts: ["{}", #"{"k":[1,{"z":null}],"m":"v"}"#],
            refuses: [#"{"k":}"#]
        )
    }

    @Test func scalarTypesEnumAndConst() throws {
        try check(#"{"type":"boolean"}"#, accepts: ["true", "false"], refuses: ["True", "1", "null"])
        try check(#"{"type":"null"}"#, accepts: ["null"], refuses: ["nul", ""])
        try check(
            #"{"type":["integer","null"]}"#,
            accepts: ["0", "-7", "42", "null"],
            refuses: ["007", "-0x", "1.5", "-"]
        )
        try check(
            #"{"type":"number"}"#,
            accepts: ["0", "-1.5", "3.25e+10", "2E3", "0.001"],
            refuses: ["01", ".5", "1.", "1e", "+1"]
        )
        try check(
            #"{"enum":["a",1,true,null,{"k":[1]}]}"#,
            accepts: [#""a""#, "1", "true", "null", #"{"k":[1]}"#],
            refuses: [#""b""#, "2"]
        )
        try check(#"{"const":"Xin chào"}"#, accepts: [#""Xin chào""#], refuses: [#""Xin chao""#])
        try check(#"{"type":"string","enum":["a",1]}"#, accepts: [#""a""#], refuses: ["1"])
    }

    @Test func stringsWithLengthsPatternsAndFormats() throws {
        try check(
            #"{"type":"string","minLength":2,"maxLength":3}"#,
            accepts: [#""ab""#, #""abc""#, #""é\n""#, #""\"\\""#],
            refuses: [#""a""#, #""abcd""#, #""a"b""#]
        )
        try check(
            #"{"type":"string"}"#,
            accepts: [#""""#, #""tớ buồn quá 😀""#, #""tab\there""#, #""q\"uote""#],
            refuses: ["\"raw\nnewline\"", #""bad\x""#, #""open"#]
        )
        try check(
            #"{"type":"string","pattern":"^[a-z]+-[0-9]{2}$"}"#,
            accepts: [#""ab-12""#],
            refuses: [#""Ab-12""#, #""ab-1""#, #""ab-123""#]
        )
        // Unanchored: the pattern may match anywhere in the string.
        try check(#"{"type":"string","pattern":"cat"}"#, accepts: [#""cat""#, #""a cat!""#], refuses: [#""dog""#])
        try check(#"{"type":"string","pattern":"^\"q\"$"}"#, accepts: [#""\"q\"""#], refuses: [#""q""#])
        try check(
            #"{"type":"string","format":"date-time"}"#,
            accepts: [#""2024-01-31T12:00:00Z""#, #""2024-12-01T23:59:59.123+07:00""#],
            refuses: [#""2024-13-01T12:00:00Z""#, #""2024-01-01""#]
        )
        try check(
            #"{"type":"string","format":"uuid"}"#,
            accepts: [#""123e4567-e89b-12d3-a456-426614174000""#],
            refuses: [#""123""#]
        )
        try check(#"{"type":"string","format":"ipv4"}"#, accepts: [#""192.168.0.255""#], refuses: [#""256.1.1.1""#])
        try check(#"{"type":"string","format":"email"}"#, accepts: [#""kid@pika.com""#], refuses: [#""kid@""#])
    }

    @Test func integerBoundsAreExact() throws {
        for (low, high) in [(-120, 37), (0, 9), (5, 1005), (-3, -1), (10, 10), (99, 101)] {
            let c = try TestVocabulary.schema(#"{"type":"integer","minimum":\#(low),"maximum":\#(high)}"#)
            for x in (low - 30)...(high + 30) {
                #expect(c.matches(String(x)) == (low...high).contains(x), "\(x) in \(low)...\(high)")
            }
            if high >= 1 { #expect(!c.matches("0\(high)"), "leading zero") }
        }
        let open = try TestVocabulary.schema(#"{"type":"integer","exclusiveMinimum":-2}"#)
        #expect(open.matches("-1") && open.matches("123456") && !open.matches("-2") && !open.matches("-10"))
        let capped = try TestVocabulary.schema(#"{"type":"integer","exclusiveMaximum":100}"#)
        #expect(capped.matches("99") && capped.matches("-5000") && !capped.matches("100"))
        // Bounds past Int's range narrow where that keeps every answer valid and are refused where it
        // would not; neither traps converting to Int (found by the schema fuzzer).
        for bounds in [#""minimum":1e68"#, #""maximum":-1e68"#, #""exclusiveMinimum":1e20"#] {
            #expect(throws: GrammarError.self) { try TestVocabulary.schema(#"{"type":"integer",\#(bounds)}"#) }
        }
        let huge = try TestVocabulary.schema(#"{"type":"integer","minimum":-1e300,"maximum":1e300}"#)
        #expect(huge.matches("-42") && huge.matches("42"))
    }

    @Test func numberBounds() throws {
        try check(
            #"{"type":"number","minimum":0,"maximum":1}"#,
            accepts: ["0", "0.5", "1", "1.0", "0.999"],
            refuses: ["1.5", "-0.1", "2", "1.01"]
        )
        // The fuzzer's second trap: a number bound past Int's range.
        #expect(throws: GrammarError.self) {
            try TestVocabulary.schema(#"{"type":"number","minimum":1e300}"#)
        }
        let wide = try TestVocabulary.schema(#"{"type":"number","minimum":0,"maximum":1e300}"#)
        #expect(wide.matches("7.25") && wide.matches("123456789") && !wide.matches("-1"))
    }

    @Test func arrays() throws {
        try check(
            #"{"type":"array","items":{"type":"integer"},"minItems":1,"maxItems":3}"#,
            accepts: ["[1]", "[1,2]", "[1,2,3]"],
            refuses: ["[]", "[1,2,3,4]", "[1,]", "[,1]"]
        )
        try check(
            #"{"type":"array","items":{"type":"boolean"}}"#,
            accepts: ["[]", "[true,false,true]"],
            refuses: ["[1]"]
        )
        try check(
            #"{"type":"array","prefixItems":[{"type":"string"},{"type":"integer"}],"items":{"type":"null"},"maxItems":4}"#,
            accepts: [#"["a",1]"#, #"["a",1,null]"#, #"["a",1,null,null]"#],
            refuses: [#"["a"]"#, #"["a",1,null,null,null]"#, #"[1,"a"]"#]
        )
        try check(#"{"type":"array","maxItems":0}"#, accepts: ["[]"], refuses: ["[1]"])
    }

    @Test func anyOfAllOfAndRefs() throws {
        try check(
            #"{"anyOf":[{"type":"integer"},{"type":"string","maxLength":1}]}"#,
            accepts: ["5", #""x""#],
            refuses: [#""xy""#, "true"]
        )
        try check(
            #"{"allOf":[{"type":"object","properties":{"a":{"type":"integer"}},"required":["a"]},{"properties":{"b":{"type":"boolean"}},"required":["b"]}]}"#,
            accepts: [#"{"a":1,"b":true}"#],
            refuses: [#"{"a":1}"#, #"{"b":true}"#]
        )
        let tree = """
            {"$defs":{"node":{"type":"object","properties":{"name":{"type":"string"},"children":{"type":"array",
            "items":{"$ref":"#/$defs/node"}}},"required":["name"]}},"$ref":"#/$defs/node"}
            """
        try check(
            tree,
            accepts: [#"{"name":"a"}"#, #"{"name":"a","children":[{"name":"b","children":[{"name":"c"}]}]}"#],
            refuses: [#"{"name":"a","children":[{}]}"#]
        )
        try check(
            ##"{"definitions":{"id":{"type":"integer","minimum":1}},"type":"object","properties":{"id":{"$ref":"#/definitions/id"}},"required":["id"]}"##,
            accepts: [#"{"id":3}"#],
            refuses: [#"{"id":0}"#]
        )
    }

    @Test func emptySchemaAndJSONObjectAcceptAnyJSON() throws {
        try check("{}", accepts: ["1", #"{"a":[true,null,"x",{"b":-1.5e3}]}"#, "[]"], refuses: ["{", "[1,]", "tru"])
        let object = try TestVocabulary.constraint(.jsonObject)
        #expect(object.matches(#"{"k":{"deep":[1,2,{"x":"y"}]}}"#))
        #expect(!object.matches("[1]") && !object.matches(#"{"a":1} "#) && !object.matches(#"{ "a":1}"#))
    }

    @Test func unsupportedAndImpossibleSchemasNameTheirPath() throws {
        let cases: [(String, String, String)] = [
            (
                #"{"type":"object","properties":{"a":{"not":{"type":"string"}}}}"#, "'not' is not supported",
                "#/properties/a/not"
            ),
            (#"{"type":"string","minLength":5,"maxLength":2}"#, "minLength is above maxLength", "#"),
            (#"{"type":"array","minItems":3,"maxItems":1}"#, "minItems is above maxItems", "#"),
            (#"{"type":"integer","minimum":5,"maximum":1}"#, "no integer lies between", "#"),
            (#"{"enum":[]}"#, "no enum value", "#/enum"),
            (
                #"{"type":"object","properties":{},"required":["x"]}"#, "'x' is required but not in properties",
                "#/required"
            ),
            (#"{"type":"strin"}"#, "unknown type 'strin'", "#/type"),
            (##"{"$ref":"#/$defs/missing"}"##, "points to nothing", "#/$ref"),
            (#"{"$ref":"http://example.com/s.json"}"#, "only local $ref", "#/$ref"),
            (#"{"type":"object","properties":{"a":false}}"#, "schema `false` matches nothing", "#/properties/a"),
            (#"{"type":"array","uniqueItems":true}"#, "'uniqueItems: true' is not supported", "#/uniqueItems"),
            (#"{"type":"string","pattern":"(a)\\1"}"#, "backreferences are not supported", "#/pattern"),
            (##"{"$ref":"#"}"##, "matches no finite text", ""),
            (#"{"type":"object","properties":{"a":3}}"#, "a schema must be an object or a boolean", "#/properties/a"),
            (#"{"allOf":[]}"#, "allOf must be a non-empty array", "#/allOf"),
            (#"{"anyOf":{}}"#, "anyOf must be a non-empty array", "#/anyOf"),
            (#"{"enum":"a"}"#, "enum must be an array", "#/enum"),
            (#"{"type":[]}"#, "type must be a string or a non-empty array of strings", "#/type"),
            (#"{"$ref":1}"#, "$ref must be a string", "#/$ref"),
            (
                ##"{"$defs":{"a":{"$ref":"#/$defs/b"},"b":{"$ref":"#/$defs/a"}},"anyOf":[{"$ref":"#/$defs/a"}]}"##,
                "$ref chain loops", "#/anyOf/0"
            ),
            (
                #"{"allOf":[{"type":"string"},{"type":"integer"}]}"#, "'type' differs between combined schemas",
                "#/allOf/1/type"
            ),
            (#"{"type":"object","properties":[]}"#, "properties must be an object", "#/properties"),
            (#"{"type":"object","required":"a"}"#, "required must be an array of strings", "#/required"),
            (#"{"type":"array","prefixItems":{}}"#, "prefixItems must be an array", "#/prefixItems"),
            (
                #"{"type":"array","prefixItems":[{},{}],"maxItems":1}"#, "maxItems is below the 2 prefixItems",
                "#/maxItems"
            ),
            (
                #"{"type":"array","prefixItems":[{}],"items":false,"minItems":2}"#,
                "minItems needs more items than prefixItems allows", "#/minItems"
            ),
            (#"{"type":"string","maxLength":-1}"#, "maxLength must be a non-negative integer", "#/maxLength"),
            (#"{"type":"string","maxLength":20000}"#, "maxLength over 10000 is not supported", "#/maxLength"),
            (#"{"type":"string","pattern":1}"#, "pattern must be a string", "#/pattern"),
            (
                #"{"type":"string","pattern":"a","maxLength":3}"#, "pattern together with minLength/maxLength",
                "#/pattern"
            ),
            (#"{"type":"integer","minimum":"1"}"#, "minimum must be a number", "#/minimum"),
            (
                #"{"type":"number","exclusiveMinimum":0}"#, "exclusiveMinimum on a number is not supported",
                "#/exclusiveMinimum"
            ),
            (#"{"type":"number","minimum":-1.5}"#, "number bounds are supported when", "#/minimum"),
            (
                #"{"type":"array","items":{"type":"integer"},"minContains":1}"#, "'minContains' is not supported",
                "#/minContains"
            ),
            (
                #"{"type":"object","patternProperties":{}}"#, "'patternProperties' is not supported",
                "#/patternProperties"
            ),
        ]
        for (schema, message, path) in cases {
            do {
                _ = try TestVocabulary.schema(schema)
                Issue.record("compiled \(schema)")
            } catch let error as GrammarError {
                #expect(error.message.contains(message), "\(schema): \(error)")
                if !path.isEmpty { #expect(error.location == path, "\(schema): \(error)") }
            }
        }
    }

    @Test func explodingSchemasAreRefusedQuickly() throws {
        // Nesting past the depth bound.
        var deep = #"{"type":"integer"}"#
        for _ in 0..<100 { deep = #"{"type":"array","items":\#(deep)}"# }
        #expect { try TestVocabulary.schema(deep) } throws: {
            ($0 as? GrammarError)?.message.contains("deeper than 64") == true
        }
        // Bounded repetition multiplying past the size bound.
        let wide = #"{"type":"array","items":{"type":"string","maxLength":10000},"maxItems":10000}"#
        let many = (0..<40).map { #""p\#($0)":\#(wide)"# }.joined(separator: ",")
        #expect {
            try TestVocabulary.schema(#"{"type":"object","properties":{\#(many)}}"#)
        } throws: {
            ($0 as? GrammarError)?.message.contains("too large: its grammar would exceed 200000 symbols") == true
        }
        // Malformed JSON in the schema itself.
        #expect {
            try TestVocabulary.schema(#"{"type":"object""#)
        } throws: {
            ($0 as? GrammarError)?.message.contains("invalid JSON: unterminated object") == true
        }
    }
}
