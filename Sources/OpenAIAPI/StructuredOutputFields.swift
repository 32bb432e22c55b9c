/// The structured-output fields chat and text completions share: OpenAI's `response_format`, vLLM's
/// `structured_outputs`, and vLLM's older `guided_*` fields (still sent by many clients). Schemas are read
/// here only for their shape; the server re-reads them from the body in member order (`AnyJSON` is a
/// dictionary and forgets it).
public protocol StructuredOutputFields: Sendable {
    var response_format: ResponseFormat? { get }
    var structured_outputs: StructuredOutputs? { get }
    var guided_json: AnyJSON? { get }
    var guided_regex: String? { get }
    var guided_choice: [String]? { get }
    var guided_grammar: String? { get }
    var guided_whitespace_pattern: String? { get }
    /// Swerve: one-pass classification (score every alternative of a choice or enum, take the best).
    var classify: Bool? { get }
}

/// Swerve's report of one one-pass classification in a choice: every alternative with its
/// log-likelihood, and the one chosen.
public struct ClassificationInfo: Codable, Sendable, Equatable {
    public struct Alternative: Codable, Sendable, Equatable {
        public var text: String
        public var logprob: Double

        public init(text: String, logprob: Double) {
            self.text = text
            self.logprob = logprob
        }
    }

    public var alternatives: [Alternative]
    public var chosen: String

    public init(alternatives: [Alternative], chosen: String) {
        self.alternatives = alternatives
        self.chosen = chosen
    }
}

/// OpenAI's `response_format`: `{"type":"text"}`, `{"type":"json_object"}` or
/// `{"type":"json_schema","json_schema":{"name","schema","strict","description"}}`.
public struct ResponseFormat: Codable, Sendable, Equatable {
    public var type: String
    public var json_schema: JSONSchemaFormat?

    public struct JSONSchemaFormat: Codable, Sendable, Equatable {
        public var name: String?
        public var description: String?
        public var schema: AnyJSON?
        public var strict: Bool?
    }
}

/// vLLM's `structured_outputs` (`StructuredOutputsParams`): exactly one of `json` (a schema, as an object or
/// its text), `regex`, `choice`, `grammar` (EBNF) or `json_object`; the whitespace options.
public struct StructuredOutputs: Codable, Sendable, Equatable {
    public var json: AnyJSON?
    public var regex: String?
    public var choice: [String]?
    public var grammar: String?
    public var json_object: Bool?
    public var disable_any_whitespace: Bool?
    public var disable_additional_properties: Bool?
    public var whitespace_pattern: String?
    public var structural_tag: AnyJSON?
}

/// Any JSON value, for fields whose shape only the server interprets.
public enum AnyJSON: Codable, Sendable, Equatable {
    case null
    case bool(Bool)
    case number(Double)
    case string(String)
    case array([AnyJSON])
    case object([String: AnyJSON])

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() {
            self = .null
        } else if let value = try? container.decode(Bool.self) {
            self = .bool(value)
        } else if let value = try? container.decode(Double.self) {
            self = .number(value)
        } else if let value = try? container.decode(String.self) {
            self = .string(value)
        } else if let value = try? container.decode([AnyJSON].self) {
            self = .array(value)
        } else {
            self = .object(try container.decode([String: AnyJSON].self))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .null: try container.encodeNil()
        case .bool(let value): try container.encode(value)
        case .number(let value): try container.encode(value)
        case .string(let value): try container.encode(value)
        case .array(let value): try container.encode(value)
        case .object(let value): try container.encode(value)
        }
    }
}
