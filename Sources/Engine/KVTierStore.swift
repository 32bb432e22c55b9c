import Foundation
import Logging
import SwerveCore

/// What a lower tier knows of a block: nothing, a read from disk under way, or its KV in memory.
public enum KVTierLookup: Sendable {
    case absent
    case loading
    case ready(KVBlockData)
}

/// The scheduler's view of the lower tiers: which blocks past the pool's cached prefix can be loaded instead
/// of recomputed (a fake in tests).
public protocol KVTierIndex: AnyObject, Sendable {
    /// Whether a tier holds `key`'s block; a block on disk starts loading in the background (`.loading`
    /// until it is in memory and verified).
    func lookup(_ key: BlockKey) -> KVTierLookup
}

/// The KV cache's tiers below the pool (issue: tiered KV cache): a host-memory tier (`--kv-offloading-size`,
/// vLLM's native CPU offloading) and a disk tier (`--kv-disk-path`, `--kv-disk-size`, Swerve's own), each
/// least-recently-used. A cached block the pool evicts is copied out by the engine (`offload`) into the host
/// tier, or the disk tier when there is none; the host tier's evictions go to disk. A request whose prefix
/// continues past the pool's cached blocks into a tier gets those blocks loaded back (`lookup`, then the
/// engine writes them into fresh pool blocks before the step).
///
/// All file work runs on one thread of its own (`swerve-kv-tiers`), reads before writes, so the engine thread
/// only copies memory. A block's identity is its chain hash plus `namespace` (the model file's digest and the
/// KV layout): the disk tier keeps each namespace in a directory of its own and checks it in every file, so a
/// directory shared by restarts or models never mixes them. Files are written to a temporary name and
/// renamed; every file is checked when the index is rebuilt at startup (there is no index file) and
/// checksummed when loaded; a bad one is deleted and counted (`dropped`), and the block recomputed. Written
/// here because no kept package offers a KV-block store.
public final class KVTierStore: KVTierIndex, @unchecked Sendable {
    public let configuration: KVTierConfiguration
    public let blockBytes: Int
    public let namespace: UInt64
    /// The disk tier's directory for this namespace.
    public let directory: URL?
    let logger: Logger

    let condition = NSCondition()
    // Guarded by `condition`.
    var host: [BlockKey: KVBlockData] = [:]
    var hostOrder = LRUList<BlockKey>()
    var hostBytes = 0
    var disk: [UInt64: Int] = [:]
    var diskOrder = LRUList<UInt64>()
    var diskBytes = 0
    /// Blocks read from disk and verified, until a step loads them.
    var staged: [BlockKey: KVBlockData] = [:]
    var stagedOrder = LRUList<BlockKey>()
    var reads: [BlockKey] = []
    var reading: Set<BlockKey> = []
    var writes: [KVBlockData] = []
    var writing: Set<UInt64> = []
    /// Disk blocks found at startup, to announce once events are on.
    var announcing: [UInt64] = []
    var diskFull = false
    var stopping = false
    var counters = KVTierStats()
    /// Events for `events`, published once the lock is let go.
    var announcements: [KVCacheEvent] = []
    var sink: (any KVEventSink)?
    let stopped = DispatchSemaphore(value: 0)

    /// Staged blocks held at most (requests whose loads were read but which were then aborted).
    let stagedLimit: Int
    /// Writes queued at most before new offloads to disk are skipped (a disk slower than eviction).
    let writeQueueLimit: Int

    /// Opens the tiers for blocks of `blockBytes` bytes in `layout` (backend, KV type, block size) of the model
    /// whose digest the configuration names; rebuilds the disk tier's index from its files. Throws, naming the
    /// flag, for a directory that cannot be written or sizes beyond what the machine has.
    public init(
        _ configuration: KVTierConfiguration,
        blockBytes: Int,
        layout: String,
        logger: Logger = Logger(label: "swerve.kv-tiers")
    ) throws(KVTierError) {
        self.configuration = configuration
        self.blockBytes = blockBytes
        self.logger = logger
        namespace = Self.fnv1a("\(configuration.modelDigest)|\(layout)")
        stagedLimit = max(64, (256 << 20) / max(1, blockBytes))
        writeQueueLimit = max(64, (512 << 20) / max(1, blockBytes))
        let memory = Int(sysconf(Int32(_SC_PHYS_PAGES))) * Int(sysconf(Int32(_SC_PAGESIZE)))
        guard configuration.hostBytes <= memory else {
            throw .tooLarge(flag: "--kv-offloading-size", requested: configuration.hostBytes, available: memory)
        }
        if let path = configuration.diskPath {
            let directory = URL(fileURLWithPath: path).appendingPathComponent(String(namespace, radix: 16))
            self.directory = directory
            try Self.prepare(directory, path: path)
            let free = Self.freeBytes(path)
            let indexed = try rebuildIndex()
            guard configuration.diskBytes <= free + indexed else {
                throw .tooLarge(flag: "--kv-disk-size", requested: configuration.diskBytes, available: free + indexed)
            }
            trimDisk()
        } else {
            directory = nil
        }
        let thread = Thread { [self] in run() }
        thread.name = "swerve-kv-tiers"
        thread.start()
    }

