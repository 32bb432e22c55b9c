import Dispatch

/// Runs CPU-heavy request work (compiling a large schema, tokenizing a long prompt) on a global dispatch
/// queue and awaits it, so it never holds one of the cooperative pool's few threads, which every other
/// request's handler and the HTTP connections need.
enum BlockingWork {
    static func run<Value: Sendable>(_ work: @escaping @Sendable () throws -> Value) async throws -> Value {
        try await withCheckedThrowingContinuation { continuation in
            DispatchQueue.global().async { continuation.resume(with: Result { try work() }) }
        }
    }
}
