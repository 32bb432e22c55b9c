import AsyncHTTPClient
import Foundation
import SwerveCore
import Synchronization
import Tokenizers

/// `swerve tune`: the seed's tuning loop. For each candidate configuration it starts `swerve serve` with
/// those flags, benchmarks it at rising request rates with `ServeBenchmark`, and finds the highest rate whose
/// results meet every SLO (`p99_e2el_ms<=100`); configurations are ranked by that rate, and the best is
/// printed as a `swerve serve` command with its gain over the defaults. Every server it starts is stopped,
/// on error and on Ctrl-C too.
public struct Tuner: Sendable {
    /// One service-level objective: a result key of `ServeReport.json`, a comparison and a bound.
    public struct SLO: Sendable, CustomStringConvertible {
        public var key: String
        public var strict: Bool
        public var bound: Double

        /// Parses `p99_e2el_ms<=100`, `mean_ttft_ms<50`.
        public init?(_ text: String) {
            for (op, strict) in [("<=", false), ("<", true)] {
                if let range = text.range(of: op) {
                    key = text[..<range.lowerBound].trimmingCharacters(in: .whitespaces)
                    guard let bound = Double(text[range.upperBound...].trimmingCharacters(in: .whitespaces)),
                        !key.isEmpty
                    else { return nil }
                    self.strict = strict
                    self.bound = bound
                    return
                }
            }
            return nil
        }

        public func holds(_ value: Double) -> Bool { strict ? value < bound : value <= bound }
        public var description: String { "\(key)\(strict ? "<" : "<=")\(formatNumber(bound))" }

        /// The percentile this objective needs reported (99 for `p99_…`).
        var percentile: Double? {
            guard key.hasPrefix("p"), let end = key.firstIndex(of: "_") else { return nil }
            return Double(key[key.index(after: key.startIndex)..<end])
        }
    }

    /// One `swerve serve` configuration: flags after the model, in order (`--max-num-seqs 16`).
    public struct Candidate: Sendable, CustomStringConvertible {
        public var settings: [(name: String, value: String)]

        public init(settings: [(name: String, value: String)]) { self.settings = settings }

        public var flags: [String] {
            settings.flatMap { name, value -> [String] in
                switch value {
                case "true": ["--\(name)"]
                case "false": name.hasPrefix("enable-") ? ["--no-\(name)"] : []
                case "none": []
                default: ["--\(name)", value]
                }
            }
        }

        public var description: String {
            settings.isEmpty ? "defaults" : settings.map { "\($0.name)=\($0.value)" }.joined(separator: " ")
        }
    }

    /// One benchmark at one rate: whether it met every SLO, and its result keys.
    public typealias Run = (rate: Double, passed: Bool, figures: [String: Double])

    /// A candidate's outcome: each rate tried and its key figures, the highest rate meeting the SLOs.
    public struct Outcome: Sendable {
        public var candidate: Candidate
        public var runs: [Run] = []
        public var bestRate: Double = 0
        public var error: String?
        public var atBest: [String: Double] { runs.last { $0.rate == bestRate }?.figures ?? [:] }

        public init(candidate: Candidate) { self.candidate = candidate }
    }

    /// The recommendation checked side by side: the best configuration and the defaults served at once and
    /// benchmarked alternately, on fresh user turns every round, first at the best's rate, then at each lower
    /// rate tried until the best meets the SLO in most rounds. One tuning pass picks the best of many noisy
    /// measurements; this says whether its margin survives a re-measurement.
    public struct Confirmation: Sendable {
        /// Rounds at one rate.
        public struct Level: Sendable {
            public var rate: Double
            public var rounds: [(defaults: Run, best: Run)] = []

            public init(rate: Double) { self.rate = rate }

            public var bestPasses: Int { rounds.filter(\.best.passed).count }
            public var defaultsPasses: Int { rounds.filter(\.defaults.passed).count }
            /// The best met the SLO in most rounds.
            public var confirmed: Bool { !rounds.isEmpty && 2 * bestPasses > rounds.count }
        }

        public var best: Candidate
        public var levels: [Level] = []

        public init(best: Candidate) { self.best = best }

        /// The highest rate at which the best met the SLO in most rounds.
        public var confirmedRate: Double? { levels.first(where: \.confirmed)?.rate }
    }

