import ArgumentParser
import KVEvents

/// vLLM's `--kv-events-config` (a JSON object): `{"enable_kv_cache_events":true,"publisher":"zmq",
/// "endpoint":"tcp://*:5557","topic":"kv-events"}`; a malformed one is refused before the model loads,
/// naming the field, and an endpoint that cannot be opened when the server starts.
struct KVEventsOptions: ParsableArguments {
    @Option(
        help: ArgumentHelp(
            "Publish KV-cache events on ZMQ, as vLLM does (JSON: enable_kv_cache_events, publisher \"zmq\"/\"null\", "
                + "endpoint, replay_endpoint, buffer_steps, hwm, max_queue_size, topic; Swerve's own: encoding "
                + "\"map\" (default, what vllm-router reads) or \"array\" (vLLM's positional events)). Needs libzmq5."
        )
    )
    var kvEventsConfig: String?

    func validate() throws {
        guard let json = kvEventsConfig else { return }
        do { _ = try KVEventsConfig(json: json) } catch { throw ValidationError(error.description) }
    }

    /// The publisher, its sockets open; nil when events are off.
    func makePublisher() throws(KVEventsError) -> ZMQEventPublisher? {
        guard let json = kvEventsConfig else { return nil }
        let config = try KVEventsConfig(json: json)
        return config.publishes ? try ZMQEventPublisher(config) : nil
    }
}
