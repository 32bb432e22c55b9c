import CKernels
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Work a `WorkerPool` runs: `execute(index, count)` is called once on each of `count` threads.
///
/// A class, not a closure, so that publishing a job to the workers allocates nothing (turning a
/// non-escaping closure into one the workers can call allocates its context).
protocol WorkerJob: AnyObject {
    func execute(_ index: Int, _ count: Int)
}

/// A fixed set of dedicated threads (never the Swift cooperative pool) that run one job at a time, split
/// by thread index; the calling thread takes part as thread 0.
///
/// `run` publishes the job and bumps a generation counter; workers spin on the counter for a short while
/// (a decode step issues a few jobs per layer, microseconds apart) and then park on a condition variable,
/// so an idle server burns no CPU. Written here because no kept package offers a spin-then-park fork-join
/// pool with this little overhead per job.
final class WorkerPool: @unchecked Sendable {
    let threadCount: Int
    private let generation = Atomic<Int>(0)
    private let remaining = Atomic<Int>(0)
    private let sleepers = Atomic<Int>(0)
    private let stopping = Atomic<Bool>(false)
    /// Set by `quiesce`: spinning workers park at once (the next `run` wakes them).
    private let parkNow = Atomic<Bool>(false)
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let condition = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    /// The job in flight; written before `generation` is bumped, read after it is seen.
    private unowned(unsafe) var job: (any WorkerJob)?
    private var threads: [pthread_t] = []
    /// Spins before a worker parks (each spin is one PAUSE, tens of cycles).
    private static let spinLimit = 20_000

    init(threads count: Int) {
        threadCount = max(1, count)
        pthread_mutex_init(mutex, nil)
        pthread_cond_init(condition, nil)
        for index in 1..<threadCount {
            let context = Unmanaged.passRetained(WorkerContext(pool: self, index: index)).toOpaque()
            var thread = pthread_t()
            let status = pthread_create(
                &thread,
                nil,
                { raw in
                    let context = Unmanaged<WorkerContext>.fromOpaque(raw!).takeRetainedValue()
                    context.pool.workerLoop(index: context.index)
                    return nil
                },
                context
            )
            precondition(status == 0, "could not start a worker thread (pthread_create: \(status))")
            threads.append(thread)
        }
    }

    deinit {
        stopping.store(true, ordering: .sequentiallyConsistent)
        generation.add(1, ordering: .sequentiallyConsistent)
        pthread_mutex_lock(mutex)
        pthread_cond_broadcast(condition)
        pthread_mutex_unlock(mutex)
        for thread in threads { pthread_join(thread, nil) }
        pthread_mutex_destroy(mutex)
        pthread_cond_destroy(condition)
        mutex.deallocate()
        condition.deallocate()
    }

    /// Parks spinning workers now instead of after their spin: the owner has no work coming (the engine
    /// went idle), so the cores go to whoever needs them (the HTTP front end answering the last request).
    func quiesce() { parkNow.store(true, ordering: .relaxed) }

    /// Runs `job.execute(threadIndex, threadCount)` on every thread and returns when all are done.
    func run(_ job: any WorkerJob) {
        guard threadCount > 1 else { return job.execute(0, 1) }
        self.job = job
        parkNow.store(false, ordering: .relaxed)
        remaining.store(threadCount - 1, ordering: .relaxed)
        generation.add(1, ordering: .sequentiallyConsistent)
        if sleepers.load(ordering: .sequentiallyConsistent) > 0 {
            pthread_mutex_lock(mutex)
            pthread_cond_broadcast(condition)
            pthread_mutex_unlock(mutex)
        }
        job.execute(0, threadCount)
        while remaining.load(ordering: .acquiring) > 0 { swv_cpu_relax() }
        self.job = nil
    }

    /// The part of `0..<count` thread `index` of `threads` takes: contiguous, as even as possible.
    static func share(of count: Int, _ index: Int, _ threads: Int) -> Range<Int> {
        (count * index / threads)..<(count * (index + 1) / threads)
    }

    private func workerLoop(index: Int) {
        var seen = 0
        while true {
            var spins = 0
            while generation.load(ordering: .acquiring) == seen {
                spins += 1
                if spins < Self.spinLimit && (spins & 255 != 0 || !parkNow.load(ordering: .relaxed)) {
                    swv_cpu_relax()
                    continue
                }
                pthread_mutex_lock(mutex)
                sleepers.add(1, ordering: .sequentiallyConsistent)
                while generation.load(ordering: .sequentiallyConsistent) == seen {
                    pthread_cond_wait(condition, mutex)
                }
                sleepers.subtract(1, ordering: .sequentiallyConsistent)
                pthread_mutex_unlock(mutex)
            }
            seen = generation.load(ordering: .acquiring)
            if stopping.load(ordering: .acquiring) { return }
            job?.execute(index, threadCount)
            remaining.subtract(1, ordering: .releasing)
        }
    }
}

private final class WorkerContext {
    unowned(unsafe) let pool: WorkerPool
    let index: Int

    init(pool: WorkerPool, index: Int) {
        self.pool = pool
        self.index = index
    }
}
