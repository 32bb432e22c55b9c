#!/usr/bin/env python3
"""Swerve replicas behind vllm-router on loopback, measured on a multi-tenant workload (run it through
scripts/scale-out, which makes the venv).

Each run starts N fresh `swerve serve` replicas (1 thread each, a small KV pool, KV events on), then
vllm-router with one policy (round_robin, cache_aware, or kv_aware reading every replica's KV events and
tokenizing with a tokenizer.json written from the model's GGUF by scripts/gguf-tokenizer-json.py), and
drives it with `swerve bench serve`: T tenants, each with its own long system prompt, each sending R short
user turns, the tenants in a shuffled order each round, arriving as a Poisson process (--request-rate, below
what round_robin sustains here; `inf` keeps --concurrency requests in flight instead). It reports the
replicas' prefix-cache hit rate (vllm:prefix_cache_hits_total / queries_total, summed), mean and median TTFT,
throughput and failures.

    scripts/scale-out --replicas 2,4 --tenants 16 --system-tokens 1500 --rounds 4 --request-rate 0.3
    scripts/scale-out --replicas 4 --request-rate inf --concurrency 4  # a saturating closed loop
    scripts/scale-out --affinity --tenants 3 --system-tokens 300   # the integration test's check

--affinity: 2 replicas behind kv_aware; for each tenant a first request sent straight to replica
tenant % 2, then a second through the router; checks that the second went to the replica holding the
tenant's blocks (its prefix-cache hits grew by the system prompt's full blocks, no other replica served
it). Exit status 1 if a check fails.
"""
import argparse
import json
import os
import random
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODEL = "HuggingFaceTB/SmolLM2-135M-Instruct"
BLOCK = 16
WORDS = (
    "apple river mountain teacher garden window music yellow quiet happy story morning friend ocean little "
    "bright forest letter animal summer winter circle number pencil basket travel kitchen rabbit market island "
    "silver planet candle bridge flower thunder blanket castle dragon engine feather harbor jungle lantern "
    "meadow orange pocket rocket shadow tiger violin wagon zebra"
).split()


TAKEN = set()


def free_port():
    """A port nothing listens on now, never one this script handed out before (the kernel may repeat one)."""
    while True:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port not in TAKEN:
            TAKEN.add(port)
            return port


def get(url, timeout=5):
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return response.read()


def post(url, body, timeout=120):
    request = urllib.request.Request(url, data=json.dumps(body).encode(), headers={"content-type": "application/json"})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return json.load(response)


def wait_healthy(url, process, seconds=180):
    deadline = time.time() + seconds
    while time.time() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"{url}: the process exited ({process.returncode}); see its log")
        try:
            get(url + "/health", timeout=2)
            return
        except Exception:
            time.sleep(0.2)
    raise SystemExit(f"{url} did not become healthy in {seconds} s")


def counters(url):
    """Sums of the replica's vLLM counters by name."""
    sums = {}
    for line in get(url + "/metrics").decode().splitlines():
        if line.startswith("vllm:"):
            name = line.split("{")[0].split(" ")[0]
            sums[name] = sums.get(name, 0.0) + float(line.rsplit(" ", 1)[1])
    return sums


