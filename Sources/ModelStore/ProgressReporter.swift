import SwerveCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Shows how far a transfer has got: a redrawn bar on a terminal, a plain line every 10% otherwise.
///
/// Writes to standard error so a command's standard output (a path, JSON) stays clean.
public final class ProgressReporter: @unchecked Sendable {
    public enum Style: Sendable {
        case automatic
        case bar
        case lines
        case silent
    }

    private let style: Style
    private var lastDraw: UInt64 = 0
    private var lastDecile = -1
    private var label = ""
    private var started: UInt64 = 0

    public init(style: Style = .automatic) {
        self.style = style == .automatic ? (isatty(STDERR_FILENO) != 0 ? .bar : .lines) : style
    }

    public func begin(_ label: String) {
        self.label = label
        lastDecile = -1
        lastDraw = 0
        started = Self.now()
        switch style {
        case .lines: write("\(label)...\n")
        case .bar: write("\r\(label)...\u{1B}[K")
        case .silent, .automatic: break
        }
    }

    public func update(_ done: Int, of total: Int?) {
        switch style {
        case .silent, .automatic: return
        case .lines:
            guard let total, total > 0 else { return }
            let decile = min(10, done * 10 / total)
            guard decile > lastDecile else { return }
            lastDecile = decile
            write("\(label): \(decile * 10)% (\(Self.megabytes(done)) of \(Self.megabytes(total)))\n")
        case .bar:
            let now = Self.now()
            guard now - lastDraw > 100_000_000 || done == total else { return }
            lastDraw = now
            let seconds = Double(now - started) / 1e9
            let rate = seconds > 0 ? Double(done) / seconds : 0
            var line = "\r\(label) "
            if let total, total > 0 {
                let width = 30
                let filled = min(width, done * width / total)
                line +=
                    "[" + String(repeating: "=", count: filled) + String(repeating: " ", count: width - filled) + "] "
                line += "\(done * 100 / total)% \(Self.megabytes(done))/\(Self.megabytes(total))"
            } else {
                line += Self.megabytes(done)
            }
            line += " \(Self.megabytes(Int(rate)))/s\u{1B}[K"
            write(line)
        }
    }

    public func finish(_ message: String) {
        switch style {
        case .silent, .automatic: return
        case .bar: write("\r\(message)\u{1B}[K\n")
        case .lines: write("\(message)\n")
        }
    }

    private func write(_ text: String) {
        var bytes = Array(text.utf8)
        bytes.withUnsafeMutableBytes { buffer in
            var done = 0
            while done < buffer.count {
                let n = Glibc.write(STDERR_FILENO, buffer.baseAddress! + done, buffer.count - done)
                if n <= 0 { break }
                done += n
            }
        }
    }

    static func megabytes(_ bytes: Int) -> String {
        let mb = Double(bytes) / 1_000_000
        return mb < 10 ? "\(Double(Int(mb * 10)) / 10) MB" : "\(Int(mb)) MB"
    }

    static func now() -> UInt64 { UInt64(Monotonic.seconds() * 1e9) }
}
