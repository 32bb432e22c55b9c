import Foundation
import Grammar
import Logging
import ServiceLifecycle
import Synchronization
import Tokenizers

/// The engine as the server uses it: an `EngineCore` driven by one dedicated thread (never the Swift
/// cooperative pool, so a step's seconds of arithmetic never block the HTTP event loops), fed through a
/// locked inbox, answering each request with an `AsyncThrowingStream` of outputs. Ending that stream
/// early (the client went away) aborts the request and frees its blocks. A swift-service-lifecycle
/// `Service`: `run()` returns after graceful shutdown, once the thread has stopped.
public final class Engine: Service, @unchecked Sendable {
    public typealias Outputs = AsyncThrowingStream<RequestOutput, any Error>

    let core: EngineCore
    let logger: Logger
    let condition = NSCondition()
    // Guarded by `condition`.
    var inbox = Inbox()
    let published = Mutex(EngineStats())
    /// Called on the engine's thread with every output (the server's Prometheus exporter).
    let observers = Mutex<[@Sendable (RequestOutput) -> Void]>([])
    let stopped = DispatchSemaphore(value: 0)
    /// Requests refused by `--max-waiting-requests` (`swerve:num_requests_rejected_total`).
    let rejected = Atomic<Int>(0)
    /// Requests admitted whose streams have not ended yet: queued in the inbox or running. Unlike the
    /// published stats it counts a request from the moment `generate` returns, and through a long step.
    let inFlight = Atomic<Int>(0)

    struct Inbox {
        /// Each request with its stream and its deadline (`EngineCore.now()` seconds), stamped on arrival.
        var adds: [(EngineRequest, Outputs.Continuation, deadline: Double?)] = []
        var aborts: [String] = []
        /// Work to run on the engine's thread between steps (`withCore`).
        var tasks: [(EngineCore) -> Void] = []
        var stopping = false
        var isEmpty: Bool { adds.isEmpty && aborts.isEmpty && tasks.isEmpty }
    }

    /// A request's stream, how many of its completions are still running, and when it must end.
    struct Delivery {
        var continuation: Outputs.Continuation
        var running: Int
        var deadline: Double?
        var timeout: Double?
    }

    public var tokenizer: any Tokenizer { core.tokenizer }
    public var maxModelLen: Int { core.maxModelLen }
    public var configuration: EngineConfiguration { core.configuration }
    public var plan: KVCachePlan { core.plan }
    public var endOfGeneration: Set<Int32> { core.endOfGeneration }
    /// Compiles (or finds) a structured-output constraint for this model; safe from any thread.
    public func constraint(_ spec: ConstraintSpec) throws(GrammarError) -> StructuredConstraint {
        try core.constraints.constraint(spec)
    }

    /// The constraint for `spec` if it is already compiled.
    public func cachedConstraint(_ spec: ConstraintSpec) -> StructuredConstraint? { core.constraints.cached(spec) }

    /// Starts the engine's thread.
    public init(core: EngineCore, logger: Logger = Logger(label: "swerve.engine")) {
        self.core = core
        self.logger = logger
        let thread = Thread { [self] in loop() }
        thread.name = "swerve-engine"
        thread.start()
    }

    /// Requests refused so far because `maxWaitingRequests` were queued.
    public var rejectedRequests: Int { rejected.load(ordering: .relaxed) }

    /// Queues a request and returns its outputs; throws at once for a request the engine would refuse, or
    /// when `maxWaitingRequests` are queued already.
    public func generate(_ request: EngineRequest) throws(EngineError) -> Outputs {
        try core.check(request)
        let scheduledWaiting = stats.waiting
        let (stream, continuation) = Outputs.makeStream()
        let id = request.id
        continuation.onTermination = { [weak self] termination in
            if case .cancelled = termination { self?.abort(id) }
        }
        let limit = core.configuration.maxWaitingRequests
        let admitted = condition.withLock {
            if inbox.stopping {
                continuation.finish(throwing: EngineError.shutDown)
            } else if let limit, scheduledWaiting + inbox.adds.count >= limit {
                return false
            } else {
                inbox.adds.append((request, continuation, request.timeout.map { EngineCore.now() + $0 }))
                inFlight.add(1, ordering: .relaxed)
                condition.signal()
            }
            return true
        }
        guard admitted else {
            rejected.add(1, ordering: .relaxed)
            continuation.onTermination = nil
            continuation.finish()
            throw .overloaded(limit: limit ?? 0)
        }
        return stream
    }

    /// Aborts a request at any time; its stream ends.
    public func abort(_ requestID: String) {
        condition.withLock {
            inbox.aborts.append(requestID)
            condition.signal()
        }
    }

    /// Runs `body` on the engine's thread between two steps and returns its result; nil once the engine
    /// is shutting down. For rare inspection and control (a prefix-cache reset, the cached-block set).
    public func withCore<T: Sendable>(_ body: @escaping @Sendable (EngineCore) -> T) async -> T? {
        await withCheckedContinuation { (done: CheckedContinuation<T?, Never>) in
            let queued = condition.withLock {
                guard !inbox.stopping else { return false }
                inbox.tasks.append { done.resume(returning: body($0)) }
                condition.signal()
                return true
            }
            if !queued { done.resume(returning: nil) }
        }
    }

