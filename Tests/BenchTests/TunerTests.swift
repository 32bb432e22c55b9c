import Bench
import Foundation
import Testing

/// `swerve tune`'s pieces: objectives, the search's candidates and their flags, ranking, and that a Ctrl-C
/// stops every server it started.
@Suite struct TunerTests {
    @Test func objectivesParseAndHold() throws {
        let slo = try #require(Tuner.SLO("p99_e2el_ms<=100"))
        #expect(slo.key == "p99_e2el_ms" && slo.holds(100) && !slo.holds(100.5))
        let strict = try #require(Tuner.SLO("mean_ttft_ms < 50"))
        #expect(strict.key == "mean_ttft_ms" && strict.holds(49.9) && !strict.holds(50))
        #expect(Tuner.SLO("p99_e2el_ms") == nil && Tuner.SLO("<=3") == nil && Tuner.SLO("x<=fast") == nil)
    }

    @Test func candidatesAreTheDefaultsThenEveryCombination() {
        let candidates = Tuner.candidates([
            ("max-num-seqs", ["8", "32"]), ("enable-prefix-caching", ["true", "false"]), ("kv-cache-dtype", ["q8_0"]),
        ])
        #expect(candidates.count == 5)
        #expect(candidates[0].settings.isEmpty && candidates[0].description == "defaults")
        #expect(candidates[1].flags == ["--max-num-seqs", "8", "--enable-prefix-caching", "--kv-cache-dtype", "q8_0"])
        #expect(candidates[2].flags == ["--max-num-seqs", "8", "--no-enable-prefix-caching", "--kv-cache-dtype", "q8_0"])
        #expect(candidates[4].description == "max-num-seqs=32 enable-prefix-caching=false kv-cache-dtype=q8_0")
    }

    @Test func rankingPrefersTheHighestRateThenTheLowestLatency() {
        func outcome(_ name: String, _ rate: Double, _ p99: Double) -> Tuner.Outcome {
            var o = Tuner.Outcome(candidate: Tuner.Candidate(settings: [(name, "1")]))
            o.bestRate = rate
            o.runs = [(rate, true, ["p99_e2el_ms": p99])]
            return o
        }
        let ranked = Tuner.ranked(
            [outcome("a", 2, 50), outcome("b", 4, 90), outcome("c", 4, 60), outcome("d", 0, 10)],
            by: Tuner.SLO("p99_e2el_ms<=100")
        )
        #expect(ranked.map(\.candidate.settings.first!.name) == ["c", "b", "a", "d"])
    }

    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    /// Command lines of running processes that mention `needle` (from /proc).
    static func processes(mentioning needle: String) -> [String] {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return entries.filter { $0.allSatisfy(\.isNumber) }.compactMap { pid in
            guard let data = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline") else { return nil }
            let line = String(decoding: data.map { $0 == 0 ? 0x20 : $0 }, as: UTF8.self)
            return line.contains(needle) ? line : nil
        }
    }

    /// `swerve tune` interrupted while a server it started is up: it exits, and the server is gone.
    @Test func ctrlCStopsEveryServerTuneStarted() async throws {
        let built = [".build/debug/swerve", ".build/release/swerve"].map { Self.root.appendingPathComponent($0).path }
        let swerve = try #require(built.first { FileManager.default.isExecutableFile(atPath: $0) }, "build swerve first")
        let port = 19000 + Int.random(in: 0..<900)
        let tune = Process()
        tune.executableURL = URL(fileURLWithPath: swerve)
        tune.arguments = [
            "tune", "--port", "\(port)", "--request-rates", "0.5", "--num-prompts", "40", "--search", "max-num-seqs=2",
            "--threads", "1",
        ]
        tune.standardOutput = FileHandle.nullDevice
        tune.standardError = FileHandle.nullDevice
        try tune.run()
        // Wait for the first server it starts.
        var serving = false
        for _ in 0..<600 where !serving {
            try await Task.sleep(for: .milliseconds(200))
            serving = !Self.processes(mentioning: "--port \(port)").filter { $0.contains(" serve ") }.isEmpty
        }
        try #require(serving, "swerve tune started no server")
        try await Task.sleep(for: .seconds(1))
        kill(tune.processIdentifier, SIGINT)
        for _ in 0..<300 where tune.isRunning { try await Task.sleep(for: .milliseconds(100)) }
        #expect(!tune.isRunning)
        if tune.isRunning { tune.terminate() }
        tune.waitUntilExit()
        #expect(tune.terminationStatus == 130)
        var left = Self.processes(mentioning: "--port \(port)")
        for _ in 0..<50 where !left.isEmpty {
            try await Task.sleep(for: .milliseconds(100))
            left = Self.processes(mentioning: "--port \(port)")
        }
        #expect(left.isEmpty, "still running: \(left)")
    }
}
