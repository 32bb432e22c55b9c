#!/usr/bin/env python3
"""How vllm-router's kv_aware policy reads a KV event's `medium` (the strings the README's "Tiered KV cache"
section names). Two `swerve serve` replicas (events off) sit behind a fresh vllm-router per trial; a PUB
socket per replica, written here, stands in for its events and announces one prefix's blocks for one
replica only, under a medium; the request for that prefix is then sent through the router, and the replica
whose request counter grew is the router's choice. Each medium runs with its penalty flag at 0 and at 1:
a medium the penalty governs flips between the other replica and the holder. The other replica announces the
prefix's first half in "GPU", so no decision is a tie: it wins unless the holder's blocks earn more than half
their credit. "SEQ" announces the blocks in
GPU, then in CPU, then removes them from GPU (does the host copy still count?); "SEQ2" removes them from
GPU before storing them in CPU.

Run with the scale-out venv (scripts/scale-out makes it) after `swift build -c release --product swerve`:
    .venv-router/bin/python scripts/router-medium-probe.py
"""
import os, struct, subprocess, sys, tempfile, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "scripts"))
import scale_out as so  # noqa: E402
import msgpack  # noqa: E402
import zmq  # noqa: E402
from tokenizers import Tokenizer  # noqa: E402

swerve = os.path.join(ROOT, ".build/release/swerve")
gguf = subprocess.run([swerve, "pull", "smollm2-135m"], capture_output=True, text=True, check=True).stdout.strip().splitlines()[-1]
logs = tempfile.mkdtemp(prefix="swerve-medium-probe-")
tok_path = os.path.join(logs, "tokenizer.json")
subprocess.run([sys.executable, os.path.join(ROOT, "scripts/gguf-tokenizer-json.py"), gguf, tok_path], check=True)
tokenizer = Tokenizer.from_file(tok_path)
workers = []
procs = []
for i in range(2):
    port = so.free_port()
    p = subprocess.Popen([swerve, "serve", "--host", "127.0.0.1", "--port", str(port), "--threads", "1",
                          "--max-model-len", "2048"], stdout=open(f"{logs}/w{i}.log", "w"), stderr=subprocess.STDOUT)
    procs.append(p)
    workers.append(f"http://127.0.0.1:{port}")
for u, p in zip(workers, procs):
    so.wait_healthy(u, p)

system = " ".join(so.WORDS * 12)
prompt = so.chat_prompt(system, "Hello there!")
ids = tokenizer.encode(prompt, add_special_tokens=False).ids
full = len(ids) // 16 * 16
print("prompt tokens", len(ids), "full", full, flush=True)
ctx = zmq.Context()

def served(url):
    return so.counters(url).get("vllm:request_success_total", 0)

def trial(medium, credit_flag, credit, holder):
    ports = [so.free_port(), so.free_port()]
    pubs = []
    for port in ports:
        s = ctx.socket(zmq.PUB)
        s.bind(f"tcp://127.0.0.1:{port}")
        pubs.append(s)
    rport, prom = so.free_port(), so.free_port()
    cmd = [os.path.join(os.path.dirname(sys.executable), "vllm-router"), "--host", "127.0.0.1", "--port", str(rport),
           "--policy", "kv_aware", "--worker-urls", *workers, "--prometheus-port", str(prom),
           "--kv-event-model", so.MODEL, "--kv-event-block-size", "16", "--log-level", "debug"]
    for u, port in zip(workers, ports):
        cmd += ["--kv-event-source", f"{u}=tcp://127.0.0.1:{port}"]
    if credit_flag:
        cmd += [credit_flag, str(credit)]
    log = open(f"{logs}/router-{medium}-{credit}-{holder}.log", "w")
    r = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=dict(os.environ, VLLM_ROUTER_TOKENIZER=tok_path))
    try:
        so.wait_healthy(f"http://127.0.0.1:{rport}", r, 60)
        time.sleep(1.5)
        if holder is not None:
            hashes = list(range(1000, 1000 + full // 16))
            event = {"type": "BlockStored", "block_hashes": hashes, "parent_block_hash": None,
                     "token_ids": ids[:full], "block_size": 16, "lora_id": None, "medium": medium, "lora_name": None}
            cpu = dict(event, medium="CPU")
            removed = {"type": "BlockRemoved", "block_hashes": hashes, "medium": "GPU", "lora_id": None}
            sequence = {"SEQ": [dict(event, medium="GPU"), cpu, removed],
                        "SEQ2": [dict(event, medium="GPU"), removed, cpu]}.get(medium, [event])
            payload = msgpack.packb([time.time(), sequence, None])
            pubs[holder].send_multipart([b"", struct.pack(">q", 0), payload])
            # The other replica holds the first half in GPU: no tie to break, it wins unless the holder's
            # whole prefix earns more than half its credit.
            half = len(hashes) // 2
            rival = dict(event, block_hashes=list(range(5000, 5000 + half)), token_ids=ids[:16 * half], medium="GPU")
            pubs[1 - holder].send_multipart([b"", struct.pack(">q", 0), msgpack.packb([time.time(), [rival], None])])
            time.sleep(2.0)
        before = [served(u) for u in workers]
        so.post(f"http://127.0.0.1:{rport}/v1/completions", {"model": so.MODEL, "prompt": prompt, "max_tokens": 2})
        time.sleep(1.0)
        after = [served(u) for u in workers]
        target = [i for i in range(2) if after[i] > before[i]]
        return target[0] if target else None
    finally:
        r.terminate(); r.wait()
        for s in pubs: s.close(0)

try:
    other = 1
    print("logs in", logs, flush=True)
    for medium, flag in [("GPU", None), ("CPU", "--kv-penalty-host"), ("cpu", "--kv-penalty-host"),
                         ("CPU_POOL", "--kv-penalty-host"), ("DISK", "--kv-penalty-disk"),
                         ("disk", "--kv-penalty-disk"), ("LOCAL_FILE", "--kv-penalty-disk"), ("BOGUS", None),
                         ("SEQ", "--kv-penalty-host"), ("SEQ2", "--kv-penalty-host")]:
        results = []
        for credit in ([0.0, 1.0] if flag else [None]):
            results.append((credit, trial(medium, flag, credit, other)))
        print(f"{medium}: {flag or 'no flag'} -> " + ", ".join(f"{c}: replica {t}" for c, t in results)
              + f" (the holder is replica {other})", flush=True)
finally:
    for p in procs:
        p.terminate(); p.wait()
