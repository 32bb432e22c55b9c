import Engine
import Foundation
import KVEvents
import Models
import OpenAIAPI

/// A loaded model as the routes use it: its engine, how prompts become tokens, and the names clients may
/// call it by (`--served-model-name`, the first one reported).
public struct ServedModel: Sendable {
    public let engine: Engine
    public let prompts: PromptEncoder
    public let names: [String]
    /// Other names requests may use (a built-in model's aliases); not listed by `/v1/models`.
    public let aliases: [String]
    /// What was loaded, vLLM's `root`: a path's file name only (`/v1/models` must not tell anyone who asks
    /// where the server keeps its files), a name or `hf://` address as given.
    public let root: String
    public let created: Int
    /// The KV-event publisher the engine feeds (`--kv-events-config`), stopped after the engine.
    public let kvEvents: ZMQEventPublisher?
    /// Sampling defaults for fields a request leaves out (`--generation-config`).
    public let generationDefaults: GenerationDefaults

    public init(
        engine: Engine,
        prompts: PromptEncoder,
        names: [String],
        aliases: [String] = [],
        root: String,
        kvEvents: ZMQEventPublisher? = nil,
        generationDefaults: GenerationDefaults = GenerationDefaults()
    ) {
        precondition(!names.isEmpty, "a served model needs a name")
        self.engine = engine
        self.prompts = prompts
        self.names = names
        self.aliases = aliases
        self.kvEvents = kvEvents
        self.generationDefaults = generationDefaults
        self.root = root.hasPrefix("/") ? URL(fileURLWithPath: root).lastPathComponent : root
        created = Int(Date().timeIntervalSince1970)
    }

    /// The name responses report.
    public var name: String { names[0] }

    /// Whether a request's `model` field names this model (absent: yes, as vLLM serves its only model).
    public func answers(to model: String?) -> Bool {
        guard let model else { return true }
        return (names + aliases).contains { $0.caseInsensitiveCompare(model) == .orderedSame }
    }

    var card: [ModelCard] {
        names.map { ModelCard(id: $0, created: created, root: root, max_model_len: engine.maxModelLen) }
    }
}
