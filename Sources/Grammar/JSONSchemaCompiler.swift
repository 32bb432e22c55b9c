import SwerveCore

/// JSON Schema to grammar. The answer is compact JSON (no whitespace between tokens, so a small model
/// cannot pad forever), object members in `properties` order, and every value bounded where the schema
/// bounds it.
///
/// Supported: `type` (one or a list), `properties`, `required`, `additionalProperties` (absent or false:
/// no other members, as OpenAI's strict mode and xgrammar do; true or a schema: further members after the
/// listed ones), `enum`, `const`, `anyOf`, `oneOf` (as `anyOf`: a grammar cannot forbid matching two),
/// `allOf` (merged), `$ref` to `#`, `#/$defs/…` or `#/definitions/…` (recursion allowed), arrays with
/// `items`, `prefixItems` (all required), `minItems`, `maxItems`; strings with `minLength`, `maxLength`,
/// `pattern` (searched, as JSON Schema means it, unless anchored) and `format` date, time, date-time,
/// uuid, email, ipv4 and hostname (others are annotations and ignored); integers with `minimum`,
/// `maximum` and their exclusive forms; numbers with integer-valued, non-negative inclusive bounds;
/// booleans and null. Anything else that constrains (`patternProperties`, `not`, `if`, `multipleOf`,
/// `uniqueItems: true`, …) is refused with its JSON pointer, as is a schema nothing can satisfy.
public struct JSONSchemaCompiler {
    var b: GrammarBuilder
    let document: JSONValue
    var refs: [String: Int] = [:]
    var depth = 0
    static let maxDepth = 64
    /// Digits allowed in an integer part, a fraction and an exponent: values stay finite and generation ends.
    static let integerDigits = 16
    static let fractionDigits = 15

    static let unsupported = [
        "patternProperties", "propertyNames", "dependentRequired", "dependentSchemas", "dependencies", "if", "then",
        "else", "not", "unevaluatedProperties", "unevaluatedItems", "contains", "minContains", "maxContains",
        "minProperties", "maxProperties", "multipleOf", "$dynamicRef", "$recursiveRef",
    ]
    static let keywordsByType: [String: [String]] = [
        "object": ["properties", "required", "additionalProperties"],
        "array": ["items", "prefixItems", "minItems", "maxItems"],
        "string": ["minLength", "maxLength", "pattern", "format"],
        "number": ["minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"],
    ]

    /// The grammar of the JSON texts `schema` accepts.
    public static func grammar(
        _ schema: JSONValue,
        limit: Int = GrammarBuilder.defaultLimit
    ) throws(GrammarError) -> Grammar {
        var compiler = JSONSchemaCompiler(b: GrammarBuilder(limit: limit), document: schema)
        let symbols = try compiler.value(schema, path: "#")
        let root = try compiler.b.rule("root", [symbols])
        return try compiler.b.build(root: root)
    }

    /// The grammar of any JSON object (OpenAI's `json_object` response format).
    public static func anyObjectGrammar() -> Grammar {
        var compiler = JSONSchemaCompiler(b: GrammarBuilder(), document: .object([]))
        // Fixed, small: cannot exceed the size bound.
        let object = try! compiler.genericObject()
        let root = try! compiler.b.rule("root", [[object]])
        return try! compiler.b.build(root: root)
    }

    func fail(_ message: String, _ path: String) -> GrammarError { GrammarError(message, at: path) }

    // MARK: Schemas

