import Hummingbird
import NIOCore

/// The request context of Swerve's routes: Hummingbird's core storage plus the connection's channel, whose
/// close tells a generation that its client has gone (so the engine aborts it at once, not at the next
/// write).
public struct ServerRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    public let channel: any Channel

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        channel = source.channel
    }
}