    public var executable: String
    public var model: String
    public var servedName: String
    public var port: Int
    public var baseFlags: [String]
    public var slos: [SLO]
    public var rates: [Double]
    public var numPrompts: Int
    public var seed: UInt64
    public var pikaSchema: Bool
    public var candidates: [Candidate]
    /// Rounds of `confirm`; 0 skips it.
    public var confirmRounds: Int

    public init(
        executable: String,
        model: String,
        servedName: String,
        port: Int,
        baseFlags: [String],
        slos: [SLO],
        rates: [Double],
        numPrompts: Int,
        seed: UInt64,
        pikaSchema: Bool,
        candidates: [Candidate],
        confirmRounds: Int = 0
    ) {
        self.executable = executable
        self.model = model
        self.servedName = servedName
        self.port = port
        self.baseFlags = baseFlags
        self.slos = slos
        self.rates = rates
        self.numPrompts = numPrompts
        self.seed = seed
        self.pikaSchema = pikaSchema
        self.candidates = candidates
        self.confirmRounds = confirmRounds
    }

    /// The candidates of a search: every combination of `dimensions` (`max-num-seqs=8,16`), the defaults first.
    /// One `--search` entry, `name=v1,v2`: the values split at commas outside JSON objects, arrays and strings
    /// (a `speculative-config` value is a JSON object), `none` for the flag left out; nil if malformed.
    public static func dimension(_ entry: String) -> (name: String, values: [String])? {
        guard let equals = entry.firstIndex(of: "="), equals != entry.startIndex else { return nil }
        var values: [String] = []
        var current = ""
        var depth = 0
        var quoted = false
        var escaped = false
        for character in entry[entry.index(after: equals)...] {
            if quoted {
                if escaped {
                    escaped = false
                } else if character == "\\" {
                    escaped = true
                } else if character == "\"" {
                    quoted = false
                }
            } else if character == "\"" {
                quoted = true
            } else if character == "{" || character == "[" {
                depth += 1
            } else if character == "}" || character == "]" {
                depth -= 1
            } else if character == "," && depth == 0 {
                values.append(current)
                current = ""
                continue
            }
            current.append(character)
        }
        values.append(current)
        guard depth == 0, !quoted, values.allSatisfy({ !$0.isEmpty }) else { return nil }
        return (String(entry[..<equals]), values)
    }

    public static func candidates(_ dimensions: [(String, [String])]) -> [Candidate] {
        var all: [[(String, String)]] = [[]]
        for (name, values) in dimensions {
            all = all.flatMap { partial in values.map { partial + [(name, $0)] } }
        }
        return [Candidate(settings: [])] + all.filter { !$0.isEmpty }.map { Candidate(settings: $0) }
    }

    /// Runs every candidate; `log` receives progress lines.
    public func run(tokenizer: any Tokenizer, log: @Sendable (String) -> Void) async -> [Outcome] {
        var outcomes: [Outcome] = []
        for (i, candidate) in candidates.enumerated() {
            log("[\(i + 1)/\(candidates.count)] \(candidate)")
            var outcome = Outcome(candidate: candidate)
            let server: ServerProcess
            switch await serve(candidate, port: port, tokenizer: tokenizer) {
            case .success(let started): server = started
            case .failure(let problem):
                outcome.error = problem.message
                log("  could not start: \(problem.message)")
                outcomes.append(outcome)
                continue
            }
            defer { server.stop() }
            for (step, rate) in rates.sorted().enumerated() {
                let run = await measure(port: port, rate: rate, step: step, tokenizer: tokenizer)
                outcome.runs.append(run)
                log("  rate " + describe(run))
                guard run.passed else { break }
                outcome.bestRate = rate
            }
            outcomes.append(outcome)
        }
        return outcomes
    }

