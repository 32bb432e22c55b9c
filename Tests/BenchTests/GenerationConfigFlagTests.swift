import TestSupport
import Testing

/// `swerve serve --generation-config FOLDER` refuses a folder without a generation_config.json at startup,
/// before any model is fetched or loaded.
@Suite struct GenerationConfigFlagTests {
    @Test func aFolderWithoutTheFileIsRefusedAtStartup() async throws {
        let swerve = try #require(Subprocess.swerve, "build swerve first")
        let (status, output) = try await Subprocess.run(
            swerve,
            ["serve", "--model", "/nonexistent.gguf", "--port", "0", "--generation-config", "/nonexistent-folder"]
        )
        #expect(status != 0)
        #expect(output.contains("'/nonexistent-folder' holds no generation_config.json"), "\(output)")
    }
}
