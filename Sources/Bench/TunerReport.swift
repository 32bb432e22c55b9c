import Foundation
import SwerveCore

/// `swerve tune`'s results: the ranked table, the recommended command, the gain over the defaults, as
/// text, JSON and a self-contained HTML page.
public struct TunerReport: Sendable {
    public let tuner: Tuner
    public let ranked: [Tuner.Outcome]
    public let confirmation: Tuner.Confirmation?

    public init(tuner: Tuner, outcomes: [Tuner.Outcome], confirmation: Tuner.Confirmation? = nil) {
        self.tuner = tuner
        ranked = Tuner.ranked(outcomes, by: tuner.slos.first)
        self.confirmation = confirmation
    }

    /// The first SLO's key, the figure the confirmation compares.
    var key: String { tuner.slos.first?.key ?? "p99_e2el_ms" }

    /// The confirmation, one line per rate: rounds each side met the SLO in, the median of `key` on each
    /// side; then the confirmed rate.
    var confirmationLines: [String] {
        guard let confirmation, !confirmation.levels.isEmpty else { return [] }
        var lines = ["confirmed side by side (both served at once, alternating rounds, fresh user turns):"]
        for level in confirmation.levels {
            let n = level.rounds.count
            let best = Percentile.median(level.rounds.map { $0.best.figures[key] ?? .nan })
            let defaults = Percentile.median(level.rounds.map { $0.defaults.figures[key] ?? .nan })
            lines.append(
                "  at \(formatNumber(level.rate)) req/s: the search's best met the SLO in \(level.bestPasses)/\(n) "
                    + "rounds, the defaults in \(level.defaultsPasses)/\(n); median \(key) \(formatNumber(best)) vs "
                    + "\(formatNumber(defaults)) (\(String(format: "%.2f", best / defaults))x)"
            )
        }
        if let rate = confirmation.confirmedRate, let level = confirmation.levels.first(where: \.confirmed) {
            let defaultsHold = 2 * level.defaultsPasses > level.rounds.count
            lines.append(
                "  confirmed: the search's best holds the SLO at \(formatNumber(rate)) req/s; the defaults "
                    + (defaultsHold ? "do too (no confirmed gain)" : "do not")
            )
        } else {
            lines.append(
                "  not confirmed: at none of the rates it passed in the search did it meet the SLO in most rounds"
            )
        }
        return lines
    }

    var defaults: Tuner.Outcome? { ranked.first { $0.candidate.settings.isEmpty } }
    var best: Tuner.Outcome? { ranked.first { $0.error == nil && $0.bestRate > 0 } }

    /// Whether the side-by-side confirmation upheld the search's best over the defaults: it held the SLO in
    /// most rounds at some rate where the defaults did not (true when nothing was confirmed).
    var upheld: Bool {
        guard let confirmation else { return true }
        guard let level = confirmation.levels.first(where: \.confirmed) else { return false }
        return 2 * level.defaultsPasses <= level.rounds.count
    }

    /// The command that serves the best configuration, or the defaults when the confirmation did not
    /// uphold the best: a margin that does not survive re-measurement is noise, not a reason to change flags.
    public var recommendation: String {
        guard let best = upheld ? best : defaults else {
            return "no configuration met the SLO at any rate tried; lower the rates or relax the SLO"
        }
        return (["swerve", "serve", "--model", tuner.model] + tuner.baseFlags + best.candidate.flags).joined(
            separator: " "
        )
    }

    /// The best configuration's highest rate over the defaults'.
    public var gain: Double? {
        guard let best, let defaults, defaults.bestRate > 0 else { return nil }
        return best.bestRate / defaults.bestRate
    }

    public var table: String {
        let keys = tuner.slos.map(\.key)
        var lines = [
            "SLO: " + tuner.slos.map(\.description).joined(separator: ", ") + "; rates tried: "
                + tuner.rates.map(formatNumber).joined(separator: ", ") + " req/s, \(tuner.numPrompts) requests each"
        ]
        let header = ["rank", "configuration", "max rate meeting SLO", "req/s at it"] + keys
        var rows = [header]
        for (i, o) in ranked.enumerated() {
            let figures = o.atBest
            rows.append(
                [
                    "\(i + 1)", o.candidate.description,
                    o.error == nil ? formatNumber(o.bestRate) : "error: \(o.error!)",
                    formatNumber(figures["request_throughput"] ?? .nan),
                ] + keys.map { formatNumber(figures[$0] ?? .nan) }
            )
        }
        let widths = header.indices.map { c in rows.map { $0[c].count }.max()! }
        for row in rows {
            lines.append(
                zip(row, widths).map { $0.padding(toLength: $1, withPad: " ", startingAt: 0) }.joined(separator: "  ")
            )
        }
        if let gain {
            lines.append(
                "the search's best over the defaults: \(String(format: "%.2f", gain))x the request rate within the SLO"
            )
        }
        lines += confirmationLines
        lines.append("recommended: " + recommendation + (upheld ? "" : "  (the defaults: the margin was noise)"))
        return lines.joined(separator: "\n")
    }