class Cluster:
    """N replicas and a router; stopped (every process killed) on exit."""

    def __init__(self, args, replicas, policy, tokenizer, logs):
        self.processes = []
        self.replicas = []
        try:
            for i in range(replicas):
                port, events, replay = free_port(), free_port(), free_port()
                config = {"enable_kv_cache_events": True, "publisher": "zmq", "endpoint": f"tcp://*:{events}",
                          "replay_endpoint": f"tcp://127.0.0.1:{replay}", "topic": ""}
                command = [args.swerve, "serve", "--host", "127.0.0.1", "--port", str(port), "--threads", "1",
                           "--max-model-len", str(args.max_model_len), "--kv-cache-memory", str(args.kv_cache_memory),
                           "--kv-events-config", json.dumps(config)]
                log = open(os.path.join(logs, f"{policy}-{replicas}-replica{i}.log"), "w")
                self.processes.append(subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT))
                self.replicas.append((f"http://127.0.0.1:{port}", events, replay))
            for (url, _, _), process in zip(self.replicas, self.processes):
                wait_healthy(url, process)
            port, self.prometheus = free_port(), free_port()
            self.url = f"http://127.0.0.1:{port}"
            command = [os.path.join(os.path.dirname(sys.executable), "vllm-router"), "--host", "127.0.0.1",
                       "--port", str(port), "--policy", policy, "--worker-urls", *[u for u, _, _ in self.replicas],
                       "--prometheus-port", str(self.prometheus), "--log-level", args.router_log_level]
            if policy == "kv_aware":
                command += ["--kv-event-model", MODEL, "--kv-event-block-size", str(BLOCK)]
                for url, events, replay in self.replicas:
                    command += ["--kv-event-source", f"{url}=tcp://127.0.0.1:{events}",
                                "--kv-event-replay-source", f"{url}=tcp://127.0.0.1:{replay}"]
            log = open(os.path.join(logs, f"{policy}-{replicas}-router.log"), "w")
            environment = dict(os.environ, VLLM_ROUTER_TOKENIZER=tokenizer)
            self.processes.append(subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=environment))
            wait_healthy(self.url, self.processes[-1], seconds=60)
            time.sleep(1)  # the router's event subscriptions connect asynchronously
        except BaseException:
            self.stop()
            raise

    def stop(self):
        for process in self.processes:
            process.terminate()
        for process in self.processes:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def chat_prompt(system, user):
    return f"<|im_start|>system\n{system}<|im_end|>\n<|im_start|>user\n{user}<|im_end|>\n<|im_start|>assistant\n"


def system_prompts(tenants, tokens, tokenizer_path):
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(tokenizer_path)
    prompts = []
    for tenant in range(tenants):
        rng = random.Random(1000 + tenant)
        words = [f"You are assistant number {tenant} of the classroom."]
        text = words[0]
        while len(tokenizer.encode(text, add_special_tokens=False).ids) < tokens:
            words += [rng.choice(WORDS) for _ in range(32)]
            text = " ".join(words)
        prompts.append(text)
    return prompts


def workload(args, systems):
    rng = random.Random(args.seed)
    lines = []
    for round_ in range(args.rounds):
        order = list(range(len(systems)))
        rng.shuffle(order)
        for tenant in order:
            user = f"Turn {round_}: tell me about the {rng.choice(WORDS)} and the {rng.choice(WORDS)}."
            lines.append({"prompt": chat_prompt(systems[tenant], user), "output_tokens": args.output_tokens})
    return lines


def measure(args, replicas, policy, tokenizer, gguf, dataset, logs):
    cluster = Cluster(args, replicas, policy, tokenizer, logs)
    try:
        result = os.path.join(logs, f"{policy}-{replicas}-bench.json")
        command = [args.swerve, "bench", "serve", "--base-url", cluster.url, "--endpoint", "/v1/completions",
                   "--model", MODEL, "--tokenizer", gguf, "--dataset-name", "custom", "--dataset-path", dataset,
                   "--num-prompts", str(args.tenants * args.rounds), "--max-concurrency", str(args.concurrency),
                   "--save-result", "--result-filename", result, "--disable-tqdm"]
        if args.request_rate != "inf":
            command += ["--request-rate", args.request_rate, "--seed", str(args.seed)]
        with open(os.path.join(logs, f"{policy}-{replicas}-bench.log"), "w") as log:
            subprocess.run(command, stdout=log, stderr=subprocess.STDOUT, check=True)
        with open(result) as f:
            bench = json.load(f)
        per_replica = [counters(url) for url, _, _ in cluster.replicas]
        with open(os.path.join(logs, f"{policy}-{replicas}-router-metrics.txt"), "wb") as f:
            f.write(get(f"http://127.0.0.1:{cluster.prometheus}/metrics"))
    finally:
        cluster.stop()
    hits = sum(c.get("vllm:prefix_cache_hits_total", 0) for c in per_replica)
    queries = sum(c.get("vllm:prefix_cache_queries_total", 0) for c in per_replica)
    return {
        "replicas": replicas, "policy": policy,
        "prefix_cache_hit_rate": hits / queries if queries else 0.0,
        "mean_ttft_ms": bench["mean_ttft_ms"], "median_ttft_ms": bench["median_ttft_ms"],
        "request_throughput": bench["request_throughput"], "output_throughput": bench["output_throughput"],
        "completed": bench["completed"], "failed": bench["failed"],
        "requests_per_replica": [int(c.get("vllm:request_success_total", 0)) for c in per_replica],
    }