    /// The tiers' counters now.
    public var stats: KVTierStats {
        condition.lock()
        defer { condition.unlock() }
        var stats = counters
        stats.host.bytes = hostBytes
        stats.host.blocks = host.count
        stats.disk.bytes = diskBytes
        stats.disk.blocks = disk.count
        return stats
    }

    /// Where blocks entering and leaving a tier are announced (`--kv-events-config`): medium "CPU" for the
    /// host tier, "DISK" for the disk tier (`KVMedium`). Setting it announces the blocks found on disk at
    /// startup (from the tier thread).
    public var events: (any KVEventSink)? {
        get {
            condition.lock()
            defer { condition.unlock() }
            return sink
        }
        set {
            condition.lock()
            sink = newValue
            // The blocks found on disk at startup are announced from the tier thread (their files are read).
            if newValue != nil && !disk.isEmpty {
                announcing = Array(diskOrder.keysOldestFirst)
                condition.broadcast()
            }
            condition.unlock()
        }
    }

    /// Announces the disk blocks in `announcing`: each file's header and tokens read back. Tier thread.
    func announceIndexed(_ hashes: [UInt64]) {
        for hash in hashes {
            guard let handle = FileHandle(forReadingAtPath: path(hash).path) else { continue }
            let head = (try? handle.read(upToCount: KVBlockFile.headerBytes)) ?? Data()
            let header = head.withUnsafeBytes { bytes in
                try? KVBlockFile.header(bytes, available: Int.max, namespace: namespace, checkingLength: false)
            }
            let tokens = header.flatMap { try? handle.read(upToCount: 4 * $0.tokenCount) } ?? Data()
            try? handle.close()
            guard let header, tokens.count == 4 * header.tokenCount else { continue }
            let ids = tokens.withUnsafeBytes { bytes in
                (0..<header.tokenCount).map {
                    Int32(littleEndian: bytes.loadUnaligned(fromByteOffset: 4 * $0, as: Int32.self))
                }
            }
            condition.lock()
            if disk[hash] != nil {
                recordStored(
                    BlockKey(
                        parent: header.parent,
                        tokens: ids,
                        extra: header.extra == .max ? nil : Int(Int64(bitPattern: header.extra))
                    ),
                    .disk
                )
            }
            condition.unlock()
        }
        announce()
    }

    /// Records a block entering a tier, when events are on. Lock held.
    func recordStored(_ key: BlockKey, _ medium: KVMedium) {
        guard sink != nil else { return }
        announcements.append(
            .blockStored(
                hashes: [key.chainHash],
                parent: key.parent == BlockKey.chainSeed ? nil : key.parent,
                tokens: key.tokens,
                blockSize: key.tokens.count,
                medium: medium
            )
        )
    }

    /// Records a block leaving a tier, when events are on. Lock held.
    func recordRemoved(_ hash: UInt64, _ medium: KVMedium) {
        if sink != nil { announcements.append(.blockRemoved(hashes: [hash], medium: medium)) }
    }

    /// Publishes what `recordStored` and `recordRemoved` collected. Lock not held.
    func announce() {
        condition.lock()
        let target = sink
        let events = announcements
        announcements.removeAll()
        condition.unlock()
        if let target, !events.isEmpty { target.publish(events) }
    }

    /// The chain hashes of the blocks a tier holds (what a KV-event subscriber should hold for its medium).
    public func hashes(in medium: KVMedium) -> Set<UInt64> {
        condition.lock()
        defer { condition.unlock() }
        switch medium {
        case .pool: return []
        case .host: return Set(host.keys.map(\.chainHash))
        case .disk: return Set(disk.keys)
        }
    }

    public var hasHostTier: Bool { configuration.hostBytes > 0 }
    public var hasDiskTier: Bool { directory != nil && configuration.diskBytes > 0 }

    // MARK: Engine thread

