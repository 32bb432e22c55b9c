import Bench
import Engine
import GGUF
import Models
import SwerveCore
import Tokenizers

/// `swerve bench latency`'s figures over the timed runs: prefill and decode throughput (medians over
/// runs) and percentiles of the per-token decode latency (all runs pooled).
struct LatencyReport: Encodable {
    var backend: String
    var input_len: Int
    var output_len: Int
    /// Sequences decoded together (each decode step runs one row per sequence).
    var batch_size: Int
    var iterations: Int
    var prefill_tok_s: Double
    var decode_tok_s: Double
    /// Prefill time of the median run, milliseconds (time to first token).
    var prefill_ms: Double
    var decode_ms_p50: Double
    var decode_ms_p90: Double
    var decode_ms_p99: Double
    /// Weight bytes one decode step reads: every matrix, the output head included, the embedding table
    /// only when it is the (tied) output head.
    var weight_bytes_per_token = 0
    /// f16 KV bytes one decode step reads on average: every sequence's keys and values over the positions
    /// it attends to (a sliding-window layer's window at most), at the mean position of the decode.
    var kv_bytes_per_step = 0
    /// Measured: streaming as many bytes as the weights, in memory like theirs, on the backend's threads.
    var read_bandwidth_gb_s = 0.0
    /// The memory-bound ceiling: bandwidth / bytes per token.
    var decode_limit_tok_s = 0.0
    /// Integer multiply-adds ×2 per prompt token (matrices only; attention adds a little) times prefill tok/s.
    var prefill_gops = 0.0
    /// Measured: the int8 peak of the backend's GEMM level on its threads (`CPUBackend.measureInt8Peak`).
    var int8_peak_gops = 0.0
    /// prefill_gops / int8_peak_gops, and the bytes a decode step reads (weights once, each sequence's KV)
    /// per second / read bandwidth.
    var prefill_share_of_peak = 0.0
    var decode_share_of_bandwidth = 0.0
    /// Measured: one empty operation dispatched to every worker thread and waited for, microseconds.
    var dispatch_overhead_us = 0.0
    /// Integer multiply-adds ×2 per decoded row (matrices and the output head) times decode tok/s, and its
    /// share of the int8 peak.
    var decode_gops = 0.0
    var decode_share_of_peak = 0.0
    /// The least time a decode step of `batch_size` rows can take here (`StepFloor`): its bytes at the read
    /// bandwidth, its multiply-adds at the int8 peak, the larger of the two, and which one binds.
    var step_read_floor_ms = 0.0
    var step_int8_floor_ms = 0.0
    var step_floor_ms = 0.0
    var step_floor_bound = ""
    /// decode_ms_p50 / step_floor_ms: how far the step is from this machine's limit.
    var step_over_floor = 0.0

    init(runs: [GenerationResult], inputLength: Int, outputLength: Int, batchSize: Int, backend: String) {
        self.backend = backend
        input_len = inputLength
        output_len = outputLength
        batch_size = batchSize
        iterations = runs.count
        prefill_tok_s = Percentile.median(runs.map(\.prefillTokensPerSecond))
        decode_tok_s = Percentile.median(runs.map(\.decodeTokensPerSecond)) * Double(batchSize)
        prefill_ms = Percentile.median(runs.map(\.prefillSeconds)) * 1000
        let steps = runs.flatMap(\.decodeStepSeconds).sorted()
        decode_ms_p50 = Percentile.of(steps, 50) * 1000
        decode_ms_p90 = Percentile.of(steps, 90) * 1000
        decode_ms_p99 = Percentile.of(steps, 99) * 1000
    }

