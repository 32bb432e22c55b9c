import Foundation

/// Child processes the tests run (scripts, Python checks, the `swerve` binary), from the repository root.
///
/// Waiting for a child happens on a thread of its own, never on one of the cooperative pool's threads: the
/// tests run in parallel in one process beside in-process servers, and on a 2-core machine the pool has two
/// threads. Two tests blocking one each (one waiting for a Python suite that talks to its server, another
/// for a subscriber that asks its server for the cached blocks) left no thread for any server to answer on.
public enum Subprocess {
    /// The repository's root directory.
    public static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    /// The `swerve` binary `swift build` made (debug first), if any.
    public static var swerve: String? {
        [".build/debug/swerve", ".build/release/swerve"].map { root.appendingPathComponent($0).path }
            .first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    /// Runs `executable` with `arguments` in the repository root; returns its exit status and combined output.
    public static func run(
        _ executable: String,
        _ arguments: [String],
        environment: [String: String] = [:]
    ) async throws -> (Int32, String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.currentDirectoryURL = root
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        return await finish(process, output: pipe)
    }

    /// Reads `process`'s output from `pipe` to its end and waits for it to exit, on a thread of its own;
    /// returns its exit status and the output.
    public static func finish(_ process: Process, output pipe: Pipe) async -> (Int32, String) {
        await offThePool {
            let output = pipe.fileHandleForReading.readDataToEndOfFile()
            process.waitUntilExit()
            return (process.terminationStatus, String(decoding: output, as: UTF8.self))
        }
    }
}
