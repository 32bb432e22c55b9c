import ArgumentParser
import Engine
import Foundation
import KVEvents
import Logging
import ModelStore
import Models
import Server
import ServiceLifecycle

/// `swerve serve`: the OpenAI-compatible server, with vLLM's flags.
struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Serve a model over OpenAI's API (chat and text completions, models, metrics), as vLLM does."
    )

    @OptionGroup(title: "Frontend") var frontend: FrontendOptions
    @OptionGroup(title: "ModelConfig") var model: ServeModelOptions
    @OptionGroup var engine: EngineOptions
    @OptionGroup(title: "ParallelConfig") var parallel: ParallelOptions
    @OptionGroup(title: "KVEventsConfig") var events: KVEventsOptions

    func run() async throws {
        let logger = Logger(label: "swerve")
        let notices: [String]
        do {
            notices = try model.flags(parallel).check()
        } catch {
            fail(error)
        }
        for notice in notices { logger.notice("\(notice)") }
        if !["auto", "vllm"].contains(model.generationConfig) {
            do { _ = try model.generationConfig.defaults(modelPath: "") } catch { fail(error) }  // before loading
        }
        let spec = model.model ?? BuiltinModel.defaultModel.name
        let builtin = BuiltinModel.named(spec)
        let names =
            !model.servedModelName.isEmpty
            ? model.servedModelName : [model.model ?? BuiltinModel.defaultModel.aliases[0]]
        let aliases = builtin.map { [$0.name] + $0.aliases } ?? []
        let key: String?
        do {
            key = try frontend.resolvedAPIKey()
        } catch {
            fail(error)
        }
        var configuration = ServerConfiguration(
            host: frontend.host,
            port: frontend.port,
            apiKey: key,
            logRequests: frontend.enableLogRequests && !frontend.disableLogRequests,
            histogramBuckets: frontend.customHistogramBuckets ?? ServerConfiguration.defaultHistogramBuckets,
            limits: frontend.limits
        )
        configuration.shutdownTimeout = .seconds(frontend.shutdownTimeout)
        configuration.requestTimeout = frontend.requestTimeout > 0 ? .seconds(frontend.requestTimeout) : nil
        FileDescriptorLimit.raise(logger: logger)
        let publisher: ZMQEventPublisher?
        do {
            publisher = try events.makePublisher()
        } catch {
            fail(error)
        }
        if let config = publisher?.config {
            logger.info(
                "KV events on \(config.endpoint) (topic '\(config.topic)', \(config.encoding.rawValue) encoding\(config.replayEndpoint.map { ", replay on \($0)" } ?? ""))"
            )
        }
        let engine = engine
        let generationConfig = model.generationConfig
        let weightFormat = model.weights.format
        let host = ModelHost(configuration: configuration, logger: logger) {
            let path = try await resolveModel(spec)
            let file = try ModelFile(path: path, weights: weightFormat)
            let defaults = try generationConfig.defaults(modelPath: path)
            if !defaults.isEmpty {
                let summary = defaults.summary
                logger.notice(
                    "sampling defaults from the model's generation_config.json (\(summary)) apply where a request leaves them out; --generation-config vllm turns them off"
                )
            }
            let (core, _) = try engine.makeEngine(file, logger: logger)
            core.kvEvents = publisher
            return ServedModel(
                engine: Engine(core: core, logger: logger),
                prompts: file.prompts,
                names: names,
                aliases: aliases,
                root: path,
                kvEvents: publisher,
                generationDefaults: defaults
            )
        }
        let app = buildApplication(configuration: configuration, host: host, logger: logger) { channel in
            logger.info("listening on \(channel.localAddress.map { "\($0)" } ?? "?")")
        }
        var group = ServiceGroupConfiguration(
            services: [.init(service: host), .init(service: app), .init(service: host.drainSignal)],
            gracefulShutdownSignals: [.sigterm, .sigint],
            logger: logger
        )
        group.maximumGracefulShutdownDuration = configuration.shutdownTimeout
        do {
            try await ServiceGroup(configuration: group).run()
        } catch {
            fail(error)
        }
    }
}

/// vLLM's frontend flags: address, names, key, connection limits, logging, metrics buckets, shutdown.
struct FrontendOptions: ParsableArguments {
    @Option(help: "Address to listen on.")
    var host = "0.0.0.0"

    @Option(help: "Port to listen on.")
    var port = 8000

    @Option(
        help: ArgumentHelp(
            "Require 'Authorization: Bearer KEY' on every route but /health, /ping, /version and /metrics "
                + "(default: $VLLM_API_KEY). Visible in `ps`: prefer --api-key-file or the variable."
        )
    )
    var apiKey: String?

    @Option(help: "Read the API key from this file (its first line).")
    var apiKeyFile: String?

    @Option(help: "Seconds a client may take from a request's first byte to the end of its headers (408 after).")
    var headerTimeout = 10.0

    @Option(help: "Seconds a client may take to send a request's body after its headers (408 after).")
    var bodyTimeout = 60.0

    @Option(help: "Seconds an idle keep-alive connection stays open between requests.")
    var timeoutKeepAlive = 5.0

    @Option(help: "Largest request head (request line and headers) in bytes; more is a 431.")
    var h11MaxIncompleteEventSize = 64 << 10

    @Option(help: "Most header fields in one request; more is a 431.")
    var h11MaxHeaderCount = 256

    @Option(
        help: "Seconds a generation request may run, from arrival to its last token; past it, a 504 (0: no limit)."
    )
    var requestTimeout = 600.0

    @Option(help: "Most open connections; past it, routes other than /health, /ping, /version, /metrics get a 503.")
    var maxConnections = 1000

