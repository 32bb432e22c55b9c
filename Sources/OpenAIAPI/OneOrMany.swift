/// A field OpenAI lets be one value or a list of them (`stop`, completion prompts): always a list here.
public struct OneOrMany<Element: Codable & Sendable & Equatable>: Codable, Sendable, Equatable {
    public var values: [Element]

    public init(_ values: [Element]) { self.values = values }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if let one = try? container.decode(Element.self) {
            values = [one]
        } else {
            values = try container.decode([Element].self)
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        if values.count == 1 { try container.encode(values[0]) } else { try container.encode(values) }
    }
}
