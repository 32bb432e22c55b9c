import Foundation
import TestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// `swerve serve --kv-events-config` refuses at startup, naming the field, before any model is fetched or
/// loaded: a malformed object, an unknown publisher, an endpoint that cannot be bound.
@Suite struct KVEventsFlagTests {
    func refusal(_ json: String) async throws -> (Int32, String) {
        let swerve = try #require(Subprocess.swerve, "build swerve first")
        return try await Subprocess.run(
            swerve,
            ["serve", "--model", "/nonexistent.gguf", "--port", "0", "--kv-events-config", json]
        )
    }

    @Test(arguments: [
        (#"{"enable_kv_cache_events":true"#, "not valid JSON"),
        (#"{"enable_kv_cache_events":true,"publisher":"kafka"}"#, "field 'publisher'"),
        (#"{"enable_kv_cache_events":true,"hwm":-1}"#, "field 'hwm'"),
    ])
    func aMalformedConfigurationIsRefusedNamingTheField(json: String, message: String) async throws {
        let (status, output) = try await refusal(json)
        #expect(status != 0)
        #expect(output.contains(message), "\(output)")
    }

    @Test func anEndpointInUseIsRefusedNamingTheField() async throws {
        // A TCP port this test holds.
        let held = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(held) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(held, $0, length) == 0 && listen(held, 1) == 0 && getsockname(held, $0, &length) == 0
            }
        }
        try #require(bound)
        let port = Int(UInt16(bigEndian: address.sin_port))
        let (status, output) = try await refusal(#"{"enable_kv_cache_events":true,"endpoint":"tcp://*:\#(port)"}"#)
        #expect(status != 0)
        #expect(output.contains("field 'endpoint': cannot bind tcp://*:\(port)"), "\(output)")
    }
}
