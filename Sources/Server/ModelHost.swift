import Engine
import Logging
import ServiceLifecycle
import Synchronization

/// Owns the served model's lifetime as a `Service`: loads it (the HTTP server is already answering, with
/// 503 until it is ready), runs it, and after graceful shutdown stops its engine. Routes ask it for the
/// model; while loading, after a failed load, or while draining they get a 503 instead.
///
/// In a `ServiceGroup` put it before the application, and `drainSignal` after: graceful shutdown runs in
/// reverse order, so new requests get 503 first, then the application drains in-flight ones, then the
/// engine stops.
public final class ModelHost: Service, Sendable {
    enum State {
        case loading
        case ready(ServedModel, ServerMetrics)
        case failed(String)
    }

    let state = Mutex(State.loading)
    let draining = Atomic(false)
    let load: @Sendable () async throws -> ServedModel
    let configuration: ServerConfiguration
    let logger: Logger

    public init(
        configuration: ServerConfiguration,
        logger: Logger = Logger(label: "swerve.server"),
        load: @escaping @Sendable () async throws -> ServedModel
    ) {
        self.configuration = configuration
        self.logger = logger
        self.load = load
    }

    public func run() async throws {
        let model: ServedModel
        do {
            model = try await load()
        } catch {
            state.withLock { $0 = .failed("\(error)") }
            throw error
        }
        let metrics = ServerMetrics(model: model, buckets: configuration.histogramBuckets)
        state.withLock { $0 = .ready(model, metrics) }
        logger.info("serving \(model.names.joined(separator: ", ")) (max model len \(model.engine.maxModelLen))")
        try? await gracefulShutdown()
        await model.engine.shutdown()
        model.kvEvents?.shutdown()
    }

    /// The model, or the 503 that says why there is none.
    func serving() throws(OpenAIError) -> ServedModel {
        if draining.load(ordering: .relaxed) {
            throw OpenAIError(.serviceUnavailable, "the server is shutting down")
        }
        switch state.withLock({ $0 }) {
        case .ready(let model, _): return model
        case .loading: throw OpenAIError(.serviceUnavailable, "the model is still loading; retry shortly")
        case .failed(let reason): throw OpenAIError(.serviceUnavailable, "the model failed to load: \(reason)")
        }
    }

    /// Whether no request is running or waiting (false while loading or failed).
    public var isIdle: Bool {
        state.withLock {
            if case .ready(let model, _) = $0 {
                model.engine.isIdle
            } else {
                true
            }
        }
    }

    /// The metrics, once the model is loaded (draining does not hide them).
    var metrics: ServerMetrics? {
        state.withLock {
            if case .ready(_, let metrics) = $0 { metrics } else { nil }
        }
    }

    /// Marks the host as draining (new requests get 503) when graceful shutdown begins; with
    /// `configuration.shutdownTimeout`, waits for the engine to fall idle and, a quarter of the timeout (at
    /// most 5 s) before it runs out, stops it: requests still running then end with an error (a streamed one
    /// with an error event and `[DONE]`) while the HTTP server can still write it, not cut off mid-stream
    /// when the group cancels.
    public var drainSignal: some Service { DrainSignal(host: self) }

    struct DrainSignal: Service {
        let host: ModelHost

        func run() async throws {
            try? await gracefulShutdown()
            host.draining.store(true, ordering: .relaxed)
            guard let timeout = host.configuration.shutdownTimeout else { return }
            let deadline = ContinuousClock.now + timeout - min(timeout / 4, .seconds(5))
            while !host.isIdle, ContinuousClock.now < deadline {
                try? await Task.sleep(for: .milliseconds(20))
            }
            if !host.isIdle, case .ready(let model, _) = host.state.withLock({ $0 }) {
                host.logger.notice("shutdown timeout: aborting the requests still running")
                await model.engine.shutdown()
            }
        }
    }
}
