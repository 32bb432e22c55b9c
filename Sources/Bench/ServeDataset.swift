import Foundation
import SwerveCore
import Tokenizers

/// The requests `swerve bench serve` sends, with `vllm bench serve`'s dataset names: `pika` (the seed's system
/// prompt and seeded, varied user turns in the seed's format, optionally with its answer schema), `random`
/// (random token ids decoded to text, a shared prefix of `prefixLength` tokens, the output length forced with
/// `ignore_eos`), or `custom` (a JSONL file of `{"prompt": …}` or `{"messages": […]}` lines, optional
/// `"output_tokens"`).
public struct ServeDataset: Sendable {
    /// One request's content; the benchmark adds model, streaming and sampling fields.
    public struct Item: Sendable {
        /// Chat messages (role, content), or nil for a text prompt.
        public var messages: [(role: String, content: String)]?
        public var prompt: String?
        /// Prompt tokens by the benchmark's tokenizer (what `total_input_tokens` sums).
        public var promptTokens: Int
        public var maxTokens: Int
        /// Generate exactly `maxTokens` (random datasets, as vLLM's).
        public var ignoreEOS: Bool
        /// A `response_format` body field, compact JSON.
        public var responseFormat: String?
    }

    public var items: [Item]

    public enum Name: String, Sendable, CaseIterable {
        case pika
        case random
        case custom
    }

    /// The seed's request format: system prompt, then `Previous Question / Previous Answer / Response to check`.
    public static func pika(
        count: Int,
        seed: UInt64,
        tokenizer: any Tokenizer,
        schema: Bool,
        maxTokens: Int = 50
    )
        -> ServeDataset
    {
        var random = SplitMix64(seed: seed)
        let format =
            #"{"type":"json_schema","json_schema":{"name":"pika","schema":"#
            + PikaWorkload.responseSchema + #","strict":true}}"#
        let items = (0..<count).map { _ -> Item in
            let turn = PikaWorkload.userTurn(Int(random.next() % 1728))
            return Item(
                messages: [("system", PikaWorkload.systemPrompt), ("user", turn)],
                prompt: nil,
                promptTokens: tokenizer.encode(PikaWorkload.systemPrompt + turn, parseSpecial: false, addBOS: false)
                    .count,
                maxTokens: maxTokens,
                ignoreEOS: false,
                responseFormat: schema ? format : nil
            )
        }
        return ServeDataset(items: items)
    }

    /// Random prompts of `inputLength` tokens (the first `prefixLength` shared by all), `outputLength` out.
    public static func random(
        count: Int,
        inputLength: Int,
        outputLength: Int,
        prefixLength: Int,
        seed: UInt64,
        tokenizer: any Tokenizer
    ) -> ServeDataset {
        let prefix = ThroughputBenchmark.randomPrompt(length: prefixLength, tokenizer: tokenizer, seed: seed ^ 0xA5A5)
        let items = (0..<count).map { i -> Item in
            let own = ThroughputBenchmark.randomPrompt(
                length: inputLength,
                tokenizer: tokenizer,
                seed: seed &+ UInt64(i)
            )
            let text = tokenizer.decode((prefix + own).map(Int.init), renderSpecial: false)
            return Item(
                messages: nil,
                prompt: text,
                promptTokens: prefixLength + inputLength,
                maxTokens: outputLength,
                ignoreEOS: true,
                responseFormat: nil
            )
        }
        return ServeDataset(items: items)
    }

    /// A JSONL file: each line `{"prompt": "…"}` or `{"messages": [{"role","content"}…]}`, with optional
    /// `"output_tokens"` (default `outputLength`) and `"response_format"`. The first `count` lines, repeated
    /// if the file is shorter.
    public static func custom(
        path: String,
        count: Int,
        outputLength: Int,
        tokenizer: any Tokenizer
    ) throws
        -> ServeDataset
    {
        let text = try String(contentsOfFile: path, encoding: .utf8)
        var lines: [Item] = []
        for (n, line) in text.split(separator: "\n").enumerated()
        where !line.trimmingCharacters(in: .whitespaces).isEmpty {
            let value: JSONValue
            do {
                value = try JSONValue.parse(String(line))
            } catch {
                throw ServeBenchmarkError.dataset("\(path) line \(n + 1): \(error)")
            }
            var item = Item(
                messages: nil,
                prompt: value["prompt"]?.string,
                promptTokens: 0,
                maxTokens: value["output_tokens"]?.integer ?? value["max_tokens"]?.integer ?? outputLength,
                ignoreEOS: false,
                responseFormat: value["response_format"]?.serialized
            )
            if let messages = value["messages"]?.array {
                item.messages = messages.compactMap { m in
                    guard let role = m["role"]?.string, let content = m["content"]?.string else { return nil }
                    return (role, content)
                }
            }
            guard item.prompt != nil || item.messages?.isEmpty == false else {
                throw ServeBenchmarkError.dataset("\(path) line \(n + 1): needs \"prompt\" or \"messages\"")
            }
            let all = item.prompt ?? item.messages!.map(\.content).joined()
            item.promptTokens = tokenizer.encode(all, parseSpecial: false, addBOS: false).count
            lines.append(item)
        }
        guard !lines.isEmpty else { throw ServeBenchmarkError.dataset("\(path) has no requests") }
        return ServeDataset(items: (0..<count).map { lines[$0 % lines.count] })
    }
}

/// The benchmarks' draws: request order, prompts and arrival times repeat for the same `--seed`.
extension SplitMix64 {
    mutating func normal() -> Double { (-2 * log(unit())).squareRoot() * cos(2 * .pi * unit()) }

    /// Gamma(shape, scale) by Marsaglia and Tsang (shape < 1 boosted): the request gaps of vLLM's
    /// benchmark, whose shape is the burstiness and mean is 1 / rate.
    mutating func gamma(shape: Double, scale: Double) -> Double {
        if shape < 1 { return gamma(shape: shape + 1, scale: scale) * pow(unit(), 1 / shape) }
        let d = shape - 1.0 / 3
        let c = 1 / (9 * d).squareRoot()
        while true {
            var x = 0.0
            var v = 0.0
            repeat {
                x = normal()
                v = 1 + c * x
            } while v <= 0
            v = v * v * v
            let u = unit()
            if u < 1 - 0.0331 * x * x * x * x || log(u) < 0.5 * x * x + d * (1 - v + log(v)) { return d * v * scale }
        }
    }
}

/// Why the serve benchmark cannot run.
public enum ServeBenchmarkError: Error, CustomStringConvertible {
    case dataset(String)
    case configuration(String)

    public var description: String {
        switch self {
        case .dataset(let message): "dataset: \(message)"
        case .configuration(let message): message
        }
    }
}