    /// Whether a tier holds (or is writing) `key`'s block: the engine then skips copying it out again.
    public func contains(_ key: BlockKey) -> Bool {
        condition.lock()
        defer { condition.unlock() }
        let hash = key.chainHash
        return host[key] != nil || disk[hash] != nil || writing.contains(hash)
    }

    public func lookup(_ key: BlockKey) -> KVTierLookup {
        condition.lock()
        defer { condition.unlock() }
        if let data = host[key] {
            hostOrder.touch(key)
            return .ready(data)
        }
        if let data = staged[key] { return .ready(data) }
        if reading.contains(key) { return .loading }
        guard disk[key.chainHash] != nil else { return .absent }
        reading.insert(key)
        reads.append(key)
        condition.broadcast()
        return .loading
    }

    /// Takes a block the pool evicted (its KV copied out by the engine): into the host tier, or to disk when
    /// there is no host tier.
    public func offload(_ data: KVBlockData) {
        defer { announce() }
        condition.lock()
        defer { condition.unlock() }
        if hasHostTier {
            guard host[data.key] == nil else { return }
            host[data.key] = data
            hostOrder.touch(data.key)
            hostBytes += data.byteCount
            counters.host.stores += 1
            recordStored(data.key, .host)
            while hostBytes > configuration.hostBytes, let old = hostOrder.popOldest() {
                let evicted = host.removeValue(forKey: old)!
                hostBytes -= evicted.byteCount
                counters.host.evictions += 1
                recordRemoved(old.chainHash, .host)
                queueWrite(evicted)
            }
        } else {
            queueWrite(data)
        }
    }

    /// A step wrote `data` into the pool: counts the hit against the tier it came from.
    public func loaded(_ data: KVBlockData) {
        condition.lock()
        defer { condition.unlock() }
        if staged[data.key] === data {
            staged[data.key] = nil
            stagedOrder.remove(data.key)
            counters.disk.hits += 1
        } else {
            counters.host.hits += 1
        }
    }

    /// Waits up to `seconds` for a disk read under way to finish (the engine has nothing else to run).
    public func waitForReads(seconds: Double) {
        condition.lock()
        defer { condition.unlock() }
        if !reading.isEmpty { _ = condition.wait(until: Date(timeIntervalSinceNow: seconds)) }
    }

    /// Waits until every queued disk write is done (tests, and a caller that wants the disk tier settled).
    public func waitForWrites() {
        condition.lock()
        defer { condition.unlock() }
        while !writing.isEmpty { condition.wait() }
    }

    /// Writes every host-tier block not yet on disk, and `more` (the pool's cached blocks), then stops the
    /// tier thread once the writes are done: a graceful stop leaves the disk tier warm for the next start.
    public func shutdown(persisting more: [KVBlockData] = []) {
        condition.lock()
        if hasDiskTier {
            for data in more where host[data.key] == nil { queueWrite(data, force: true) }
            for key in host.keys.sorted(by: { $0.chainHash < $1.chainHash }) { queueWrite(host[key]!, force: true) }
        }
        stopping = true
        condition.broadcast()
        condition.unlock()
        stopped.wait()
    }

    /// Queues `data` for the disk tier unless it is there, queued, or the disk is full. Lock held.
    func queueWrite(_ data: KVBlockData, force: Bool = false) {
        let hash = data.key.chainHash
        guard hasDiskTier, !diskFull, disk[hash] == nil, !writing.contains(hash) else { return }
        guard force || writes.count < writeQueueLimit else {
            counters.disk.skipped += 1
            return
        }
        writing.insert(hash)
        writes.append(data)
        condition.broadcast()
    }

    // MARK: Tier thread

    func run() {
        while true {
            condition.lock()
            while reads.isEmpty && writes.isEmpty && announcing.isEmpty && !stopping { condition.wait() }
            if !announcing.isEmpty {
                let hashes = announcing
                announcing = []
                condition.unlock()
                announceIndexed(hashes)
                continue
            }
            if reads.isEmpty && writes.isEmpty {
                condition.unlock()
                stopped.signal()
                return
            }
            if !reads.isEmpty {
                let key = reads.removeFirst()
                condition.unlock()
                read(key)
            } else {
                let data = writes.removeFirst()
                condition.unlock()
                write(data)
            }
        }
    }

    func path(_ hash: UInt64) -> URL { directory!.appendingPathComponent(Self.fileName(hash)) }

    static func fileName(_ hash: UInt64) -> String {
        let hex = String(hash, radix: 16)
        return String(repeating: "0", count: 16 - hex.count) + hex + ".kv"
    }

