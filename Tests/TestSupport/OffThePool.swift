import Foundation

/// Runs `body` on a thread of its own and returns what it returns: heavy synchronous work (converting a
/// checkpoint in memory, a model's forward passes) kept off Swift's cooperative pool, which has two threads
/// on a 2-core machine and runs the in-process servers of the tests beside it. Record issues outside `body`
/// (its thread is not the test's).
public func offThePool<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        Thread.detachNewThread { continuation.resume(with: Result { try body() }) }
    }
}
