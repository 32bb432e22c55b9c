import Bench
import Foundation
import SwerveCore
import TestSupport
import Testing

/// `swerve bench serve`'s figures with vLLM's definitions, its result keys, and its HTML report rendered by
/// headless Chromium.
@Suite struct ServeReportTests {
    /// Ten requests sent 0.5 s apart, the last failing; latencies grow so percentiles are known.
    static func report(goodput: [String: Double] = [:]) -> ServeReport {
        var results: [ServeBenchmark.RequestResult] = []
        for i in 0..<10 {
            var r = ServeBenchmark.RequestResult(start: Double(i) * 0.5, promptTokens: 100)
            if i == 9 {
                r.error = "HTTP 503: the server is shutting down"
            } else {
                r.success = true
                r.ttft = 0.010 * Double(i + 1)
                r.itls = [0.004, 0.006]
                r.latency = r.ttft! + 0.010
                r.outputTokens = 3
            }
            results.append(r)
        }
        return ServeReport(
            results: results,
            duration: 5,
            configuration: ServeBenchmark.Configuration(model: "m", requestRate: 2, maxConcurrency: 4),
            options: ServeReport.Options(
                percentileMetrics: ["ttft", "tpot", "itl", "e2el"],
                percentiles: [50, 99],
                goodput: goodput
            ),
            datasetName: "pika"
        )
    }

    @Test func figuresFollowVLLMsDefinitions() throws {
        let r = Self.report(goodput: ["e2el": 50])
        #expect(r.completed.count == 9 && r.failed.count == 1)
        #expect(abs(r.requestThroughput - 9 / 5) < 1e-9)
        #expect(abs(r.outputThroughput - 27 / 5) < 1e-9)
        let ttft = r.statistics("ttft")
        #expect(abs(ttft.mean - 50) < 1e-9 && abs(ttft.median - 50) < 1e-9)
        // numpy's percentile (linear between ranks): p99 of 10…90 ms is 89.2 ms.
        #expect(abs(ttft.percentiles[1].1 - 89.2) < 1e-9)
        // TPOT = (E2EL - TTFT) / (output tokens - 1) = 10 ms / 2.
        #expect(abs(r.statistics("tpot").mean - 5) < 1e-9)
        #expect(abs(r.statistics("itl").mean - 5) < 1e-9)
        let json = r.json
        for key in [
            "completed", "failed", "request_throughput", "request_goodput", "output_throughput",
            "total_token_throughput",
            "mean_ttft_ms", "median_ttft_ms", "std_ttft_ms", "p99_ttft_ms", "p50_ttft_ms", "mean_tpot_ms",
            "mean_itl_ms",
            "p99_itl_ms", "mean_e2el_ms", "p99_e2el_ms", "total_input_tokens", "total_output_tokens", "duration",
            "errors",
        ] {
            #expect(json[key] != nil, "missing \(key)")
        }
        // Goodput: E2EL ≤ 50 ms holds for the requests with TTFT ≤ 40 ms, 4 of them, over 5 s.
        #expect(abs((json["request_goodput"]?.double ?? 0) - 0.8) < 1e-9)
        #expect(json["errors"]?.array?.last?.string == "HTTP 503: the server is shutting down")
    }

    @Test func summaryTableHasVLLMsLines() {
        let table = Self.report().table
        for line in [
            "============ Serving Benchmark Result ============", "Successful requests:                     9",
            "Failed requests:                         1", "Request throughput (req/s):              1.80",
            "Mean TTFT (ms):                          50.00", "P99 TTFT (ms):                           89.20",
            "Mean E2EL (ms):                          60.00", "failed 1×: HTTP 503: the server is shutting down",
        ] {
            #expect(table.contains(line), "missing: \(line)\n\(table)")
        }
    }

    /// The report opened in headless Chromium (Debian's package, which `scripts/chromium` installs when it
    /// is missing): the screenshot shows the charts' series colours in plot-sized amounts (a page without
    /// charts has none).
    @Test func htmlReportRendersItsChartsInChromium() async throws {
        let (found, located) = try await Subprocess.run(
            Subprocess.root.appendingPathComponent("scripts/chromium").path,
            []
        )
        try #require(found == 0, "scripts/chromium failed: \(located)")
        // The path is the script's last line on stdout; a first run's apt-get output shares the pipe (on stderr,
        // it may interleave after it), so the path is the last line that names an executable.
        let browser = try #require(
            located.split(separator: "\n").map(String.init).last { FileManager.default.isExecutableFile(atPath: $0) },
            "no browser path in: \(located.suffix(500))"
        )
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("swerve-report-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let html = folder.appendingPathComponent("report.html")
        let png = folder.appendingPathComponent("report.png")
        let report = Self.report().html
        #expect(
            !report.contains("http://") || report.contains("xmlns=\"http://www.w3.org/2000/svg\""),
            "no network use"
        )
        #expect(!report.contains("<script"))
        try Data(report.utf8).write(to: html)
        let (status, output) = try await Subprocess.run(
            browser,
            [
                "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--window-size=1400,1400",
                "--user-data-dir=\(folder.path)/profile", "--screenshot=\(png.path)", html.absoluteString,
            ]
        )
        try #require(status == 0 && FileManager.default.fileExists(atPath: png.path), "chromium failed: \(output)")
        let python = Subprocess.root.appendingPathComponent(".venv/bin/python").path
        let (ok, counts) = try await Subprocess.run(
            FileManager.default.isExecutableFile(atPath: python) ? python : "/usr/bin/python3",
            [
                Subprocess.root.appendingPathComponent("Tests/BenchTests/Python/png_colors.py").path, png.path,
                "#2563eb",
                "#dc2626",
            ]
        )
        try #require(ok == 0, "\(counts)")
        let result = try JSONValue.parse(counts.trimmingCharacters(in: .whitespacesAndNewlines))
        let blue = result["counts"]?["#2563eb"]?.integer ?? 0
        let red = result["counts"]?["#dc2626"]?.integer ?? 0
        // Three histograms of blue bars and the end-to-end series; the time-to-first-token points in red.
        #expect(blue > 3000, "blue pixels: \(blue)")
        #expect(red > 200, "red pixels: \(red)")
    }
}