    mutating func value(_ schema: JSONValue, path: String) throws(GrammarError) -> [Grammar.Symbol] {
        depth += 1
        defer { depth -= 1 }
        guard depth <= Self.maxDepth else { throw fail("the schema nests deeper than \(Self.maxDepth) levels", path) }
        if case .bool(let allowed) = schema {
            guard allowed else { throw fail("schema `false` matches nothing", path) }
            return [try genericValue()]
        }
        guard let members = schema.object else { throw fail("a schema must be an object or a boolean", path) }
        for keyword in Self.unsupported where schema[keyword] != nil {
            throw fail("'\(keyword)' is not supported", path + "/" + keyword)
        }
        if schema["uniqueItems"]?.bool == true {
            throw fail("'uniqueItems: true' is not supported", path + "/uniqueItems")
        }
        if let ref = schema["$ref"] {
            guard let target = ref.string else { throw fail("$ref must be a string", path + "/$ref") }
            return [try reference(target, path: path + "/$ref")]
        }
        if let all = schema["allOf"] {
            guard let list = all.array, !list.isEmpty else {
                throw fail("allOf must be a non-empty array", path + "/allOf")
            }
            var merged = JSONValue.object(members.filter { $0.0 != "allOf" })
            for (i, part) in list.enumerated() {
                merged = try merge(merged, try resolved(part, path: "\(path)/allOf/\(i)"), path: "\(path)/allOf/\(i)")
            }
            return try value(merged, path: path)
        }
        for keyword in ["anyOf", "oneOf"] {
            guard let any = schema[keyword] else { continue }
            guard let list = any.array, !list.isEmpty else {
                throw fail("\(keyword) must be a non-empty array", path + "/" + keyword)
            }
            let siblings = JSONValue.object(members.filter { $0.0 != keyword })
            var alternatives: [[Grammar.Symbol]] = []
            for (i, option) in list.enumerated() {
                let optionPath = "\(path)/\(keyword)/\(i)"
                let combined = try merge(siblings, try resolved(option, path: optionPath), path: optionPath)
                alternatives.append(try value(combined, path: optionPath))
            }
            return [try b.choice(alternatives, name: "anyOf")]
        }
        if let constant = schema["const"] { return GrammarBuilder.literal(constant.serialized) }
        let types = try self.types(schema, path: path)
        if let options = schema["enum"] {
            guard let list = options.array else { throw fail("enum must be an array", path + "/enum") }
            let kept = list.filter { value in types.map { Self.matches(value, anyOf: $0) } ?? true }
            guard !kept.isEmpty else {
                throw fail("no enum value has the schema's type: nothing can match", path + "/enum")
            }
            return [try b.choice(kept.map { GrammarBuilder.literal($0.serialized) }, name: "enum")]
        }
        guard let types else {
            // No type: implied by the keywords present, else any value.
            let implied = Self.keywordsByType.filter { entry in entry.value.contains { schema[$0] != nil } }.map(\.key)
            if implied.isEmpty { return [try genericValue()] }
            return try typed(implied.sorted(), schema, path: path)
        }
        return try typed(types, schema, path: path)
    }

    mutating func typed(_ types: [String], _ schema: JSONValue, path: String) throws(GrammarError) -> [Grammar.Symbol] {
        var alternatives: [[Grammar.Symbol]] = []
        for type in types {
            switch type {
            case "null": alternatives.append(GrammarBuilder.literal("null"))
            case "boolean": alternatives += [GrammarBuilder.literal("true"), GrammarBuilder.literal("false")]
            case "integer": alternatives.append(try integer(schema, path: path))
            case "number": alternatives.append(try number(schema, path: path))
            case "string": alternatives.append(try string(schema, path: path))
            case "array": alternatives.append(try array(schema, path: path))
            case "object": alternatives.append(try object(schema, path: path))
            default: throw fail("unknown type '\(type)'", path + "/type")
            }
        }
        if alternatives.count == 1 { return alternatives[0] }
        return [try b.choice(alternatives, name: "types")]
    }

    func types(_ schema: JSONValue, path: String) throws(GrammarError) -> [String]? {
        guard let type = schema["type"] else { return nil }
        if let single = type.string { return [single] }
        guard let list = type.array?.compactMap(\.string), list.count == type.array?.count, !list.isEmpty else {
            throw fail("type must be a string or a non-empty array of strings", path + "/type")
        }
        return list
    }

    static func matches(_ value: JSONValue, anyOf types: [String]) -> Bool {
        types.contains { type in
            switch (type, value) {
            case ("null", .null), ("boolean", .bool), ("number", .number), ("string", .string), ("array", .array),
                ("object", .object):
                true
            case ("integer", .number): value.integer != nil
            default: false
            }
        }
    }

    /// The schema a `$ref` points to (only local references: `#`, `#/$defs/x`, `#/definitions/x`, or any
    /// JSON pointer into the document).
    func target(_ ref: String, path: String) throws(GrammarError) -> JSONValue {
        guard ref.hasPrefix("#") else {
            throw fail("only local $ref (starting with '#') is supported, not '\(ref)'", path)
        }
        guard let node = document.value(at: ref) else {
            throw fail("$ref '\(ref)' points to nothing in the schema", path)
        }
        return node
    }