    public var json: JSONValue {
        func number(_ x: Double) -> JSONValue { .number(x.isFinite ? String(x) : "0") }
        return .object([
            ("model", .string(tuner.model)), ("slo", .array(tuner.slos.map { .string($0.description) })),
            ("request_rates", .array(tuner.rates.map(number))), ("num_prompts", .number(String(tuner.numPrompts))),
            ("recommended", .string(recommendation)),
            ("search_best", best.map { .string($0.candidate.description) } ?? .null),
            ("gain_over_defaults", gain.map(number) ?? .null), ("upheld_by_confirmation", .bool(upheld)),
            ("confirmation", confirmationJSON),
            (
                "configurations",
                .array(
                    ranked.map { o in
                        .object([
                            ("configuration", .string(o.candidate.description)),
                            ("flags", .array(o.candidate.flags.map { .string($0) })),
                            ("max_rate_meeting_slo", number(o.bestRate)),
                            ("error", o.error.map { .string($0) } ?? .null),
                            (
                                "runs",
                                .array(
                                    o.runs.map { run in
                                        .object(
                                            [("request_rate", number(run.rate)), ("meets_slo", .bool(run.passed))]
                                                + run.figures.sorted { $0.key < $1.key }.map {
                                                    ($0.key, number($0.value))
                                                }
                                        )
                                    }
                                )
                            ),
                        ])
                    }
                )
            ),
        ])
    }

    var confirmationJSON: JSONValue {
        guard let confirmation else { return .null }
        func run(_ run: Tuner.Run) -> JSONValue {
            .object(
                [("meets_slo", .bool(run.passed))]
                    + run.figures.sorted { $0.key < $1.key }.map { ($0.key, Self.number($0.value)) }
            )
        }
        return .object([
            ("configuration", .string(confirmation.best.description)),
            ("confirmed_rate", confirmation.confirmedRate.map(Self.number) ?? .null),
            ("summary", .array(confirmationLines.map { .string($0) })),
            (
                "levels",
                .array(
                    confirmation.levels.map { level in
                        .object([
                            ("request_rate", Self.number(level.rate)),
                            (
                                "rounds",
                                .array(
                                    level.rounds.map {
                                        .object([("defaults", run($0.defaults)), ("best", run($0.best))])
                                    }
                                )
                            ),
                        ])
                    }
                )
            ),
        ])
    }

    static func number(_ x: Double) -> JSONValue { .number(x.isFinite ? String(x) : "0") }

    public var html: String {
        let bars = SVGChart.bars(
            title: "Highest request rate meeting the SLO",
            yLabel: "req/s",
            labels: ranked.map(\.candidate.description),
            values: ranked.map(\.bestRate)
        )
        let curves = SVGChart.scatter(
            title: "\(key) against request rate",
            xLabel: "request rate (req/s)",
            yLabel: "ms",
            series: ranked.prefix(5).map { o in
                (o.candidate.description, o.runs.map { ($0.rate, $0.figures[key] ?? 0) })
            }
        )
        var sections = [("Configurations", [bars, curves])]
        for level in confirmation?.levels ?? [] {
            sections.append(
                (
                    "Confirmation at \(formatNumber(level.rate)) req/s",
                    [
                        SVGChart.bars(
                            title: "\(key) per round: defaults, then the search's best",
                            yLabel: "ms",
                            labels: level.rounds.indices.flatMap { ["\($0 + 1) defaults", "\($0 + 1) best"] },
                            values: level.rounds.flatMap {
                                [$0.defaults.figures[key] ?? 0, $0.best.figures[key] ?? 0]
                            }
                        )
                    ]
                )
            )
        }
        return SVGChart.page(
            title: "swerve tune",
            summary: [
                ("model", tuner.model), ("SLO", tuner.slos.map(\.description).joined(separator: ", ")),
                ("recommended", recommendation),
                ("the search's best over the defaults", gain.map { String(format: "%.2fx", $0) } ?? "-"),
                ("confirmation", confirmationLines.dropFirst().joined(separator: "; ")),
            ],
            sections: sections
        )
    }
}
