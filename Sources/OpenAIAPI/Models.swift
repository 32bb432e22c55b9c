/// `GET /v1/models`: the names the server answers to.
public struct ModelList: Codable, Sendable, Equatable {
    public var object = "list"
    public var data: [ModelCard]

    public init(data: [ModelCard]) { self.data = data }
}

/// One served model name, with vLLM's `root` (what was loaded) and `max_model_len`.
public struct ModelCard: Codable, Sendable, Equatable {
    public var id: String
    public var object = "model"
    public var created: Int
    public var owned_by = "swerve"
    public var root: String
    public var max_model_len: Int

    public init(id: String, created: Int, root: String, max_model_len: Int) {
        self.id = id
        self.created = created
        self.root = root
        self.max_model_len = max_model_len
    }
}

/// `GET /version`.
public struct VersionInfo: Codable, Sendable, Equatable {
    public var version: String

    public init(version: String) { self.version = version }
}
