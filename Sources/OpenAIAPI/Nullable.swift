/// An optional that is always written: `null` when absent. OpenAI's responses spell out `"finish_reason":
/// null` and `"logprobs": null` where Swift's synthesized `Encodable` would drop the key, and clients that
/// check for the key (not just its value) need it there. Decoding accepts the key missing or `null`.
public struct Nullable<Wrapped> {
    public var value: Wrapped?

    public init(_ value: Wrapped?) { self.value = value }
}

extension Nullable: Sendable where Wrapped: Sendable {}
extension Nullable: Equatable where Wrapped: Equatable {}

extension Nullable: ExpressibleByNilLiteral {
    public init(nilLiteral: ()) { value = nil }
}

extension Nullable: Encodable where Wrapped: Encodable {
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        if let value { try container.encode(value) } else { try container.encodeNil() }
    }
}

extension Nullable: Decodable where Wrapped: Decodable {
    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        value = container.decodeNil() ? nil : try container.decode(Wrapped.self)
    }
}

extension KeyedDecodingContainer {
    /// A missing key decodes as `null` (synthesized `init(from:)` picks this overload).
    public func decode<T: Decodable>(_ type: Nullable<T>.Type, forKey key: Key) throws -> Nullable<T> {
        try decodeIfPresent(type, forKey: key) ?? nil
    }
}