    @Flag(help: "Log one line per finished request (id, prompt/cached/output tokens, TTFT, total).")
    var enableLogRequests = false

    @Flag(help: "Keep request logging off (the default; accepted for older vLLM launch commands).")
    var disableLogRequests = false

    @Option(
        help: "Latency histogram bucket edges in seconds, comma-separated (default: 1 ms to 80 s, dense below 100 ms).",
        transform: { text in
            let edges = text.split(separator: ",").map { Double($0.trimmingCharacters(in: .whitespaces)) }
            guard !edges.isEmpty, edges.allSatisfy({ $0 != nil && $0! > 0 }) else {
                throw ValidationError("--custom-histogram-buckets takes positive numbers separated by commas")
            }
            return edges.map { $0! }.sorted()
        }
    )
    var customHistogramBuckets: [Double]?

    @Option(help: "Seconds in-flight requests get to finish after SIGTERM/SIGINT before they are aborted.")
    var shutdownTimeout = 30

    var limits: ConnectionLimits {
        ConnectionLimits(
            headerTimeout: .nanoseconds(Int64(headerTimeout * 1e9)),
            bodyTimeout: .nanoseconds(Int64(bodyTimeout * 1e9)),
            keepAliveTimeout: .nanoseconds(Int64(timeoutKeepAlive * 1e9)),
            maxHeaderBytes: h11MaxIncompleteEventSize,
            maxHeaderCount: h11MaxHeaderCount,
            maxConnections: maxConnections
        )
    }

    /// `--api-key`, else the first line of `--api-key-file`, else `$VLLM_API_KEY`; nil when none is set.
    func resolvedAPIKey() throws -> String? {
        do {
            return try ServerConfiguration.apiKey(
                flag: apiKey,
                file: apiKeyFile,
                environment: ProcessInfo.processInfo.environment
            )
        } catch {
            throw ValidationError("\(error)")
        }
    }

    func validate() throws {
        guard (0...65535).contains(port) else { throw ValidationError("--port must be in 0...65535") }
        guard shutdownTimeout >= 0 else { throw ValidationError("--shutdown-timeout must be at least 0") }
        for (flag, seconds) in [
            ("--header-timeout", headerTimeout), ("--body-timeout", bodyTimeout),
            ("--timeout-keep-alive", timeoutKeepAlive),
        ] {
            guard seconds > 0, seconds <= 86_400 else { throw ValidationError("\(flag) must be in (0, 86400] seconds") }
        }
        guard requestTimeout >= 0, requestTimeout <= 86_400 else {
            throw ValidationError("--request-timeout must be in [0, 86400] seconds (0: no limit)")
        }
        guard h11MaxIncompleteEventSize >= 1024 else {
            throw ValidationError("--h11-max-incomplete-event-size must be at least 1024")
        }
        guard h11MaxHeaderCount >= 8 else { throw ValidationError("--h11-max-header-count must be at least 8") }
        guard maxConnections >= 1 else { throw ValidationError("--max-connections must be at least 1") }
        guard apiKey == nil || apiKeyFile == nil else {
            throw ValidationError("--api-key and --api-key-file are exclusive")
        }
    }
}

/// vLLM's ModelConfig flags.
struct ServeModelOptions: ParsableArguments {
    @Option(
        help:
            "A built-in model name, a GGUF path, a Hugging Face checkpoint directory, hf://owner/repo/file.gguf, or a checkpoint repository (hf://owner/repo or owner/repo) (default: SmolLM2-135M-Instruct)."
    )
    var model: String?

    @Option(
        parsing: .upToNextOption,
        help:
            "Names the API answers to (default: the --model argument; HuggingFaceTB/SmolLM2-135M-Instruct without it)."
    )
    var servedModelName: [String] = []

    @OptionGroup var weights: WeightOptions

    @Option(
        help:
            "Sampling defaults: auto (a checkpoint's generation_config.json), vllm (none), or a folder holding a generation_config.json."
    )
    var generationConfig = "auto"

    @Flag(help: "Run without CUDA graphs (the CPU backend always does).")
    var enforceEager = false

    @Flag(help: "Accepted for vLLM compatibility; GGUF models carry no code.")
    var trustRemoteCode = false

    func flags(_ parallel: ParallelOptions) -> VLLMFlags {
        VLLMFlags(
            dtype: weights.dtype,
            quantization: weights.quantization,
            tensorParallelSize: parallel.tensorParallelSize,
            enforceEager: enforceEager,
            trustRemoteCode: trustRemoteCode
        )
    }
}

/// vLLM's ParallelConfig flags.
struct ParallelOptions: ParsableArguments {
    @Option(help: "GPUs to split each layer across (1 on this CPU build).")
    var tensorParallelSize = 1
}

extension String {
    /// `--generation-config`'s defaults for the model at `modelPath`: auto reads a checkpoint directory's
    /// generation_config.json (a GGUF file carries none), vllm applies none, a folder must hold the file.
    func defaults(modelPath: String) throws -> GenerationDefaults {
        switch self {
        case "vllm": return GenerationDefaults()
        case "auto":
            return Checkpoint.isCheckpoint(modelPath) ? try GenerationDefaults(folder: modelPath) : GenerationDefaults()
        default:
            guard
                FileManager.default.fileExists(
                    atPath: (self as NSString).appendingPathComponent("generation_config.json")
                )
            else {
                throw CheckpointError(
                    "--generation-config",
                    "'\(self)' holds no generation_config.json (or say auto or vllm)"
                )
            }
            return try GenerationDefaults(folder: self)
        }
    }
}