    func read(_ key: BlockKey) {
        let start = Monotonic.seconds()
        let url = path(key.chainHash)
        var result: Result<KVBlockData, KVBlockFile.Defect>
        if let contents = FileManager.default.contents(atPath: url.path) {
            result = contents.withUnsafeBytes { bytes in
                Result { () throws(KVBlockFile.Defect) in
                    try KVBlockFile.decode(bytes, namespace: namespace, key: key, payloadBytes: blockBytes)
                }
            }
        } else {
            result = .failure(.truncated)
        }
        let elapsed = Monotonic.seconds() - start
        defer { announce() }
        condition.lock()
        defer {
            reading.remove(key)
            condition.broadcast()
            condition.unlock()
        }
        switch result {
        case .success(let data):
            staged[key] = data
            stagedOrder.touch(key)
            counters.disk.loads += 1
            counters.disk.loadSeconds += elapsed
            while staged.count > stagedLimit, let old = stagedOrder.popOldest() { staged[old] = nil }
        case .failure(let defect):
            guard disk[key.chainHash] != nil else { return }  // evicted meanwhile
            forgetFile(key.chainHash, delete: true)
            counters.dropped += 1
            logger.warning("KV disk tier: dropped \(url.lastPathComponent) (\(defect)); its block is recomputed")
        }
    }

    func write(_ data: KVBlockData) {
        let hash = data.key.chainHash
        let bytes = KVBlockFile.encode(data, namespace: namespace)
        let final = path(hash)
        let temporary = directory!.appendingPathComponent("\(Self.fileName(hash)).tmp-\(getpid())")
        let error = Self.writeFile(bytes, temporary: temporary.path, final: final.path)
        defer { announce() }
        condition.lock()
        defer { condition.unlock() }
        writing.remove(hash)
        condition.broadcast()
        guard error == 0 else {
            unlink(temporary.path)
            counters.disk.writeFailures += 1
            if error == ENOSPC || error == EDQUOT {
                diskFull = true
                writes.removeAll()
                writing.removeAll()
                logger.warning("KV disk tier: \(directory!.path) is full; offloading to disk stops")
            } else {
                logger.warning(
                    "KV disk tier: writing \(final.lastPathComponent) failed: \(String(cString: strerror(error)))"
                )
            }
            return
        }
        disk[hash] = bytes.count
        diskOrder.touch(hash)
        diskBytes += bytes.count
        counters.disk.stores += 1
        recordStored(data.key, .disk)
        trimDisk()
    }

    /// Evicts the least recently used files while the disk tier is over its size. Lock held (or init).
    func trimDisk() {
        while diskBytes > configuration.diskBytes, let old = diskOrder.oldest {
            forgetFile(old, delete: true)
            counters.disk.evictions += 1
        }
    }

    func forgetFile(_ hash: UInt64, delete: Bool) {
        guard let bytes = disk.removeValue(forKey: hash) else { return }
        recordRemoved(hash, .disk)
        diskOrder.remove(hash)
        diskBytes -= bytes
        if delete { unlink(path(hash).path) }
    }

    /// Writes `bytes` to `temporary` and renames it to `final`; 0 or the errno.
    static func writeFile(_ bytes: [UInt8], temporary: String, final: String) -> Int32 {
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        guard fd >= 0 else { return errno }
        var offset = 0
        let error: Int32 = bytes.withUnsafeBytes { buffer in
            while offset < buffer.count {
                let written = Foundation.write(fd, buffer.baseAddress! + offset, buffer.count - offset)
                if written < 0 {
                    if errno == EINTR { continue }
                    return errno
                }
                offset += written
            }
            return 0
        }
        guard close(fd) == 0 || error != 0 else { return errno }
        guard error == 0 else { return error }
        return rename(temporary, final) == 0 ? 0 : errno
    }

    // MARK: Startup

    /// Creates `directory` (for `--kv-disk-path` `path`) and checks that files can be written in it.
    public static func prepare(_ directory: URL, path: String) throws(KVTierError) {
        do {
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        } catch {
            throw .directory(path: path, reason: "cannot be created (\(error.localizedDescription))")
        }
        let probe = directory.appendingPathComponent(".probe-\(getpid())")
        guard FileManager.default.createFile(atPath: probe.path, contents: Data([0])) else {
            throw .directory(path: path, reason: "cannot be written")
        }
        unlink(probe.path)
    }

    static func freeBytes(_ path: String) -> Int {
        var info = statvfs()
        guard statvfs(path, &info) == 0 else { return 0 }
        return Int(info.f_bavail) * Int(info.f_frsize)
    }

