import Glibc
import Logging

/// The process's open-file limit, raised from its soft value to its hard one when `swerve serve` starts
/// (as uvicorn and nginx do): each connection holds a descriptor, and the default soft limit (often 1,024)
/// is below `--max-connections`' reach.
enum FileDescriptorLimit {
    static func raise(logger: Logger) {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0, limit.rlim_cur < limit.rlim_max else { return }
        let soft = limit.rlim_cur
        limit.rlim_cur = limit.rlim_max
        if setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) != 0 {
            logger.notice("open-file limit stays at \(soft): setrlimit failed (errno \(errno))")
        }
    }
}
