import Hummingbird
import Logging
import ServiceLifecycle

/// A server started in this process on a free port (tests, `swerve bench http`): the host, the application
/// and the drain signal in one `ServiceGroup`, as `swerve serve` assembles them, running in a task.
public final class RunningServer: Sendable {
    public let port: Int
    public let host: ModelHost
    let group: ServiceGroup
    let task: Task<Void, any Error>

    /// Starts serving `load`'s model on 127.0.0.1 at a free port; returns once the port is bound.
    public static func start(
        _ configuration: ServerConfiguration = ServerConfiguration(),
        logger: Logger = Logger(label: "swerve.server") { _ in SwiftLogNoOpLogHandler() },
        load: @escaping @Sendable () async throws -> ServedModel
    ) async -> RunningServer {
        var configuration = configuration
        configuration.host = "127.0.0.1"
        configuration.port = 0
        let host = ModelHost(configuration: configuration, logger: logger, load: load)
        let (ports, bound) = AsyncStream<Int>.makeStream()
        let app = buildApplication(configuration: configuration, host: host, logger: logger) { channel in
            bound.yield(channel.localAddress?.port ?? 0)
        }
        var groupConfiguration = ServiceGroupConfiguration(
            services: [.init(service: host), .init(service: app), .init(service: host.drainSignal)],
            logger: logger
        )
        groupConfiguration.maximumGracefulShutdownDuration = configuration.shutdownTimeout
        let group = ServiceGroup(configuration: groupConfiguration)
        let task = Task { try await group.run() }
        var iterator = ports.makeAsyncIterator()
        return RunningServer(port: await iterator.next() ?? 0, host: host, group: group, task: task)
    }

    init(port: Int, host: ModelHost, group: ServiceGroup, task: Task<Void, any Error>) {
        self.port = port
        self.host = host
        self.group = group
        self.task = task
    }

    public var baseURL: String { "http://127.0.0.1:\(port)" }

    /// Graceful shutdown: in-flight requests finish, then the engine stops.
    public func stop() async {
        await group.triggerGracefulShutdown()
        _ = await task.result
    }
}
