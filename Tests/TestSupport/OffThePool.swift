import Foundation

/// Runs `body` on a thread of its own and returns what it returns (or throws what it throws): heavy or
/// blocking synchronous work (converting a checkpoint in memory, a model's forward passes, waiting for a child
/// process) kept off Swift's cooperative pool, which has two threads on a 2-core machine and runs the
/// in-process servers of the tests beside it. Record issues outside `body` (its thread is not the test's).
public func offThePool<T: Sendable, E: Error>(_ body: @escaping @Sendable () throws(E) -> T) async throws(E) -> T {
    let result: Result<T, E> = await withCheckedContinuation { continuation in
        Thread.detachNewThread { continuation.resume(returning: Result { () throws(E) -> T in try body() }) }
    }
    return try result.get()
}
