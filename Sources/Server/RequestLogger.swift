import Engine
import Foundation
import Logging
import OpenAIAPI

/// `--enable-log-requests`: one line per finished request, as current vLLM logs them, and one per request
/// that ended early, with what it had done and why it stopped.
struct RequestLogger: Sendable {
    let logger: Logger

    func log(_ id: String, _ usage: UsageInfo, _ span: RequestTimings?) {
        func ms(_ seconds: Double?) -> String { seconds.map { String(format: "%.1fms", $0 * 1000) } ?? "-" }
        logger.info(
            "request \(id): prompt_tokens=\(usage.prompt_tokens) cached_tokens=\(usage.prompt_tokens_details?.cached_tokens ?? 0) output_tokens=\(usage.completion_tokens) ttft=\(ms(span?.timeToFirstToken)) total=\(ms(span?.endToEnd))"
        )
    }

    func aborted(
        _ id: String,
        promptTokens: Int,
        outputTokens: Int,
        finished: Int,
        of completions: Int,
        after elapsed: Duration,
        reason: String
    ) {
        let ms = Double(elapsed.components.seconds) * 1000 + Double(elapsed.components.attoseconds) / 1e15
        logger.info(
            "request \(id) aborted (\(reason)): prompt_tokens=\(promptTokens) output_tokens=\(outputTokens) finished_completions=\(finished)/\(completions) after=\(String(format: "%.1fms", ms))"
        )
    }
}