    /// Indexes this namespace's block files, oldest first by modification time, deleting (and counting)
    /// temporary files a killed process left, and files that are not whole blocks of this namespace; returns
    /// the bytes indexed.
    func rebuildIndex() throws(KVTierError) -> Int {
        guard let directory else { return 0 }
        let names: [String]
        do {
            names = try FileManager.default.contentsOfDirectory(atPath: directory.path)
        } catch {
            throw .directory(path: directory.path, reason: "cannot be listed (\(error.localizedDescription))")
        }
        var found: [(hash: UInt64, bytes: Int, modified: Double)] = []
        for name in names {
            let file = directory.appendingPathComponent(name).path
            guard name.hasSuffix(".kv"), let hash = UInt64(name.dropLast(3), radix: 16) else {
                if name.contains(".kv.tmp-") {
                    unlink(file)
                    counters.dropped += 1
                }
                continue
            }
            var info = stat()
            guard stat(file, &info) == 0 else { continue }
            let valid: Bool
            if let handle = FileHandle(forReadingAtPath: file) {
                let head = (try? handle.read(upToCount: KVBlockFile.headerBytes)) ?? Data()
                try? handle.close()
                let header = head.withUnsafeBytes { bytes in
                    try? KVBlockFile.header(bytes, available: Int(info.st_size), namespace: namespace)
                }
                valid = header.map { $0.hash == hash && $0.payloadBytes == blockBytes } ?? false
            } else {
                valid = false
            }
            guard valid else {
                unlink(file)
                counters.dropped += 1
                logger.warning("KV disk tier: dropped \(name) at startup (not a whole block of this model and layout)")
                continue
            }
            let modified = Double(info.st_mtim.tv_sec) + Double(info.st_mtim.tv_nsec) * 1e-9
            found.append((hash, Int(info.st_size), modified))
        }
        for file in found.sorted(by: { $0.modified < $1.modified }) {
            disk[file.hash] = file.bytes
            diskOrder.touch(file.hash)
            diskBytes += file.bytes
        }
        if !found.isEmpty {
            logger.info("KV disk tier: \(found.count) blocks (\(diskBytes >> 20) MiB) found in \(directory.path)")
        }
        return diskBytes
    }

    static func fnv1a(_ text: String) -> UInt64 {
        var hash: UInt64 = 0xCBF2_9CE4_8422_2325
        for byte in text.utf8 { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01B3 }
        return hash
    }
}

/// The tiers below the pool (`--kv-offloading-size`, `--kv-disk-path`, `--kv-disk-size`); `modelDigest`
/// names the model file, part of every stored block's identity.
public struct KVTierConfiguration: Sendable, Equatable {
    public var hostBytes: Int
    public var diskPath: String?
    public var diskBytes: Int
    public var modelDigest: String

    public init(hostBytes: Int = 0, diskPath: String? = nil, diskBytes: Int = 0, modelDigest: String) {
        self.hostBytes = hostBytes
        self.diskPath = diskPath
        self.diskBytes = diskBytes
        self.modelDigest = modelDigest
    }
}

/// The tiers' counters (`swerve:kv_tier_*`).
public struct KVTierStats: Sendable, Equatable {
    public struct Tier: Sendable, Equatable {
        /// Blocks loaded into the pool from this tier instead of recomputed.
        public var hits = 0
        /// Blocks written into this tier.
        public var stores = 0
        /// Blocks this tier dropped for room.
        public var evictions = 0
        public var blocks = 0
        public var bytes = 0
        /// Disk reads done and their seconds (read, checksum, verify).
        public var loads = 0
        public var loadSeconds = 0.0
        public var writeFailures = 0
        /// Offloads not written because the write queue was full.
        public var skipped = 0

        public init() {}
    }

    public var host = Tier()
    public var disk = Tier()
    /// Files deleted as torn, truncated, corrupted or foreign.
    public var dropped = 0

    public init() {}
}

/// Why the tiers cannot start: a startup refusal naming the flag.
public enum KVTierError: Error, CustomStringConvertible, Equatable {
    case directory(path: String, reason: String)
    case tooLarge(flag: String, requested: Int, available: Int)

    public var description: String {
        switch self {
        case .directory(let path, let reason): "--kv-disk-path \(path) \(reason)"
        case .tooLarge(let flag, let requested, let available):
            "\(flag) \(Self.gib(requested)) GiB is more than the \(Self.gib(available)) GiB available"
        }
    }

    static func gib(_ bytes: Int) -> String { String(format: "%.2f", Double(bytes) / Double(1 << 30)) }
}
