import Foundation
import SwerveCore

/// Small inline-SVG charts for the benchmark and tuner reports: scatter plots over time, histograms and bar
/// charts, with axes and ticks, no scripts and nothing fetched (a report opens offline). Written here: a few
/// dozen lines of SVG are less than any charting dependency.
enum SVGChart {
    static let width = 640.0
    static let height = 300.0
    static let margin = (left: 64.0, right: 16.0, top: 28.0, bottom: 44.0)
    static let colors = ["#2563eb", "#dc2626", "#16a34a", "#9333ea", "#ea580c"]

    static func escape(_ s: String) -> String {
        s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;")
    }

    /// Round tick values covering `low...high`.
    static func ticks(_ low: Double, _ high: Double, count: Int = 5) -> [Double] {
        guard high > low else { return [low] }
        let raw = (high - low) / Double(count)
        let magnitude = pow(10, (log10(raw)).rounded(.down))
        let step = [1.0, 2, 5, 10].map { $0 * magnitude }.first { $0 >= raw } ?? raw
        var t = (low / step).rounded(.up) * step
        var out: [Double] = []
        while t <= high + step * 1e-9 {
            out.append(t)
            t += step
        }
        return out
    }

    static func format(_ x: Double) -> String {
        abs(x) >= 100 || x.rounded() == x ? String(Int(x.rounded())) : String(format: "%.2g", x)
    }

    /// The frame: title, axes, ticks and labels, and `plot` (drawn with the given scales).
    static func frame(
        title: String,
        xLabel: String,
        yLabel: String,
        x: ClosedRange<Double>,
        y: ClosedRange<Double>,
        legend: [String] = [],
        plot: (_ sx: (Double) -> Double, _ sy: (Double) -> Double) -> String
    ) -> String {
        let (l, r, t, b) = margin
        let pw = width - l - r
        let ph = height - t - b
        let xSpan = max(x.upperBound - x.lowerBound, 1e-9)
        let ySpan = max(y.upperBound - y.lowerBound, 1e-9)
        let sx = { (v: Double) in l + (v - x.lowerBound) / xSpan * pw }
        let sy = { (v: Double) in t + ph - (v - y.lowerBound) / ySpan * ph }
        var svg = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(Int(width))\" height=\"\(Int(height))\" "
        svg += "viewBox=\"0 0 \(Int(width)) \(Int(height))\" font-family=\"sans-serif\" font-size=\"11\">"
        svg += "<text x=\"\(Int(width / 2))\" y=\"16\" text-anchor=\"middle\" font-size=\"13\" font-weight=\"bold\">"
        svg += escape(title) + "</text>"
        svg += "<rect x=\"\(l)\" y=\"\(t)\" width=\"\(pw)\" height=\"\(ph)\" fill=\"#f8fafc\" stroke=\"#94a3b8\"/>"
        for v in ticks(y.lowerBound, y.upperBound) {
            svg += "<line x1=\"\(l)\" x2=\"\(l + pw)\" y1=\"\(sy(v))\" y2=\"\(sy(v))\" stroke=\"#e2e8f0\"/>"
            svg += "<text x=\"\(l - 6)\" y=\"\(sy(v) + 4)\" text-anchor=\"end\">\(format(v))</text>"
        }
        for v in ticks(x.lowerBound, x.upperBound) {
            svg += "<text x=\"\(sx(v))\" y=\"\(t + ph + 16)\" text-anchor=\"middle\">\(format(v))</text>"
        }
        svg += "<text x=\"\(l + pw / 2)\" y=\"\(height - 8)\" text-anchor=\"middle\">\(escape(xLabel))</text>"
        svg +=
            "<text transform=\"translate(14 \(t + ph / 2)) rotate(-90)\" text-anchor=\"middle\">\(escape(yLabel))</text>"
        svg += plot(sx, sy)
        for (i, name) in legend.enumerated() {
            let lx = l + 10 + Double(i) * 130
            svg += "<rect x=\"\(lx)\" y=\"\(t + 6)\" width=\"10\" height=\"10\" fill=\"\(colors[i % colors.count])\"/>"
            svg += "<text x=\"\(lx + 14)\" y=\"\(t + 15)\">\(escape(name))</text>"
        }
        return svg + "</svg>"
    }

    /// Points per series (x, y), e.g. latency against the time a request was sent.
    static func scatter(title: String, xLabel: String, yLabel: String, series: [(String, [(Double, Double)])]) -> String
    {
        let points = series.flatMap(\.1)
        let x = 0...max((points.map(\.0).max() ?? 1) * 1.03, 1e-3)
        let y = 0...max((points.map(\.1).max() ?? 1) * 1.05, 1e-3)
        return frame(title: title, xLabel: xLabel, yLabel: yLabel, x: x, y: y, legend: series.map(\.0)) { sx, sy in
            var out = ""
            for (i, (_, values)) in series.enumerated() {
                for (a, b) in values {
                    out += "<circle cx=\"\(sx(a))\" cy=\"\(sy(b))\" r=\"3\" fill=\"\(colors[i % colors.count])\"/>"
                }
            }
            return out
        }
    }