    /// Fills in the physical limits for `gguf` on `backend`.
    mutating func addLimits(gguf: GGUFFile, backend: any BackendLimits) {
        let work = DecodeWork(gguf)
        let (bytes, multiplies, head) = (work.weightBytes, work.multiplyAdds, work.headMultiplyAdds)
        weight_bytes_per_token = bytes
        if let config = try? ModelRegistry.config(of: gguf) {
            let keys = input_len + (output_len + 1) / 2
            let row = KVCacheType.f16.bytesPerToken(layers: 1, width: config.headCountKV * config.headDimension)
            for layer in 0..<config.blockCount {
                let seen = config.window(ofLayer: layer).map { min($0, keys) } ?? keys
                kv_bytes_per_step += batch_size * seen * row
            }
        }
        read_bandwidth_gb_s = backend.measureReadBandwidth(bytes: bytes, passes: 20) / 1e9
        decode_limit_tok_s = read_bandwidth_gb_s * 1e9 / Double(bytes)
        prefill_gops = 2 * Double(multiplies) * prefill_tok_s / 1e9
        int8_peak_gops = backend.measureInt8Peak(passes: 3) / 1e9
        dispatch_overhead_us = backend.measureDispatchOverhead(count: 20_000, passes: 3) * 1e6
        prefill_share_of_peak = int8_peak_gops > 0 ? prefill_gops / int8_peak_gops : 0
        // One decode step reads the weights once, whatever the batch size, and each sequence's KV.
        let stepsPerSecond = decode_tok_s / Double(batch_size)
        decode_share_of_bandwidth = stepsPerSecond * Double(bytes + kv_bytes_per_step) / (read_bandwidth_gb_s * 1e9)
        // Prefill computes one logits row; every decoded row computes the head too.
        decode_gops = 2 * Double(multiplies + head) * decode_tok_s / 1e9
        decode_share_of_peak = int8_peak_gops > 0 ? decode_gops / int8_peak_gops : 0
        let floor = StepFloor(
            bytes: bytes + kv_bytes_per_step,
            multiplyAdds: batch_size * (multiplies + head),
            bandwidth: read_bandwidth_gb_s * 1e9,
            peak: int8_peak_gops * 1e9
        )
        step_read_floor_ms = floor.readSeconds * 1000
        step_int8_floor_ms = floor.arithmeticSeconds * 1000
        step_floor_ms = floor.seconds * 1000
        step_floor_bound = floor.bound
        step_over_floor = step_floor_ms > 0 ? decode_ms_p50 / step_floor_ms : 0
    }

    var text: String {
        func f(_ x: Double) -> String { String(format: "%.2f", x) }
        return """
            backend:  \(backend)
            prefill:  \(input_len) tokens in \(f(prefill_ms)) ms = \(f(prefill_tok_s)) tok/s
            decode:   \(output_len) tokens × \(batch_size) sequences at \(f(decode_tok_s)) tok/s; per step p50 \(f(decode_ms_p50)) ms, \
            p90 \(f(decode_ms_p90)) ms, p99 \(f(decode_ms_p99)) ms
            limits:   \(f(Double(weight_bytes_per_token) / 1e6)) MB of weights per decoded token at \(f(read_bandwidth_gb_s)) \
            GB/s read bandwidth = \(f(decode_limit_tok_s)) steps/s; with \(f(Double(kv_bytes_per_step) / 1e6)) MB of KV \
            per step, decode reads at \(f(100 * decode_share_of_bandwidth))% of the bandwidth
            int8:     prefill runs \(f(prefill_gops)) GOPS of int8 matmul, \(f(100 * prefill_share_of_peak))% of the \
            \(f(int8_peak_gops)) GOPS peak measured on the GEMM level's multiply-accumulate (registers only, all threads)
            floor:    a step of \(batch_size) row\(batch_size == 1 ? "" : "s") needs at least \(f(step_floor_ms)) ms here \
            (reads at the bandwidth \(f(step_read_floor_ms)) ms, int8 multiply-adds at the peak \(f(step_int8_floor_ms)) ms: \
            \(step_floor_bound) bound); p50 is \(f(step_over_floor))× that; decode runs \(f(decode_gops)) GOPS = \
            \(f(100 * decode_share_of_peak))% of the int8 peak
            dispatch: \(f(dispatch_overhead_us)) µs per operation handed to the worker threads (an empty one)
            """
    }

}
