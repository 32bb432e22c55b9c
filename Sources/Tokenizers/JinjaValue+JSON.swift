import SwerveCore

extension JinjaValue {
    /// Parses JSON text, keeping object keys in document order (so `tojson` writes them back in that order).
    public init(json text: String) throws(ChatTemplateError) {
        do {
            self.init(try JSONValue.parse(text))
        } catch {
            throw .invalidJSON("\(error.message) at byte \(error.offset)")
        }
    }

    /// The Jinja value of a JSON value: integers written without a fraction or exponent stay integers.
    init(_ json: JSONValue) {
        switch json {
        case .null: self = .none
        case .bool(let b): self = .bool(b)
        case .number(let text):
            if let int = Int(text) { self = .int(int) } else { self = .double(Double(text) ?? .nan) }
        case .string(let s): self = .string(s)
        case .array(let items): self = .array(items.map(JinjaValue.init))
        case .object(let members):
            var object = JinjaObject()
            for (key, value) in members { object[key] = JinjaValue(value) }
            self = .object(object)
        }
    }
}
