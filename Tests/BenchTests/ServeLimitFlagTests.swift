import TestSupport
import Testing

/// Sizes and counts no machine of this kind can honour are refused at startup, naming the flag, before any
/// model is fetched or loaded: each of these once started 100,000 threads, trapped converting a size, or
/// died allocating a table for a hundred million sequences.
@Suite struct ServeLimitFlagTests {
    @Test(arguments: [
        (["--threads", "100000"], "--threads 100000 is more than 512"),
        (["--kv-offloading-size", "1e12"], "GiB is more than this machine's"),
        (["--kv-disk-size", "1e12", "--kv-disk-path", "/tmp/swerve-kv-limit-test"], "GiB is more than any disk holds"),
        (
            ["--max-num-seqs", "100000000"],
            "--max-num-batched-tokens (2048) must be at least --max-num-seqs (100000000)"
        ),
    ])
    func anImpossibleSizeIsRefusedNamingIt(flags: [String], message: String) async throws {
        let swerve = try #require(Subprocess.swerve, "build swerve first")
        let (status, output) = try await Subprocess.run(swerve, ["serve", "--model", "/nonexistent.gguf"] + flags)
        #expect(status != 0)
        #expect(output.contains(message), "\(output)")
    }

    /// `bench latency` past the model's context once mapped a terabyte of KV cache and stopped.
    @Test(.tags(.realModel), .needsRealModels) func benchLatencyPastTheContextIsRefused() async throws {
        let swerve = try #require(Subprocess.swerve, "build swerve first")
        let (status, output) = try await Subprocess.run(swerve, ["bench", "latency", "--input-len", "100000000"])
        #expect(status != 0)
        #expect(output.contains("--input-len 100000000 + --output-len 64 is more than the model's context length 8192"))
    }
}
