import Foundation
import TestSupport
import Testing

/// `swerve serve`'s KV tier flags refuse at startup, naming the flag, before any model is fetched or loaded:
/// a disk path that cannot be a directory, an offloading backend Swerve does not have, a size that is not one,
/// a disk size without a disk path. (A size beyond the free space is refused once the model's block size is
/// known: `KVTierTests.startupRefusals`.)
@Suite struct KVTierFlagTests {
    @Test(arguments: [
        (["--kv-offloading-backend", "lmcache"], "--kv-offloading-backend lmcache is not available"),
        (["--kv-offloading-size=-1"], "--kv-offloading-size must be a size in GiB"),
        (["--kv-disk-size", "2"], "--kv-disk-size needs --kv-disk-path"),
        (["--kv-offloading-size", "1", "--no-enable-prefix-caching"], "need prefix caching"),
    ])
    func aBadFlagIsRefusedNamingIt(flags: [String], message: String) async throws {
        let swerve = try #require(Subprocess.swerve, "build swerve first")
        let (status, output) = try await Subprocess.run(swerve, ["serve", "--model", "/nonexistent.gguf"] + flags)
        #expect(status != 0)
        #expect(output.contains(message), "\(output)")
    }

    @Test func aDiskPathThatIsAFileIsRefused() async throws {
        let swerve = try #require(Subprocess.swerve, "build swerve first")
        let file = NSTemporaryDirectory() + "swerve-kv-disk-\(UUID().uuidString)"
        try Data([1]).write(to: URL(fileURLWithPath: file))
        defer { try? FileManager.default.removeItem(atPath: file) }
        let (status, output) = try await Subprocess.run(
            swerve,
            ["serve", "--model", "/nonexistent.gguf", "--kv-disk-path", file]
        )
        #expect(status != 0)
        #expect(output.contains("--kv-disk-path \(file) cannot be created"), "\(output)")
    }
}
