import Hummingbird
import HummingbirdCore
import Logging
import NIOCore
import ServiceLifecycle

/// The server as `swerve serve` and the tests run it: routes, OpenAI error shapes and the API key
/// check on a Hummingbird application bound to `configuration.host`/`port`, each connection under
/// `configuration.limits` (`GuardedHTTP1Channel`). Run it in a `ServiceGroup` with the
/// host before it and `host.drainSignal` after it (see `ModelHost`); `onServerRunning` reports the bound
/// channel (tests bind port 0 and read the port from it).
public func buildApplication(
    configuration: ServerConfiguration,
    host: ModelHost,
    logger: Logger = Logger(label: "swerve.server"),
    onServerRunning: @escaping @Sendable (any Channel) async -> Void = { _ in }
) -> some ApplicationProtocol {
    let router = Router(context: ServerRequestContext.self)
    router.add(middleware: OpenAIErrorMiddleware())
    if let key = configuration.apiKey { router.add(middleware: APIKeyMiddleware(key: key)) }
    OpenAIRoutes(
        host: host,
        configuration: configuration,
        requestLogger: configuration.logRequests ? RequestLogger(logger: logger) : nil
    ).register(on: router)
    return Application(
        router: router,
        server: HTTPServerBuilder { responder in
            GuardedHTTP1Channel(responder: responder, limits: configuration.limits, counter: configuration.connections)
        },
        configuration: ApplicationConfiguration(
            address: .hostname(configuration.host, port: configuration.port),
            serverName: "swerve"
        ),
        onServerRunning: onServerRunning,
        logger: logger
    )
}