    /// Has `observer` called with every output from now on, on the engine's thread, right after the step
    /// that produced it (keep it short: the next step waits). `EngineStats` counts the same outputs, so
    /// both read the engine's timestamps.
    public func observe(_ observer: @escaping @Sendable (RequestOutput) -> Void) {
        observers.withLock { $0.append(observer) }
    }

    /// Whether no request is queued or running, counting those `generate` has accepted and the engine's
    /// thread has not picked up yet (what graceful shutdown waits for).
    public var isIdle: Bool { inFlight.load(ordering: .relaxed) == 0 }

    /// Whether `shutdown` has begun: new requests are refused and those running end with `EngineError.shutDown`.
    public var isStopping: Bool { condition.withLock { inbox.stopping } }

    /// The latest statistics (published after every step, histograms at most every 100 ms and when idle).
    public var stats: EngineStats { published.withLock { $0 } }

    public func run() async throws {
        try? await gracefulShutdown()
        await shutdown()
    }

    /// Stops the thread; requests still running end with `EngineError.shutDown`.
    public func shutdown() async {
        let first = condition.withLock {
            defer {
                inbox.stopping = true
                condition.signal()
            }
            return !inbox.stopping
        }
        guard first else { return }
        await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
            DispatchQueue.global().async { [stopped] in
                stopped.wait()
                done.resume()
            }
        }
    }

    func loop() {
        var deliveries: [String: Delivery] = [:]
        var lastPublished = 0.0
        // No deadline runs out before this (a lower bound: finished requests may have held it).
        var nextDeadline = Double.infinity
        while true {
            condition.lock()
            if inbox.isEmpty && !core.hasWork && !inbox.stopping { core.forward.backend.quiesce() }
            while inbox.isEmpty && !core.hasWork && !inbox.stopping {
                publish(force: true, &lastPublished)
                condition.wait()
            }
            let work = inbox
            inbox.adds = []
            inbox.aborts = []
            inbox.tasks = []
            condition.unlock()
            for task in work.tasks { task(core) }
            if work.stopping {
                inFlight.subtract(work.adds.count + deliveries.count, ordering: .relaxed)
                for (_, continuation, _) in work.adds { continuation.finish(throwing: EngineError.shutDown) }
                for (id, delivery) in deliveries {
                    core.abort(id)
                    delivery.continuation.finish(throwing: EngineError.shutDown)
                }
                core.shutDownTiers()
                stopped.signal()
                return
            }
            for (request, continuation, deadline) in work.adds {
                do {
                    try core.add(request)
                    deliveries[request.id] = Delivery(
                        continuation: continuation,
                        running: request.parameters.n,
                        deadline: deadline,
                        timeout: request.timeout
                    )
                    if let deadline { nextDeadline = min(nextDeadline, deadline) }
                } catch {
                    inFlight.subtract(1, ordering: .relaxed)
                    continuation.finish(throwing: error)
                }
            }
            for id in work.aborts {
                core.abort(id)
                if let delivery = deliveries.removeValue(forKey: id) {
                    inFlight.subtract(1, ordering: .relaxed)
                    delivery.continuation.finish()
                }
            }
            if EngineCore.now() >= nextDeadline { nextDeadline = expire(&deliveries) }
            guard core.hasWork else { continue }
            let outputs = core.step()
            let observers = observers.withLock { $0 }
            for output in outputs {
                for observe in observers { observe(output) }
                guard var delivery = deliveries[output.requestID] else { continue }
                delivery.continuation.yield(output)
                if output.isFinished { delivery.running -= 1 }
                if delivery.running == 0 {
                    inFlight.subtract(1, ordering: .relaxed)
                    delivery.continuation.finish()
                    deliveries[output.requestID] = nil
                } else {
                    deliveries[output.requestID] = delivery
                }
            }
            publish(force: false, &lastPublished)
        }
    }

    /// Aborts every request past its deadline (`--request-timeout`), its stream ending with
    /// `EngineError.deadlineExceeded`; returns the earliest deadline still ahead. Checked between steps on
    /// the engine's thread, so it holds however busy the rest of the process is.
    func expire(_ deliveries: inout [String: Delivery]) -> Double {
        let now = EngineCore.now()
        var next = Double.infinity
        for (id, delivery) in deliveries {
            guard let deadline = delivery.deadline else { continue }
            if deadline <= now {
                core.abort(id)
                deliveries[id] = nil
                inFlight.subtract(1, ordering: .relaxed)
                delivery.continuation.finish(throwing: EngineError.deadlineExceeded(seconds: delivery.timeout ?? 0))
            } else {
                next = min(next, deadline)
            }
        }
        return next
    }

    func publish(force: Bool, _ last: inout Double) {
        let now = EngineCore.now()
        let stats = core.stats
        if force || now - last > 0.1 {
            last = now
            published.withLock { $0 = stats }
        } else {
            published.withLock {
                let (ttft, itl, e2e, queue) = (
                    $0.timeToFirstToken, $0.interTokenLatency, $0.endToEndLatency, $0.queueTime
                )
                $0 = stats
                ($0.timeToFirstToken, $0.interTokenLatency, $0.endToEndLatency, $0.queueTime) = (ttft, itl, e2e, queue)
            }
        }
    }
}
