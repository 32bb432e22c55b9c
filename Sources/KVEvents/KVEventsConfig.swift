import SwerveCore

/// vLLM's `--kv-events-config`: whether and where to publish KV-cache events. The fields and defaults are
/// vLLM's `KVEventsConfig`; `encoding` is Swerve's own (see `KVEventEncoding`).
public struct KVEventsConfig: Sendable, Equatable {
    public var enableKVCacheEvents = false
    /// "zmq" (the default once events are enabled) or "null" (record nothing).
    public var publisher = "zmq"
    /// Where the PUB socket listens (an address with `*`, `ipc://` or `inproc://`) or connects (any other).
    public var endpoint = "tcp://*:5557"
    /// The ROUTER socket answering replay requests; none by default.
    public var replayEndpoint: String?
    /// Batches kept for replay.
    public var bufferSteps = 10_000
    /// The PUB socket's send high-water mark, in messages: past it a batch is dropped, and counted.
    public var hwm = 100_000
    /// Batches queued between the engine and the publisher thread: past it a batch is dropped, and counted.
    public var maxQueueSize = 100_000
    /// The first frame of every message (subscribers filter on its prefix).
    public var topic = ""
    public var encoding = KVEventEncoding.map

    public init() {}

    /// Whether events are to be published at all.
    public var publishes: Bool { enableKVCacheEvents && publisher == "zmq" }

    static let fields = [
        "enable_kv_cache_events", "publisher", "endpoint", "replay_endpoint", "buffer_steps", "hwm",
        "max_queue_size", "topic", "encoding",
    ]

    /// Parses the flag's JSON object; every error names the field.
    public init(json: String) throws(KVEventsError) {
        let value: JSONValue
        do { value = try JSONValue.parse(json) } catch {
            throw .configuration("--kv-events-config is not valid JSON: \(error.message) at byte \(error.offset)")
        }
        guard let object = value.object else { throw .configuration("--kv-events-config must be a JSON object") }
        if let unknown = object.first(where: { !Self.fields.contains($0.0) }) {
            throw .configuration(
                "--kv-events-config field '\(unknown.0)' is unknown (known: \(Self.fields.joined(separator: ", ")))"
            )
        }
        func string(_ key: String) throws(KVEventsError) -> String? {
            guard let field = value[key], field != .null else { return nil }
            guard let text = field.string else {
                throw .configuration("--kv-events-config field '\(key)' must be a string")
            }
            return text
        }
        func positive(_ key: String) throws(KVEventsError) -> Int? {
            guard let field = value[key], field != .null else { return nil }
            guard let number = field.integer, number > 0 else {
                throw .configuration("--kv-events-config field '\(key)' must be a positive integer")
            }
            return number
        }
        if let enabled = value["enable_kv_cache_events"] {
            guard let flag = enabled.bool else {
                throw .configuration("--kv-events-config field 'enable_kv_cache_events' must be true or false")
            }
            enableKVCacheEvents = flag
        }
        if let publisher = try string("publisher") {
            guard ["zmq", "null"].contains(publisher) else {
                throw .configuration(
                    "--kv-events-config field 'publisher' must be \"zmq\" or \"null\", not \"\(publisher)\""
                )
            }
            self.publisher = publisher
        }
        if let endpoint = try string("endpoint") { self.endpoint = endpoint }
        replayEndpoint = try string("replay_endpoint")
        if let steps = try positive("buffer_steps") { bufferSteps = steps }
        if let hwm = try positive("hwm") { self.hwm = hwm }
        if let size = try positive("max_queue_size") { maxQueueSize = size }
        if let topic = try string("topic") { self.topic = topic }
        if let name = try string("encoding") {
            guard let encoding = KVEventEncoding(rawValue: name) else {
                throw .configuration(
                    "--kv-events-config field 'encoding' must be \"map\" or \"array\", not \"\(name)\""
                )
            }
            self.encoding = encoding
        }
    }
}

/// Why KV events cannot be published: a configuration to fix, or a socket that cannot be opened.
public enum KVEventsError: Error, Equatable, CustomStringConvertible {
    case configuration(String)

    public var description: String {
        switch self {
        case .configuration(let message): message
        }
    }
}
