import Foundation

/// A model's recommended sampling defaults from its Hugging Face `generation_config.json`, applied where a
/// request leaves a field out, as vLLM's `--generation-config auto` does: the same six keys vLLM takes
/// (`temperature`, `top_p`, `top_k`, `min_p`, `repetition_penalty`, and `max_new_tokens` as `max_tokens`).
public struct GenerationDefaults: Sendable, Equatable {
    public var temperature: Double?
    public var topP: Double?
    public var topK: Int?
    public var minP: Double?
    public var repetitionPenalty: Double?
    public var maxTokens: Int?

    public init(
        temperature: Double? = nil,
        topP: Double? = nil,
        topK: Int? = nil,
        minP: Double? = nil,
        repetitionPenalty: Double? = nil,
        maxTokens: Int? = nil
    ) {
        self.temperature = temperature
        self.topP = topP
        self.topK = topK
        self.minP = minP
        self.repetitionPenalty = repetitionPenalty
        self.maxTokens = maxTokens
    }

    /// Whether any default is set.
    public var isEmpty: Bool { self == GenerationDefaults() }

    /// The defaults in `folder`'s `generation_config.json`; none when the file is absent.
    public init(folder: String) throws {
        let url = URL(fileURLWithPath: folder).appendingPathComponent("generation_config.json")
        guard let data = try? Data(contentsOf: url) else {
            self.init()
            return
        }
        guard let json = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw CheckpointError("generation_config.json", "not a JSON object")
        }
        func number(_ key: String) throws -> Double? {
            guard let value = json[key], !(value is NSNull) else { return nil }
            guard let number = value as? NSNumber else {
                throw CheckpointError("generation_config.json", "'\(key)' is not a number")
            }
            return number.doubleValue
        }
        func integer(_ key: String) throws -> Int? {
            guard let value = try number(key) else { return nil }
            guard value == value.rounded(), value >= 0, value < Double(Int32.max) else {
                throw CheckpointError("generation_config.json", "'\(key)' is not a count")
            }
            return Int(value)
        }
        self.init(
            temperature: try number("temperature"),
            topP: try number("top_p"),
            topK: try integer("top_k"),
            minP: try number("min_p"),
            repetitionPenalty: try number("repetition_penalty"),
            maxTokens: try integer("max_new_tokens")
        )
    }

    /// `key=value` for each default set, for the startup log.
    public var summary: String {
        [
            ("temperature", temperature.map { "\($0)" }), ("top_p", topP.map { "\($0)" }),
            ("top_k", topK.map { "\($0)" }),
            ("min_p", minP.map { "\($0)" }), ("repetition_penalty", repetitionPenalty.map { "\($0)" }),
            ("max_tokens", maxTokens.map { "\($0)" }),
        ].compactMap { key, value in value.map { "\(key)=\($0)" } }.joined(separator: ", ")
    }
}
