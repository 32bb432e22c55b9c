import NIOCore

/// Closes a connection as soon as its client closes its side. Hummingbird allows half-closed connections
/// and reads nothing while a handler runs, so without this a client that gives up on a long non-streamed
/// completion would go unnoticed until the response is written; closing makes the channel's `closeFuture`
/// fire, which aborts the request in the engine (`Generation`). HTTP/1 clients do not half-close while
/// waiting for a response, so nothing legitimate is cut.
final class DisconnectHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = Any

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case .some(.inputClosed) = event as? ChannelEvent {
            context.close(promise: nil)
        }
        context.fireUserInboundEventTriggered(event)
    }
}