def affinity(args, tokenizer, logs):
    systems = system_prompts(args.tenants, args.system_tokens, tokenizer)
    cluster = Cluster(args, 2, "kv_aware", tokenizer, logs)
    checks = []
    try:
        urls = [url for url, _, _ in cluster.replicas]
        for tenant, system in enumerate(systems):
            before = [set(json.loads(get(u + "/kv_events/cached_blocks"))["block_hashes"]) for u in urls]
            # The first request goes straight to alternating replicas, so tenants are held on both: only the
            # router's reading of the KV events can send each second request to the right one.
            post(urls[tenant % 2] + "/v1/completions",
                 {"model": MODEL, "prompt": chat_prompt(system, "Hello!"), "max_tokens": 4})
            after = [set(json.loads(get(u + "/kv_events/cached_blocks"))["block_hashes"]) for u in urls]
            holder = max(range(2), key=lambda i: len(after[i] - before[i]))
            time.sleep(2)  # the events reach the router (slower on a loaded machine)
            start = [counters(u) for u in urls]
            answer = post(cluster.url + "/v1/completions",
                          {"model": MODEL, "prompt": chat_prompt(system, "And again?"), "max_tokens": 4})
            # A replica counts a success as the request finishes, which may come just after the answer arrives.
            deadline = time.time() + 10
            while True:
                end = [counters(u) for u in urls]
                finished = sum(end[i].get("vllm:request_success_total", 0) - start[i].get("vllm:request_success_total", 0)
                               for i in range(2))
                if finished >= 1 or time.time() > deadline:
                    break
                time.sleep(0.1)
            gained = [end[i].get("vllm:prefix_cache_hits_total", 0) - start[i].get("vllm:prefix_cache_hits_total", 0)
                      for i in range(2)]
            served = [end[i].get("vllm:request_success_total", 0) - start[i].get("vllm:request_success_total", 0)
                      for i in range(2)]
            expected = (args.system_tokens // BLOCK - 1) * BLOCK
            ok = served[holder] == 1 and served[1 - holder] == 0 and gained[holder] >= expected
            checks.append({"tenant": tenant, "holder": holder, "served": served, "hit_tokens": gained,
                           "cached_tokens": answer["usage"]["prompt_tokens_details"]["cached_tokens"], "ok": ok})
    finally:
        cluster.stop()
    print(json.dumps({"affinity": checks}))
    return all(c["ok"] for c in checks)


def request_rate(text):
    """A positive number of requests per second, or inf."""
    try:
        rate = float(text)
    except ValueError:
        rate = 0
    if not rate > 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive rate or inf")
    return "inf" if rate == float("inf") else text


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--swerve", default=os.path.join(ROOT, ".build/release/swerve"))
    parser.add_argument("--replicas", default="2,4", help="replica counts to run, comma-separated")
    parser.add_argument("--policies", default="round_robin,cache_aware,kv_aware")
    parser.add_argument("--tenants", type=int, default=16)
    parser.add_argument("--system-tokens", type=int, default=1500)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--output-tokens", type=int, default=8)
    parser.add_argument("--request-rate", default="0.3", type=request_rate,
                        help="Poisson arrivals per second, or inf to keep --concurrency requests in flight (a closed "
                             "loop); the default is below what round_robin sustains on 2 cores")
    parser.add_argument("--concurrency", type=int, default=16, help="most requests in flight (bench serve)")
    parser.add_argument("--kv-cache-memory", type=int, default=14000 * 23040,
                        help="each replica's KV pool in bytes (default: 14,000 tokens of SmolLM2's f16 KV)")
    parser.add_argument("--max-model-len", type=int, default=2048)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--router-log-level", default="warning", help="vllm-router's (debug logs each decision)")
    parser.add_argument("--affinity", action="store_true", help="the integration test's routing check")
    parser.add_argument("--output", help="write the results as JSON here")
    parser.add_argument("--logs", help="keep every process's log here (default: a temporary folder)")
    args = parser.parse_args()

    logs = args.logs or tempfile.mkdtemp(prefix="swerve-scale-out-")
    os.makedirs(logs, exist_ok=True)
    gguf = subprocess.run([args.swerve, "pull", MODEL], check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1]
    tokenizer = os.path.join(logs, "tokenizer.json")
    subprocess.run([sys.executable, os.path.join(ROOT, "scripts/gguf-tokenizer-json.py"), gguf, tokenizer], check=True)
    if args.affinity:
        sys.exit(0 if affinity(args, tokenizer, logs) else 1)

    dataset = os.path.join(logs, "tenants.jsonl")
    with open(dataset, "w") as f:
        for line in workload(args, system_prompts(args.tenants, args.system_tokens, tokenizer)):
            f.write(json.dumps(line) + "\n")
    rows = []
    for replicas in [int(n) for n in args.replicas.split(",")]:
        for policy in args.policies.split(","):
            row = measure(args, replicas, policy, tokenizer, gguf, dataset, logs)
            rows.append(row)
            print(json.dumps(row), flush=True)
    arrivals = (f"closed loop of {args.concurrency}" if args.request_rate == "inf"
                else f"Poisson arrivals at {args.request_rate}/s, at most {args.concurrency} in flight")
    print(f"\n{args.tenants} tenants x {args.system_tokens}-token system prompts, {args.rounds} rounds, {arrivals}, "
          f"KV pool {args.kv_cache_memory // 23040} tokens per replica (logs: {logs})\n")
    print("| replicas | policy | prefix-cache hit rate | mean TTFT (ms) | median TTFT (ms) | requests/s | output tok/s | failed | requests per replica |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for r in rows:
        print(f"| {r['replicas']} | {r['policy']} | {r['prefix_cache_hit_rate']:.1%} | {r['mean_ttft_ms']:.0f} | "
              f"{r['median_ttft_ms']:.0f} | {r['request_throughput']:.2f} | {r['output_throughput']:.1f} | "
              f"{r['failed']} | {r['requests_per_replica']} |")
    ok = all(r["failed"] == 0 for r in rows)
    for replicas in sorted({r["replicas"] for r in rows}):
        by = {r["policy"]: r for r in rows if r["replicas"] == replicas}
        if "round_robin" in by and "kv_aware" in by:
            rr, kv = by["round_robin"], by["kv_aware"]
            hit_ratio = kv["prefix_cache_hit_rate"] / max(rr["prefix_cache_hit_rate"], 1e-9)
            ttft_ratio = kv["mean_ttft_ms"] / rr["mean_ttft_ms"]
            print(f"\n{replicas} replicas: kv_aware / round_robin hit rate {hit_ratio:.2f}x (target >= 1.5), "
                  f"mean TTFT {ttft_ratio:.2f}x (target <= 0.6)")
            ok = ok and hit_ratio >= 1.5 and ttft_ratio <= 0.6
    if args.output:
        with open(args.output, "w") as f:
            json.dump(rows, f, indent=1)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
