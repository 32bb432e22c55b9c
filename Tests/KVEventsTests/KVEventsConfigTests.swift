import KVEvents
import Testing

@Suite struct KVEventsConfigTests {
    @Test func readsVLLMsFieldsWithItsDefaults() throws {
        let config = try KVEventsConfig(
            json: #"{"enable_kv_cache_events":true,"publisher":"zmq","endpoint":"tcp://*:6000","topic":"kv-events"}"#
        )
        #expect(config.publishes && config.endpoint == "tcp://*:6000" && config.topic == "kv-events")
        #expect(config.replayEndpoint == nil && config.bufferSteps == 10_000 && config.hwm == 100_000)
        #expect(config.encoding == .map)
        #expect(try !KVEventsConfig(json: #"{"enable_kv_cache_events":false}"#).publishes)
        #expect(try !KVEventsConfig(json: #"{"enable_kv_cache_events":true,"publisher":"null"}"#).publishes)
        #expect(try KVEventsConfig(json: #"{"encoding":"array","buffer_steps":3}"#).encoding == .array)
    }

    @Test(arguments: [
        ("{", "not valid JSON"),
        ("[]", "must be a JSON object"),
        (#"{"publisher":"kafka"}"#, "'publisher'"),
        (#"{"endpoints":"x"}"#, "'endpoints' is unknown"),
        (#"{"hwm":0}"#, "'hwm' must be a positive integer"),
        (#"{"enable_kv_cache_events":"yes"}"#, "'enable_kv_cache_events'"),
        (#"{"encoding":"json"}"#, "'encoding'"),
        (#"{"topic":5}"#, "'topic' must be a string"),
    ])
    func refusesNamingTheField(json: String, message: String) {
        #expect {
            try KVEventsConfig(json: json)
        } throws: { error in
            "\(error)".contains(message)
        }
    }
}
