import Foundation
import TestSupport
import Testing

@testable import Bench

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
        #expect(
            candidates[2].flags == ["--max-num-seqs", "8", "--no-enable-prefix-caching", "--kv-cache-dtype", "q8_0"]
        )
        #expect(candidates[4].description == "max-num-seqs=32 enable-prefix-caching=false kv-cache-dtype=q8_0")
    }

    @Test func searchValuesMayBeJSONAndNoneLeavesTheFlagOut() throws {
        let ngram = #"{"method":"ngram","num_speculative_tokens":5,"prompt_lookup_max":4,"prompt_lookup_min":2}"#
        let dimension = try #require(Tuner.dimension("speculative-config=none,\(ngram)"))
        #expect(dimension.name == "speculative-config" && dimension.values == ["none", ngram])
        let candidates = Tuner.candidates([dimension])
        #expect(candidates.count == 3 && candidates[1].flags.isEmpty)
        #expect(candidates[2].flags == ["--speculative-config", ngram])
        #expect(Tuner.dimension("max-num-seqs=8,32")! == ("max-num-seqs", ["8", "32"]))
        #expect(Tuner.dimension(#"speculative-config={"method":"ngram""#) == nil)
        #expect(Tuner.dimension("max-num-seqs=8,,32") == nil && Tuner.dimension("=8") == nil)
        #expect(Tuner.dimension("max-num-seqs") == nil)
    }

    @Test func everyRateDrawsItsOwnUserTurns() {
        // The same turns at every rate would be answered from the prefix cache after the first rate.
        let tokenizer = ByteTokenizer(vocabularySize: 300)
        let turns = (0..<4).map { step in
            ServeDataset.pika(count: 20, seed: Tuner.datasetSeed(7, step: step), tokenizer: tokenizer, schema: true)
                .items.map { $0.messages![1].content }
        }
        for a in 0..<4 {
            for b in (a + 1)..<4 { #expect(Set(turns[a]).intersection(turns[b]).count <= 2) }
        }
        #expect(
            turns[0]
                == ServeDataset.pika(count: 20, seed: 7, tokenizer: tokenizer, schema: true).items.map {
                    $0.messages![1].content
                }
        )
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

    @Test func confirmationIsReportedSideBySide() throws {
        let slo = try #require(Tuner.SLO("p90_e2el_ms<=1000"))
        let tuner = Tuner(
            executable: "swerve",
            model: "m",
            servedName: "t",
            port: 1,
            baseFlags: [],
            slos: [slo],
            rates: [1, 2],
            numPrompts: 10,
            seed: 0,
            pikaSchema: true,
            candidates: [],
            confirmRounds: 3
        )
        func run(_ passed: Bool, _ p90: Double) -> Tuner.Run { (2, passed, ["p90_e2el_ms": p90]) }
        var best = Tuner.Outcome(candidate: Tuner.Candidate(settings: [("max-num-seqs", "4")]))
        best.bestRate = 2
        best.runs = [(1, true, ["p90_e2el_ms": 500]), run(true, 900)]
        var defaults = Tuner.Outcome(candidate: Tuner.Candidate(settings: []))
        defaults.bestRate = 1
        defaults.runs = [(1, true, ["p90_e2el_ms": 400]), run(false, 1200)]
        var confirmation = Tuner.Confirmation(best: best.candidate)
        var atTwo = Tuner.Confirmation.Level(rate: 2)
        atTwo.rounds = [
            (run(false, 1200), run(true, 900)), (run(false, 1300), run(false, 1100)),
            (run(true, 950), run(false, 1010)),
        ]
        var atOne = Tuner.Confirmation.Level(rate: 1)
        atOne.rounds = [
            (run(true, 600), run(true, 500)), (run(true, 700), run(true, 450)), (run(true, 650), run(false, 1001)),
        ]
        confirmation.levels = [atTwo, atOne]
        #expect(!atTwo.confirmed && atOne.confirmed && confirmation.confirmedRate == 1)
        let report = TunerReport(tuner: tuner, outcomes: [defaults, best], confirmation: confirmation)
        #expect(report.table.contains("the search's best over the defaults: 2.00x"))
        #expect(
            report.table.contains(
                "at 2 req/s: the search's best met the SLO in 1/3 rounds, the defaults in 1/3; median p90_e2el_ms 1010 vs 1200 (0.84x)"
            )
        )
        #expect(report.table.contains("holds the SLO at 1 req/s; the defaults do too (no confirmed gain)"))
        // Not upheld: the defaults are recommended.
        #expect(report.recommendation == "swerve serve --model m" && report.table.contains("the margin was noise"))
        var upheld = confirmation
        upheld.levels[1].rounds[0].defaults.passed = false
        upheld.levels[1].rounds[1].defaults.passed = false
        #expect(
            TunerReport(tuner: tuner, outcomes: [defaults, best], confirmation: upheld).recommendation
                == "swerve serve --model m --max-num-seqs 4"
        )
        #expect(TunerReport(tuner: tuner, outcomes: [defaults, best]).recommendation.hasSuffix("--max-num-seqs 4"))
        let levels = try #require(report.json["confirmation"]?["levels"]?.array)
        #expect(levels.count == 2 && levels[0]["rounds"]?.array?[0]["best"]?["p90_e2el_ms"]?.double == 900)
        #expect(report.json["confirmation"]?["confirmed_rate"]?.double == 1)
        #expect(report.html.contains("Confirmation at 2 req/s") && report.html.contains("3 best"))
        confirmation.levels = [atTwo]
        #expect(
            TunerReport(tuner: tuner, outcomes: [defaults, best], confirmation: confirmation).table.contains(
                "not confirmed"
            )
        )
        // The defaults first: nothing to confirm.
        #expect(TunerReport(tuner: tuner, outcomes: [defaults]).json["confirmation"] == .null)
    }

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
        let swerve = try #require(Subprocess.swerve, "build swerve first")
        let port = 19000 + Int.random(in: 0..<900)
        let tune = Process()
        tune.executableURL = URL(fileURLWithPath: swerve)
        tune.arguments = [
            "tune", "--port", "\(port)", "--request-rates", "0.5", "--num-prompts", "40", "--search", "max-num-seqs=2",
            "--threads", "1",
        ]
        // Its output goes to a file, so a failure below says what the tuner was doing.
        let log = FileManager.default.temporaryDirectory.appendingPathComponent("swerve-tune-\(port).log")
        FileManager.default.createFile(atPath: log.path, contents: nil)
        defer { try? FileManager.default.removeItem(at: log) }
        let handle = try FileHandle(forWritingTo: log)
        defer { try? handle.close() }
        tune.standardOutput = handle
        tune.standardError = handle
        try tune.run()
        // Wait for the first server it starts, then interrupt: on a thread of its own, not the cooperative
        // pool, which the full suite can starve for minutes (CI once saw tune finish its whole search, 2 × 40
        // requests, before this test's polling task ran again, and tune exited 0).
        let tuneID = tune.processIdentifier
        let serving = try await offThePool {
            var serving = false
            for _ in 0..<600 where !serving {
                usleep(200_000)
                serving = !Self.processes(mentioning: "--port \(port)").filter { $0.contains(" serve ") }.isEmpty
            }
            if serving {
                sleep(1)
                kill(tuneID, SIGINT)
            }
            return serving
        }
        try #require(serving, "swerve tune started no server")
        for _ in 0..<300 where tune.isRunning { try await Task.sleep(for: .milliseconds(100)) }
        #expect(!tune.isRunning)
        if tune.isRunning { tune.terminate() }
        tune.waitUntilExit()
        let output = (try? String(contentsOf: log, encoding: .utf8)) ?? ""
        #expect(tune.terminationStatus == 130, "swerve tune printed:\n\(output.suffix(3000))")
        var left = Self.processes(mentioning: "--port \(port)")
        for _ in 0..<50 where !left.isEmpty {
            try await Task.sleep(for: .milliseconds(100))
            left = Self.processes(mentioning: "--port \(port)")
        }
        #expect(left.isEmpty, "still running: \(left)")
    }
}