    /// A histogram of `values` in `bins` equal bins.
    static func histogram(title: String, xLabel: String, values: [Double], bins: Int = 30) -> String {
        let low = values.min() ?? 0
        let high = max(values.max() ?? 1, low + 1e-6)
        let width = (high - low) / Double(bins)
        var counts = [Int](repeating: 0, count: bins)
        for v in values { counts[min(bins - 1, Int((v - low) / width))] += 1 }
        let top = Double(max(counts.max() ?? 1, 1))
        return frame(title: title, xLabel: xLabel, yLabel: "count", x: low...high, y: 0...(top * 1.05)) { sx, sy in
            var out = ""
            for (i, c) in counts.enumerated() where c > 0 {
                let x0 = sx(low + Double(i) * width)
                let x1 = sx(low + Double(i + 1) * width)
                out += "<rect x=\"\(x0)\" y=\"\(sy(Double(c)))\" width=\"\(max(1, x1 - x0 - 1))\" "
                out += "height=\"\(sy(0) - sy(Double(c)))\" fill=\"\(colors[0])\"/>"
            }
            return out
        }
    }

    /// One bar per label.
    static func bars(title: String, yLabel: String, labels: [String], values: [Double]) -> String {
        let top = max(values.max() ?? 1, 1e-6) * 1.1
        let n = Double(max(values.count, 1))
        return frame(title: title, xLabel: "", yLabel: yLabel, x: 0...n, y: 0...top) { sx, sy in
            var out = ""
            for (i, v) in values.enumerated() {
                let x0 = sx(Double(i) + 0.15)
                let x1 = sx(Double(i) + 0.85)
                out += "<rect x=\"\(x0)\" y=\"\(sy(v))\" width=\"\(x1 - x0)\" height=\"\(sy(0) - sy(v))\" "
                out += "fill=\"\(colors[i % colors.count])\"/>"
                out += "<text x=\"\((x0 + x1) / 2)\" y=\"\(sy(v) - 4)\" text-anchor=\"middle\">\(format(v))</text>"
                out += "<text x=\"\((x0 + x1) / 2)\" y=\"\(sy(0) + 30)\" text-anchor=\"middle\" font-size=\"9\">"
                out += escape(labels[i]) + "</text>"
            }
            return out
        }
    }

    /// A self-contained HTML page of `title`, a key/value table and the charts.
    static func page(title: String, summary: [(String, String)], sections: [(String, [String])]) -> String {
        var html = "<!doctype html><html><head><meta charset=\"utf-8\"><title>\(escape(title))</title><style>"
        html += "body{font-family:sans-serif;margin:24px;color:#0f172a}table{border-collapse:collapse;margin:12px 0}"
        html += "td,th{border:1px solid #cbd5e1;padding:4px 10px;text-align:left}h2{margin-top:28px}"
        html += ".charts{display:flex;flex-wrap:wrap;gap:12px}</style></head><body>"
        html += "<h1>\(escape(title))</h1><table>"
        for (k, v) in summary { html += "<tr><th>\(escape(k))</th><td>\(escape(v))</td></tr>" }
        html += "</table>"
        for (heading, charts) in sections {
            html += "<h2>\(escape(heading))</h2><div class=\"charts\">" + charts.joined() + "</div>"
        }
        return html + "</body></html>"
    }
}

extension ServeReport {
    /// One self-contained HTML page: the summary, latency over the run, and the latency distributions.
    public var html: String {
        let ok = completed
        let summary: [(String, String)] =
            [
                ("model", configuration.model), ("dataset", datasetName), ("requests", "\(results.count)"),
                ("completed / failed", "\(ok.count) / \(failed.count)"),
                (
                    "request rate",
                    configuration.requestRate.isFinite ? String(format: "%.2f/s", configuration.requestRate) : "inf"
                ),
                ("max concurrency", configuration.maxConcurrency.map(String.init) ?? "none"),
                ("duration", String(format: "%.2f s", duration)),
                ("request throughput", String(format: "%.2f req/s", requestThroughput)),
                ("output throughput", String(format: "%.1f tok/s", outputThroughput)),
            ]
            + ["ttft", "tpot", "itl", "e2el"].map { metric in
                let s = statistics(metric)
                return (
                    "\(metric.uppercased()) mean / median / p99",
                    String(
                        format: "%.1f / %.1f / %.1f ms",
                        s.mean,
                        s.median,
                        Percentile.of(samples(metric), 99)
                    )
                )
            }
        let overTime = SVGChart.scatter(
            title: "Latency over the run",
            xLabel: "request sent at (s)",
            yLabel: "ms",
            series: [
                ("end-to-end", ok.map { ($0.start, $0.latency * 1000) }),
                ("time to first token", ok.compactMap { r in r.ttft.map { (r.start, $0 * 1000) } }),
            ]
        )
        let distributions = [
            SVGChart.histogram(title: "Time to first token", xLabel: "ms", values: samples("ttft")),
            SVGChart.histogram(title: "Inter-token latency", xLabel: "ms", values: samples("itl")),
            SVGChart.histogram(title: "End-to-end latency", xLabel: "ms", values: samples("e2el")),
        ]
        return SVGChart.page(
            title: "swerve bench serve",
            summary: summary,
            sections: [("Latency over time", [overTime]), ("Latency distributions", distributions)]
        )
    }
}
