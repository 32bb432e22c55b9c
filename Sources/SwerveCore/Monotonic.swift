import Dispatch

/// The one clock every latency figure is read from: monotonic seconds since boot (`DispatchTime`, which
/// is `CLOCK_MONOTONIC` on Linux), so the engine's timestamps, the benchmarks and the server's metrics
/// compare directly.
public enum Monotonic {
    public static func seconds() -> Double { Double(DispatchTime.now().uptimeNanoseconds) / 1e9 }

    /// Seconds `body` took, and what it returned.
    public static func time<R>(_ body: () throws -> R) rethrows -> (result: R, seconds: Double) {
        let start = seconds()
        let result = try body()
        return (result, seconds() - start)
    }
}
