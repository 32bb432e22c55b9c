import Engine
import Prometheus
import Synchronization

/// `swerve:kv_tier_*`: the KV cache's lower tiers (`--kv-offloading-size`, `--kv-disk-path`), labelled
/// `tier` = `host` or `disk`. Counters advance by what the engine's snapshot gained since the last scrape.
final class KVTierMetrics: Sendable {
    struct Series: Sendable {
        let hits: Counter
        let stores: Counter
        let evictions: Counter
        let loads: Counter
        let loadSeconds: Counter
        let writeFailures: Counter
        let blocks: Gauge
        let bytes: Gauge
    }

    let host: Series
    let disk: Series
    let dropped: Counter
    let exported = Mutex(KVTierStats())

    init(registry: PrometheusCollectorRegistry, labels: [(String, String)]) {
        func descriptor(_ name: String, _ help: String) -> MetricNameDescriptor {
            MetricNameDescriptor(metricName: name, unitName: "", helpText: help)
        }
        func series(_ tier: String) -> Series {
            let labels = labels + [("tier", tier)]
            func counter(_ name: String, _ help: String) -> Counter {
                registry.makeCounter(descriptor: descriptor(name, help), labels: labels)
            }
            func gauge(_ name: String, _ help: String) -> Gauge {
                registry.makeGauge(descriptor: descriptor(name, help), labels: labels)
            }
            return Series(
                hits: counter("swerve:kv_tier_hits_total", "KV blocks loaded back from a tier instead of recomputed."),
                stores: counter("swerve:kv_tier_stores_total", "KV blocks written into a tier."),
                evictions: counter("swerve:kv_tier_evictions_total", "KV blocks a tier dropped for room."),
                loads: counter("swerve:kv_tier_loads_total", "KV blocks read from disk and verified."),
                loadSeconds: counter(
                    "swerve:kv_tier_load_seconds_total",
                    "Seconds spent reading and verifying KV blocks."
                ),
                writeFailures: counter("swerve:kv_tier_write_failures_total", "KV block writes that failed."),
                blocks: gauge("swerve:kv_tier_blocks", "KV blocks a tier holds."),
                bytes: gauge("swerve:kv_tier_bytes", "Bytes a tier holds.")
            )
        }
        host = series("host")
        disk = series("disk")
        dropped = registry.makeCounter(
            descriptor: descriptor(
                "swerve:kv_tier_dropped_total",
                "KV block files deleted as torn, truncated, corrupted or of another model."
            ),
            labels: labels
        )
    }

    func update(_ stats: KVTierStats) {
        exported.withLock { last in
            for (series, now, before) in [(host, stats.host, last.host), (disk, stats.disk, last.disk)] {
                series.hits.increment(by: Int64(now.hits - before.hits))
                series.stores.increment(by: Int64(now.stores - before.stores))
                series.evictions.increment(by: Int64(now.evictions - before.evictions))
                series.loads.increment(by: Int64(now.loads - before.loads))
                series.loadSeconds.increment(by: now.loadSeconds - before.loadSeconds)
                series.writeFailures.increment(by: Int64(now.writeFailures - before.writeFailures))
                series.blocks.set(to: Double(now.blocks))
                series.bytes.set(to: Double(now.bytes))
            }
            dropped.increment(by: Int64(stats.dropped - last.dropped))
            last = stats
        }
    }
}
