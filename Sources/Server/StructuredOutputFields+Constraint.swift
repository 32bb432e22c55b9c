import Dispatch
import Engine
import Foundation
import Grammar
import OpenAIAPI
import SwerveCore

extension StructuredOutputFields {
    /// The constraint the request asks for (nil: free text), from whichever of `structured_outputs`, the
    /// `guided_*` fields and `response_format` it uses; asking for two is a 400, as in vLLM. Schemas are
    /// read from `body` (parsed lazily, in member order) so the answer writes properties in schema order.
    func constraintSpec(body: () throws(JSONError) -> JSONValue) throws(OpenAIError) -> (ConstraintSpec, String)? {
        var found: [(ConstraintSpec?, String)] = []
        func schema(at path: [String], param: String) throws(OpenAIError) -> ConstraintSpec {
            do throws(JSONError) {
                var value = try body()
                for key in path {
                    guard let next = value[key] else { throw JSONError(message: "\(param) is missing", offset: 0) }
                    value = next
                }
                if let text = value.string { value = try JSONValue.parse(text) }
                return .jsonSchema(value.serialized)
            } catch {
                throw .badRequest(
                    "'\(param)' is not a valid JSON schema: \(error.description)",
                    param: param,
                    code: "invalid_schema"
                )
            }
        }
        if let s = structured_outputs {
            if s.whitespace_pattern != nil {
                throw .badRequest(
                    "structured_outputs.whitespace_pattern is not supported: Swerve's JSON is always compact",
                    param: "structured_outputs.whitespace_pattern"
                )
            }
            if s.structural_tag != nil {
                throw .badRequest(
                    "structured_outputs.structural_tag is not supported",
                    param: "structured_outputs.structural_tag"
                )
            }
            if s.json != nil {
                found.append(
                    (
                        try schema(at: ["structured_outputs", "json"], param: "structured_outputs.json"),
                        "structured_outputs.json"
                    )
                )
            }
            if let regex = s.regex { found.append((.regex(regex), "structured_outputs.regex")) }
            if let choice = s.choice { found.append((.choice(choice), "structured_outputs.choice")) }
            if let grammar = s.grammar { found.append((.grammar(grammar), "structured_outputs.grammar")) }
            if s.json_object == true { found.append((.jsonObject, "structured_outputs.json_object")) }
            if found.isEmpty {
                throw .badRequest(
                    "structured_outputs needs one of json, regex, choice, grammar or json_object",
                    param: "structured_outputs"
                )
            }
        }
        if guided_whitespace_pattern != nil {
            throw .badRequest(
                "guided_whitespace_pattern is not supported: Swerve's JSON is always compact",
                param: "guided_whitespace_pattern"
            )
        }
        if guided_json != nil { found.append((try schema(at: ["guided_json"], param: "guided_json"), "guided_json")) }
        if let regex = guided_regex { found.append((.regex(regex), "guided_regex")) }
        if let choice = guided_choice { found.append((.choice(choice), "guided_choice")) }
        if let grammar = guided_grammar { found.append((.grammar(grammar), "guided_grammar")) }
        if let format = response_format {
            switch format.type {
            case "text": break
            case "json_object": found.append((.jsonObject, "response_format"))
            case "json_schema":
                guard format.json_schema?.schema != nil else {
                    throw .badRequest(
                        "response_format of type json_schema needs json_schema.schema",
                        param: "response_format.json_schema"
                    )
                }
                found.append(
                    (
                        try schema(
                            at: ["response_format", "json_schema", "schema"],
                            param: "response_format.json_schema.schema"
                        ),
                        "response_format.json_schema.schema"
                    )
                )
            default:
                throw .badRequest(
                    "response_format.type must be text, json_object or json_schema, got '\(format.type)'",
                    param: "response_format.type"
                )
            }
        }
        guard found.count <= 1 else {
            throw .badRequest(
                "give one structured output constraint per request, not \(found.map(\.1).joined(separator: " and "))",
                param: found[1].1
            )
        }
        return found.first.flatMap { spec, param in spec.map { ($0, param) } }
    }
}

extension Engine {
    /// The compiled constraint for `spec`: from the cache at once, or compiled off the caller's thread
    /// (compiling a large schema takes milliseconds the HTTP event loop should not wait on). A constraint
    /// that cannot compile is a 400 naming `param` and the construct.
    func constraint(_ spec: ConstraintSpec, param: String) async throws -> StructuredConstraint {
        if let hit = cachedConstraint(spec) { return hit }
        do {
            return try await BlockingWork.run { try self.constraint(spec) }
        } catch let error as GrammarError {
            throw OpenAIError.badRequest(
                "'\(param)' cannot be used as a \(spec) constraint: \(error.description)",
                param: param,
                code: "invalid_constraint"
            )
        }
    }
}
