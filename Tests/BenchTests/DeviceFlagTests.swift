import TestSupport
import Testing

/// `--device` (vLLM's flag) on the commands that run models: a device Swerve has no backend for is refused
/// with a message that says what to use, before any model is fetched or loaded.
@Suite struct DeviceFlagTests {
    @Test(arguments: [["serve"], ["bench", "latency"], ["bench", "throughput"], ["generate", "--prompt", "hi"]])
    func cudaIsRefusedWithWhatToUse(_ command: [String]) async throws {
        let swerve = try #require(Subprocess.swerve, "build swerve first")
        let (status, output) = try await Subprocess.run(
            swerve,
            command + ["--device", "cuda", "--model", "/nonexistent.gguf"]
        )
        #expect(status != 0)
        #expect(output.contains("--device cuda: Swerve has no CUDA backend yet"), "\(output)")
        #expect(output.contains("use --device cpu"))
    }

    @Test func anUnknownDeviceNamesTheChoices() async throws {
        let swerve = try #require(Subprocess.swerve, "build swerve first")
        let (status, output) = try await Subprocess.run(swerve, ["bench", "latency", "--device", "tpu"])
        #expect(status != 0)
        #expect(output.contains("auto") && output.contains("cpu") && output.contains("cuda"), "\(output)")
    }
}