    func resolved(_ schema: JSONValue, path: String) throws(GrammarError) -> JSONValue {
        var schema = schema
        var hops = 0
        while let ref = schema["$ref"]?.string, schema.object?.count == 1 {
            schema = try target(ref, path: path)
            hops += 1
            guard hops < 32 else { throw fail("$ref chain loops", path) }
        }
        return schema
    }

    mutating func reference(_ ref: String, path: String) throws(GrammarError) -> Grammar.Symbol {
        if let id = refs[ref] { return .rule(id) }
        let id = b.declare("ref " + ref)
        refs[ref] = id
        let body = try value(try target(ref, path: path), path: ref)
        try b.define(id, [body])
        return .rule(id)
    }

    /// Both schemas' constraints in one (allOf, and anyOf's siblings): properties and required are
    /// combined; any other keyword both set must agree.
    func merge(_ a: JSONValue, _ b: JSONValue, path: String) throws(GrammarError) -> JSONValue {
        guard var result = a.object else { return b }
        guard let other = b.object else {
            if b == .bool(true) { return a }
            throw fail("schema `false` matches nothing", path)
        }
        for (key, value) in other {
            guard let index = result.firstIndex(where: { $0.0 == key }) else {
                result.append((key, value))
                continue
            }
            let existing = result[index].1
            switch key {
            case "properties":
                var members = existing.object ?? []
                for (name, schema) in value.object ?? [] {
                    if let i = members.firstIndex(where: { $0.0 == name }) {
                        members[i].1 = try merge(members[i].1, schema, path: path + "/properties/" + name)
                    } else {
                        members.append((name, schema))
                    }
                }
                result[index].1 = .object(members)
            case "required":
                var names = existing.array ?? []
                for name in value.array ?? [] where !names.contains(name) { names.append(name) }
                result[index].1 = .array(names)
            case "title", "description", "$comment", "examples", "default":
                continue
            default:
                guard existing == value else {
                    throw fail("'\(key)' differs between combined schemas; cannot satisfy both", path + "/" + key)
                }
            }
        }
        return .object(result)
    }

    // MARK: Types

    mutating func object(_ schema: JSONValue, path: String) throws(GrammarError) -> [Grammar.Symbol] {
        var properties: [(String, JSONValue)] = []
        if let p = schema["properties"] {
            guard let list = p.object else { throw fail("properties must be an object", path + "/properties") }
            properties = list
        }
        var required: [String] = []
        if let r = schema["required"] {
            guard let list = r.array?.compactMap(\.string), list.count == r.array?.count else {
                throw fail("required must be an array of strings", path + "/required")
            }
            required = list
        }
        let additional = schema["additionalProperties"] ?? .bool(false)
        let allowsMore = additional != .bool(false)
        for name in required where !properties.contains(where: { $0.0 == name }) {
            guard allowsMore else {
                throw fail(
                    "'\(name)' is required but not in properties, and additionalProperties is false: nothing can match",
                    path + "/required"
                )
            }
            properties.append((name, additional))
        }
        var slots: [(symbols: [Grammar.Symbol], required: Bool)] = []
        for (name, propertySchema) in properties {
            let value = try self.value(propertySchema, path: path + "/properties/" + name)
            slots.append((GrammarBuilder.literal(JSONValue.quote(name) + ":") + value, required.contains(name)))
        }
        var extra: Grammar.Symbol?
        if allowsMore {
            let valueSymbols =
                additional == .bool(true)
                ? [try genericValue()] : try value(additional, path: path + "/additionalProperties")
            extra = try b.group([try jsonString()] + GrammarBuilder.literal(":") + valueSymbols, name: "member")
        }
        // after[i]: continue at slot i once something was written; first[i]: nothing written yet.
        let n = slots.count
        var after = [Grammar.Symbol](repeating: .rule(0), count: n + 1)
        var first = [Grammar.Symbol](repeating: .rule(0), count: n + 1)
        let comma = GrammarBuilder.literal(",")
        if let extra {
            let more = try b.repeated(comma + [extra], min: 0, max: nil)
            after[n] = try b.rule("more", [more])
            first[n] = try b.rule("members", [[extra] + more, []])
        } else {
            after[n] = try b.rule("end", [[]])
            first[n] = after[n]
        }
        for i in stride(from: n - 1, through: 0, by: -1) {
            var a: [[Grammar.Symbol]] = [comma + slots[i].symbols + [after[i + 1]]]
            var f: [[Grammar.Symbol]] = [slots[i].symbols + [after[i + 1]]]
            if !slots[i].required {
                a.append([after[i + 1]])
                f.append([first[i + 1]])
            }
            after[i] = try b.rule("after", a)
            first[i] = try b.rule("first", f)
        }
        return GrammarBuilder.literal("{") + [first[0]] + GrammarBuilder.literal("}")
    }