    /// Serves the best-ranked configuration and the defaults at once (on `port` and `port + 1`) and
    /// benchmarks them alternately, `confirmRounds` times per rate, from the best's highest rate down until
    /// the best meets the SLO in most rounds; nil when the defaults rank first (nothing to confirm) or no
    /// configuration met the SLO.
    public func confirm(
        _ ranked: [Outcome],
        tokenizer: any Tokenizer,
        log: @Sendable (String) -> Void
    ) async
        -> Confirmation?
    {
        guard confirmRounds > 0, let best = ranked.first(where: { $0.error == nil && $0.bestRate > 0 }),
            !best.candidate.settings.isEmpty
        else { return nil }
        log("confirming \(best.candidate) against the defaults, side by side")
        var servers: [ServerProcess] = []
        defer { for server in servers { server.stop() } }
        for (candidate, port) in [(Candidate(settings: []), port), (best.candidate, port + 1)] {
            switch await serve(candidate, port: port, tokenizer: tokenizer) {
            case .success(let server): servers.append(server)
            case .failure(let problem):
                log("  could not start: \(problem.message)")
                return nil
            }
        }
        var confirmation = Confirmation(best: best.candidate)
        for (level, rate) in rates.sorted().filter({ $0 <= best.bestRate }).reversed().enumerated() {
            var rounds = Confirmation.Level(rate: rate)
            for round in 0..<confirmRounds {
                // Fresh turns every round, the same for both; who goes first alternates.
                let step = 1000 + 100 * level + round
                var pair: [Run] = []
                for port in round % 2 == 0 ? [port, port + 1] : [port + 1, port] {
                    pair.append(await measure(port: port, rate: rate, step: step, tokenizer: tokenizer))
                }
                let (defaults, bestRun) = round % 2 == 0 ? (pair[0], pair[1]) : (pair[1], pair[0])
                log("  round \(round + 1), defaults at " + describe(defaults))
                log("  round \(round + 1), \(best.candidate) at " + describe(bestRun))
                rounds.rounds.append((defaults, bestRun))
            }
            confirmation.levels.append(rounds)
            if rounds.confirmed { break }
        }
        return confirmation
    }

    struct Problem: Error { var message: String }

    /// Starts `swerve serve` with `candidate`'s flags on `port`, waits for health, and warms it: the system
    /// prompt enters the prefix cache and the grammar's masks are compiled, from user turns of their own, so
    /// no measured request finds its whole prompt cached by the warm-up.
    func serve(_ candidate: Candidate, port: Int, tokenizer: any Tokenizer) async -> Result<ServerProcess, Problem> {
        let server: ServerProcess
        do {
            server = try ServerProcess.start(
                executable,
                ["serve", "--model", model, "--served-model-name", servedName, "--port", "\(port)"] + baseFlags
                    + candidate.flags
            )
        } catch {
            return .failure(Problem(message: "\(error)"))
        }
        if let problem = await server.waitUntilHealthy(port: port, timeout: 600) {
            server.stop()
            return .failure(Problem(message: problem))
        }
        _ = await ServeBenchmark(
            ServeBenchmark.Configuration(baseURL: "http://127.0.0.1:\(port)", model: servedName, maxConcurrency: 1),
            dataset: ServeDataset.pika(count: 8, seed: ~seed, tokenizer: tokenizer, schema: pikaSchema),
            tokenizer: tokenizer
        ).run()
        return .success(server)
    }

    /// One benchmark of `numPrompts` Pika requests at `rate` against the server on `port`.
    func measure(port: Int, rate: Double, step: Int, tokenizer: any Tokenizer) async -> Run {
        let configuration = ServeBenchmark.Configuration(
            baseURL: "http://127.0.0.1:\(port)",
            model: servedName,
            requestRate: rate,
            seed: seed
        )
        // Each rate draws its own user turns: repeating the last rate's would measure prefix-cache hits on
        // whole prompts, not the workload.
        let dataset = ServeDataset.pika(
            count: numPrompts,
            seed: Self.datasetSeed(seed, step: step),
            tokenizer: tokenizer,
            schema: pikaSchema
        )
        let (results, duration) = await ServeBenchmark(configuration, dataset: dataset, tokenizer: tokenizer).run()
        let report = ServeReport(
            results: results,
            duration: duration,
            configuration: configuration,
            options: ServeReport.Options(
                percentileMetrics: ["ttft", "tpot", "itl", "e2el"],
                percentiles: Array(Set([50, 90, 99] + slos.compactMap(\.percentile))).sorted()
            ),
            datasetName: "pika"
        )
        var figures: [String: Double] = [:]
        for (key, value) in report.json.object ?? [] { if let x = value.double { figures[key] = x } }
        let passed = report.failed.isEmpty && slos.allSatisfy { slo in figures[slo.key].map(slo.holds) ?? false }
        return (rate, passed, figures)
    }

