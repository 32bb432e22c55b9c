import Foundation
import SwerveCore

/// Checks a parsed JSON value against a JSON Schema with the standard's own semantics, independently of
/// the grammar compiled from it (its own reading of each keyword, and Foundation's regular expressions for
/// `pattern`), so a grammar bug shows as a failed validation rather than a wrong answer. The grammar is
/// stricter than the standard where generation needs it (absent `additionalProperties` means none), so
/// everything it generates must pass here. Covers the keywords `JSONSchemaCompiler` supports; returns the
/// first violation with its path.
public struct JSONSchemaValidator {
    let document: JSONValue

    public init(schema: JSONValue) { document = schema }

    /// nil when `value` satisfies the schema, else what is wrong and where.
    public func violation(_ value: JSONValue) -> String? { check(value, document, at: "$", depth: 0) }

    func resolve(_ ref: String) -> JSONValue? { document.value(at: ref) }

    func check(_ value: JSONValue, _ schema: JSONValue, at path: String, depth: Int) -> String? {
        guard depth < 256 else { return "\(path): schema recursion too deep" }
        if case .bool(let allowed) = schema { return allowed ? nil : "\(path): no value is allowed" }
        if let ref = schema["$ref"]?.string {
            guard let target = resolve(ref) else { return "\(path): $ref \(ref) does not resolve" }
            if let problem = check(value, target, at: path, depth: depth + 1) { return problem }
        }
        for part in schema["allOf"]?.array ?? [] {
            if let problem = check(value, part, at: path, depth: depth + 1) { return problem }
        }
        for keyword in ["anyOf", "oneOf"] {
            if let options = schema[keyword]?.array,
                !options.contains(where: { check(value, $0, at: path, depth: depth + 1) == nil })
            {
                return "\(path): matches none of \(keyword)"
            }
        }
        if let constant = schema["const"], constant != value {
            return "\(path): is not the constant \(constant.serialized)"
        }
        if let options = schema["enum"]?.array, !options.contains(value) {
            return "\(path): \(value.serialized) is not in enum"
        }
        if let type = schema["type"] {
            let types = type.string.map { [$0] } ?? type.array?.compactMap(\.string) ?? []
            if !JSONSchemaCompiler.matches(value, anyOf: types) { return "\(path): is not of type \(types)" }
        }
        switch value {
        case .object(let members):
            let properties = schema["properties"]?.object ?? []
            for name in schema["required"]?.array?.compactMap(\.string) ?? []
            where !members.contains(where: { $0.0 == name }) {
                return "\(path): required member '\(name)' is missing"
            }
            var seen = Set<String>()
            for (name, member) in members {
                guard seen.insert(name).inserted else { return "\(path): member '\(name)' appears twice" }
                if let propertySchema = properties.first(where: { $0.0 == name })?.1 {
                    if let problem = check(member, propertySchema, at: path + "." + name, depth: depth + 1) {
                        return problem
                    }
                } else if let extra = schema["additionalProperties"] {
                    if extra == .bool(false) { return "\(path): member '\(name)' is not allowed" }
                    if let problem = check(member, extra, at: path + "." + name, depth: depth + 1) { return problem }
                }
            }
        case .array(let items):
            if let n = schema["minItems"]?.integer, items.count < n { return "\(path): fewer than \(n) items" }
            if let n = schema["maxItems"]?.integer, items.count > n { return "\(path): more than \(n) items" }
            let prefix = schema["prefixItems"]?.array ?? []
            for (i, item) in items.enumerated() {
                let itemSchema = i < prefix.count ? prefix[i] : (schema["items"] ?? .bool(true))
                if let problem = check(item, itemSchema, at: "\(path)[\(i)]", depth: depth + 1) { return problem }
            }
        case .string(let text):
            let length = text.unicodeScalars.count
            if let n = schema["minLength"]?.integer, length < n { return "\(path): shorter than \(n) characters" }
            if let n = schema["maxLength"]?.integer, length > n { return "\(path): longer than \(n) characters" }
            if let pattern = schema["pattern"]?.string, !Self.search(pattern, in: text) {
                return "\(path): does not match pattern \(pattern)"
            }
            if let format = schema["format"]?.string, let pattern = JSONSchemaCompiler.formats[format],
                !Self.search("^(?:" + pattern + ")$", in: text)
            {
                return "\(path): is not a valid \(format)"
            }
        case .number:
            let x = value.double ?? .nan
            if let m = schema["minimum"]?.double, x < m { return "\(path): below minimum \(m)" }
            if let m = schema["maximum"]?.double, x > m { return "\(path): above maximum \(m)" }
            if let m = schema["exclusiveMinimum"]?.double, x <= m { return "\(path): not above \(m)" }
            if let m = schema["exclusiveMaximum"]?.double, x >= m { return "\(path): not below \(m)" }
        default: break
        }
        return nil
    }

    /// Whether `pattern` matches somewhere in `text` (JSON Schema's `pattern` is a search), in the dialect the
    /// grammar was compiled from. A pattern whose automaton is too large to build is not checked here (the
    /// grammar enforced it while generating).
    static func search(_ pattern: String, in text: String) -> Bool {
        guard let matcher = try? RegexMatcher(pattern) else { return true }
        return matcher.matchesSomewhere(text)
    }
}