    mutating func array(_ schema: JSONValue, path: String) throws(GrammarError) -> [Grammar.Symbol] {
        let minItems = try count(schema, "minItems", path: path) ?? 0
        let maxItems = try count(schema, "maxItems", path: path)
        if let maxItems, maxItems < minItems { throw fail("minItems is above maxItems: nothing can match", path) }
        var elements: [Grammar.Symbol] = []
        if let prefix = schema["prefixItems"] {
            guard let list = prefix.array else { throw fail("prefixItems must be an array", path + "/prefixItems") }
            if let maxItems, maxItems < list.count {
                throw fail(
                    "maxItems is below the \(list.count) prefixItems (all are required here)",
                    path + "/maxItems"
                )
            }
            for (i, item) in list.enumerated() {
                elements.append(try b.group(try value(item, path: "\(path)/prefixItems/\(i)"), name: "item"))
            }
        }
        let itemsSchema = schema["items"] ?? (elements.isEmpty ? .bool(true) : .bool(false))
        var rest: Grammar.Symbol?
        if itemsSchema != .bool(false) {
            rest = try b.group(try value(itemsSchema, path: path + "/items"), name: "item")
        } else if elements.count < minItems {
            throw fail("minItems needs more items than prefixItems allows: nothing can match", path + "/minItems")
        }
        let comma = GrammarBuilder.literal(",")
        var body: [Grammar.Symbol] = []
        for (i, element) in elements.enumerated() { body += (i > 0 ? comma : []) + [element] }
        if let rest {
            let low = max(0, minItems - elements.count)
            let high = maxItems.map { $0 - elements.count }
            if elements.isEmpty {
                if high == 0 {
                } else if low == 0 {
                    let tail = try b.repeated(comma + [rest], min: 0, max: high.map { $0 - 1 })
                    body.append(try b.rule("items", [[rest] + tail, []]))
                } else {
                    body += [rest] + (try b.repeated(comma + [rest], min: low - 1, max: high.map { $0 - 1 }))
                }
            } else {
                body += try b.repeated(comma + [rest], min: low, max: high)
            }
        }
        return GrammarBuilder.literal("[") + body + GrammarBuilder.literal("]")
    }

    func count(_ schema: JSONValue, _ keyword: String, path: String) throws(GrammarError) -> Int? {
        guard let value = schema[keyword] else { return nil }
        guard let n = value.integer, n >= 0 else {
            throw fail("\(keyword) must be a non-negative integer", path + "/" + keyword)
        }
        guard n <= Regex.maxRepetition else {
            throw fail("\(keyword) over \(Regex.maxRepetition) is not supported", path + "/" + keyword)
        }
        return n
    }

    mutating func string(_ schema: JSONValue, path: String) throws(GrammarError) -> [Grammar.Symbol] {
        let minLength = try count(schema, "minLength", path: path) ?? 0
        let maxLength = try count(schema, "maxLength", path: path)
        if let maxLength, maxLength < minLength { throw fail("minLength is above maxLength: nothing can match", path) }
        let quote = GrammarBuilder.literal("\"")
        if let pattern = schema["pattern"] {
            guard let text = pattern.string else { throw fail("pattern must be a string", path + "/pattern") }
            if minLength > 0 || maxLength != nil {
                throw fail("pattern together with minLength/maxLength is not supported", path + "/pattern")
            }
            let parsed: (regex: Regex, anchoredStart: Bool, anchoredEnd: Bool)
            do {
                parsed = try Regex.parse(text)
            } catch {
                throw fail(error.message, path + "/pattern")
            }
            var content = try parsed.regex.symbols(&b, json: true)
            let anything = [try jsonCharacters()]
            if !parsed.anchoredStart { content = anything + content }
            if !parsed.anchoredEnd { content += anything }
            return quote + content + quote
        }
        if let format = schema["format"]?.string, let pattern = Self.formats[format] {
            // Fixed patterns: they parse.
            return quote + (try (try! Regex.parse(pattern)).regex.symbols(&b, json: true)) + quote
        }
        if minLength == 0 && maxLength == nil { return [try jsonString()] }
        return quote + (try b.repeated([try jsonCharacter()], min: minLength, max: maxLength, name: "chars")) + quote
    }

