#!/usr/bin/env python3
"""How far llama.cpp's own last-position logits move between execution modes on the forward-pass fixture's prompts.

Compares the fixture's mode (one batched eval, 2 threads, flash attention off) with 1 thread, token-by-token
evaluation, and flash attention on. The spread is the noise floor a reimplementation is judged against
(Tests/ReferenceBackendTests/ReferenceBackendTests.swift).

Run: ~/.cache/swerve-peers/venv/bin/python scripts/llamacpp-noise-floor.py "$(swerve pull smollm2-135m --quiet)"
"""
import json, os, sys
import numpy as np
from llama_cpp import Llama

MODEL = sys.argv[1]
FIXTURE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Tests", "TestSupport", "Fixtures", "llamacpp-greedy.json")

def last_logits(ids, threads=2, token_by_token=False, flash_attn=False):
    llm = Llama(MODEL, n_ctx=1024, n_batch=512, n_threads=threads, logits_all=True, flash_attn=flash_attn, verbose=False)
    llm.reset()
    if token_by_token:
        for t in ids:
            llm.eval([t])
    else:
        llm.eval(ids)
    return np.array(llm.scores[llm.n_tokens - 1], dtype=np.float32)

cases = [c for c in json.load(open(FIXTURE))["cases"] if c["model"] == "smollm2-135m" and c["kind"] != "pika"]
for case in cases:
    base = last_logits(case["prompt_ids"])
    for name, kwargs in [("1 thread", {"threads": 1}), ("token by token", {"token_by_token": True}), ("flash attention on", {"flash_attn": True})]:
        diff = last_logits(case["prompt_ids"], **kwargs) - base
        print(f"{case['kind']:9} {name:19} std {diff.std():.3f}  max {np.abs(diff).max():.3f}")