    /// `4/s: meets the SLO — p99_e2el_ms 812.20, 3.95 req/s`
    func describe(_ run: Run) -> String {
        "\(formatNumber(run.rate))/s: \(run.passed ? "meets" : "misses") the SLO — "
            + slos.map { "\($0.key) \(formatNumber(run.figures[$0.key] ?? .nan))" }.joined(separator: ", ")
            + ", \(formatNumber(run.figures["request_throughput"] ?? 0)) req/s"
    }

    /// The dataset seed of the `step`th rate: the same for every candidate, different for every rate; the
    /// first rate's is `seed` itself (`swerve bench serve --dataset-name pika --seed` replays it). Hashed, since
    /// seeds a multiple of SplitMix's increment apart give the same sequence shifted.
    static func datasetSeed(_ seed: UInt64, step: Int) -> UInt64 {
        guard step > 0 else { return seed }
        var random = SplitMix64(seed: seed &+ UInt64(step))
        return random.next()
    }

    /// Best first: highest rate meeting the SLOs, then the lowest first SLO figure at that rate.
    public static func ranked(_ outcomes: [Outcome], by slo: SLO?) -> [Outcome] {
        outcomes.sorted { a, b in
            if a.bestRate != b.bestRate { return a.bestRate > b.bestRate }
            let key = slo?.key ?? "mean_e2el_ms"
            return (a.atBest[key] ?? .infinity) < (b.atBest[key] ?? .infinity)
        }
    }
}

func formatNumber(_ x: Double) -> String {
    guard x.isFinite else { return "-" }
    return x.rounded() == x && abs(x) < 1e9 ? String(Int(x)) : String(format: "%.2f", x)
}

/// A `swerve serve` child process; every one started is recorded so a signal handler can stop them all.
public final class ServerProcess: Sendable {
    let process: Process
    let output: Pipe

    /// The servers started and not yet stopped, and whether `stopAll` has begun (then no new one starts: a
    /// tuner still running its loop while a signal handler stops everything would otherwise start the next
    /// candidate's server after the handler looked, and leave it running).
    static let running = Mutex<(stopping: Bool, processes: [Int32: Process])>((false, [:]))

    init(process: Process, output: Pipe) {
        self.process = process
        self.output = output
    }

    static func start(_ executable: String, _ arguments: [String]) throws -> ServerProcess {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        let output = Pipe()
        process.standardOutput = output
        process.standardError = output
        try running.withLock { state in
            guard !state.stopping else { throw Tuner.Problem(message: "swerve tune is stopping") }
            try process.run()
            state.processes[process.processIdentifier] = process
        }
        return ServerProcess(process: process, output: output)
    }

    /// nil once `/health` answers 200, else why not (the process exited, or the time ran out).
    func waitUntilHealthy(port: Int, timeout: Double) async -> String? {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if !process.isRunning {
                let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
                let reason =
                    text.split(separator: "\n").last { $0.contains("error") } ?? text.split(separator: "\n").last ?? ""
                return "swerve serve exited (\(process.terminationStatus)): \(reason)"
            }
            let request = HTTPClientRequest(url: "http://127.0.0.1:\(port)/health")
            if let response = try? await HTTPClient.shared.execute(request, timeout: .seconds(2)),
                response.status == .ok
            {
                return nil
            }
            try? await Task.sleep(for: .milliseconds(250))
        }
        return "no healthy answer from port \(port) within \(Int(timeout)) s"
    }

    /// SIGTERM (the server drains), then SIGKILL after 10 s.
    public func stop() {
        Self.stop(process)
        _ = Self.running.withLock { $0.processes.removeValue(forKey: process.processIdentifier) }
    }

    static func stop(_ process: Process) {
        guard process.isRunning else { return }
        process.terminate()
        let deadline = Date().addingTimeInterval(10)
        while process.isRunning && Date() < deadline { usleep(50_000) }
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
    }

    /// Whether `stopAll` has begun (an interrupt is ending the run).
    public static var isStopping: Bool { running.withLock { $0.stopping } }

    /// Stops every server still running (from a signal handler's queue); none starts after this begins.
    public static func stopAll() {
        let processes = running.withLock { state in
            state.stopping = true
            return Array(state.processes.values)
        }
        for process in processes { stop(process) }
    }
}