    static let formats: [String: String] = {
        let date = "[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])"
        let time = "([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\\.[0-9]{1,6})?(Z|[+-]([01][0-9]|2[0-3]):[0-5][0-9])"
        let octet = "(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
        let label = "[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
        return [
            "date": date, "time": time, "date-time": date + "T" + time,
            "uuid": "[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}",
            "email": "[A-Za-z0-9._%+-]{1,64}@\(label)(\\.\(label)){0,8}",
            "ipv4": "(\(octet)\\.){3}\(octet)",
            "hostname": "\(label)(\\.\(label)){0,8}",
        ]
    }()

    func bound(_ schema: JSONValue, _ keyword: String, path: String) throws(GrammarError) -> Double? {
        guard let value = schema[keyword] else { return nil }
        guard let d = value.double, d.isFinite else { throw fail("\(keyword) must be a number", path + "/" + keyword) }
        return d
    }

    mutating func integer(_ schema: JSONValue, path: String) throws(GrammarError) -> [Grammar.Symbol] {
        var low: Double? = try bound(schema, "minimum", path: path)
        var high: Double? = try bound(schema, "maximum", path: path)
        if let e = try bound(schema, "exclusiveMinimum", path: path) {
            low = max(low ?? -.infinity, e.rounded(.down) + 1)
        }
        if let e = try bound(schema, "exclusiveMaximum", path: path) {
            high = min(high ?? .infinity, e.rounded(.up) - 1)
        }
        let lo = try low.map { d throws(GrammarError) in try Self.lowerBound(d.rounded(.up), path: path) }
        let hi = try high.map { d throws(GrammarError) in try Self.upperBound(d.rounded(.down), path: path) }
        if let lo, let hi, lo > hi { throw fail("no integer lies between minimum and maximum", path) }
        if lo == nil && hi == nil { return [try jsonInteger()] }
        return [try b.choice(try IntegerRange.alternatives(lo, hi, maxDigits: Self.integerDigits), name: "int-range")]
    }

    /// The largest magnitude a bound may have as an integer of the grammar (a bound like 1e68 must not
    /// trap converting to `Int`: the fuzzer found it twice).
    static let boundLimit = 1e15

    /// A minimum as an `Int`: one below `-boundLimit` narrows to it (every value generated still obeys the
    /// schema); one above it is refused, since narrowing would admit values below the minimum.
    static func lowerBound(_ d: Double, path: String) throws(GrammarError) -> Int {
        guard d <= boundLimit else {
            throw GrammarError("minimum above 1e15 is not supported", at: path + "/minimum")
        }
        return Int(max(-boundLimit, d))
    }

    /// A maximum as an `Int`: the mirror of `lowerBound(_:path:)`.
    static func upperBound(_ d: Double, path: String) throws(GrammarError) -> Int {
        guard d >= -boundLimit else {
            throw GrammarError("maximum below -1e15 is not supported", at: path + "/maximum")
        }
        return Int(min(boundLimit, d))
    }

    mutating func number(_ schema: JSONValue, path: String) throws(GrammarError) -> [Grammar.Symbol] {
        let low = try bound(schema, "minimum", path: path)
        let high = try bound(schema, "maximum", path: path)
        for keyword in ["exclusiveMinimum", "exclusiveMaximum"] where schema[keyword] != nil {
            throw fail(
                "\(keyword) on a number is not supported (use minimum/maximum, or an integer)",
                path + "/" + keyword
            )
        }
        if low == nil && high == nil { return [try jsonNumber()] }
        guard let lo = low, lo >= 0, lo.rounded() == lo, high.map({ $0.rounded() == $0 && $0 >= lo }) ?? true else {
            throw fail(
                "number bounds are supported when minimum is a non-negative integer and maximum an integer above it",
                path + "/minimum"
            )
        }
        let fraction = try b.rule("frac", [GrammarBuilder.literal(".") + [try digits(1, Self.fractionDigits)], []])
        let zeros = try b.rule(
            "zero-frac",
            [
                GrammarBuilder.literal(".")
                    + (try b.repeated(GrammarBuilder.literal("0"), min: 1, max: Self.fractionDigits)), [],
            ]
        )
        let lowInt = try Self.lowerBound(lo, path: path)
        var alternatives: [[Grammar.Symbol]] = []
        if let high {
            let hi = try Self.upperBound(high, path: path)
            if hi > lowInt {
                alternatives.append(
                    [try b.choice(try IntegerRange.alternatives(lowInt, hi - 1, maxDigits: Self.integerDigits))]
                        + [fraction]
                )
            }
            alternatives.append(GrammarBuilder.literal(String(hi)) + [zeros])
        } else {
            alternatives.append(
                [try b.choice(try IntegerRange.alternatives(lowInt, nil, maxDigits: Self.integerDigits))] + [fraction]
            )
        }
        return [try b.choice(alternatives, name: "number-range")]
    }

    // MARK: Shared rules

    mutating func digits(_ min: Int, _ max: Int?) throws(GrammarError) -> Grammar.Symbol {
        try b.shared("digits{\(min),\(max ?? -1)}") { b throws(GrammarError) in
            [try b.repeated([.bytes(ByteSet(0x30...0x39))], min: min, max: max)]
        }
    }

    mutating func jsonCharacter() throws(GrammarError) -> Grammar.Symbol {
        try b.shared("json-char") { _ in CharacterClass.any.alternatives(json: true) }
    }

    mutating func jsonCharacters() throws(GrammarError) -> Grammar.Symbol {
        let character = try jsonCharacter()
        return try b.shared("json-chars") { b throws(GrammarError) in [try b.repeated([character], min: 0, max: nil)] }
    }

    mutating func jsonString() throws(GrammarError) -> Grammar.Symbol {
        let characters = try jsonCharacters()
        return try b.shared("json-string") { _ in
            [GrammarBuilder.literal("\"") + [characters] + GrammarBuilder.literal("\"")]
        }
    }

    mutating func jsonInteger() throws(GrammarError) -> Grammar.Symbol {
        let rest = try digits(0, Self.integerDigits - 1)
        return try b.shared("json-integer") { b throws(GrammarError) in
            let magnitude = try b.choice([GrammarBuilder.literal("0"), [.bytes(ByteSet(0x31...0x39)), rest]])
            return [GrammarBuilder.literal("-") + [magnitude], [magnitude]]
        }
    }

    mutating func jsonNumber() throws(GrammarError) -> Grammar.Symbol {
        let integer = try jsonInteger()
        let fraction = try digits(1, Self.fractionDigits)
        let exponent = try digits(1, 3)
        return try b.shared("json-number") { b throws(GrammarError) in
            let frac = try b.rule("frac", [GrammarBuilder.literal(".") + [fraction], []])
            let sign = try b.rule("sign", [GrammarBuilder.literal("+"), GrammarBuilder.literal("-"), []])
            let exp = try b.rule("exp", [[.bytes(ByteSet(bytes: Array("eE".utf8))), sign, exponent], []])
            return [[integer, frac, exp]]
        }
    }

    mutating func genericValue() throws(GrammarError) -> Grammar.Symbol {
        if let id = b.shared["json-value"] { return .rule(id) }
        let value = b.declare("json-value")
        b.shared["json-value"] = value
        let object = try genericObject()
        let comma = GrammarBuilder.literal(",")
        let more = try b.repeated(comma + [.rule(value)], min: 0, max: nil)
        let array = try b.rule(
            "json-array",
            [
                GrammarBuilder.literal("[") + [try b.rule("elements", [[.rule(value)] + more, []])]
                    + GrammarBuilder.literal("]")
            ]
        )
        try b.define(
            value,
            [
                [object], [array], [try jsonString()], [try jsonNumber()], GrammarBuilder.literal("true"),
                GrammarBuilder.literal("false"), GrammarBuilder.literal("null"),
            ]
        )
        return .rule(value)
    }

    mutating func genericObject() throws(GrammarError) -> Grammar.Symbol {
        if let id = b.shared["json-object"] { return .rule(id) }
        let object = b.declare("json-object")
        b.shared["json-object"] = object
        let value = try genericValue()
        let member = try b.group([try jsonString()] + GrammarBuilder.literal(":") + [value], name: "member")
        let more = try b.repeated(GrammarBuilder.literal(",") + [member], min: 0, max: nil)
        try b.define(
            object,
            [
                GrammarBuilder.literal("{") + [try b.rule("members", [[member] + more, []])]
                    + GrammarBuilder.literal("}")
            ]
        )
        return .rule(object)
    }
}
