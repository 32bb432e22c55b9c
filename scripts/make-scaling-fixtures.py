#!/usr/bin/env python3
"""Tiny random-weight Hugging Face checkpoints whose attention differs from the plain llama block's in ways
config.json sets: Mistral's sliding window on every layer, linear RoPE scaling, Llama 3's smoothed RoPE
scaling, Phi-3's LongRoPE and YaRN (on Qwen2, as Qwen2.5's long-context setting); and what transformers computes on them (its outputs only; no code of its is committed).

transformers is the only referee here: llama.cpp's converter keeps these settings as GGUF metadata or a
`rope_freqs` tensor, which Swerve's checkpoint loader writes the same way, but llama.cpp itself does not
apply a sliding window to a llama-architecture file. The weights are saved as float16 (exact in float32),
transformers runs them in float32, and Swerve loads them as float16 (`--dtype auto`), so both run the same
weights with float activations.

Writes Tests/TestSupport/Fixtures/scaled-<name>-hf/ (config.json, model.safetensors, tokenizer files) and
scaled-fixtures.json: for seeded random prompts, transformers' last-position logits and greedy 32 tokens.
Run with the peers' Python after scripts/make-arch-fixtures has installed torch and transformers there:
    ~/.cache/swerve-peers/venv/bin/python scripts/make-scaling-fixtures.py
"""
import importlib.util, json, os, sys

import numpy as np
import torch
import transformers

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
spec = importlib.util.spec_from_file_location("arch", os.path.join(ROOT, "scripts/make-arch-fixtures.py"))
arch = importlib.util.module_from_spec(spec)
spec.loader.exec_module(arch)

COMMON = dict(hidden_size=128, intermediate_size=256, num_hidden_layers=2, num_attention_heads=4,
              num_key_value_heads=2, rms_norm_eps=1e-5, tie_word_embeddings=False, max_position_embeddings=512)
MODELS = {
    "mistral-window": (transformers.MistralConfig,
                       dict(COMMON, sliding_window=8, rope_parameters=dict(rope_type="default", rope_theta=10_000.0))),
    "llama-linear": (transformers.LlamaConfig,
                     dict(COMMON, rope_parameters=dict(rope_type="linear", factor=4.0, rope_theta=10_000.0))),
    "llama-llama3": (transformers.LlamaConfig,
                     dict(COMMON, rope_parameters=dict(rope_type="llama3", factor=8.0, low_freq_factor=1.0,
                                                       high_freq_factor=4.0, original_max_position_embeddings=64,
                                                       rope_theta=10_000.0))),
    # Phi-3's LongRoPE with an original context of 16: prompts of 23 and 61 run on the long factors; the
    # last case, 5 tokens and 11 greedy steps (positions below 16), on the short ones.
    "phi3-longrope": (transformers.Phi3Config,
                      dict(COMMON, original_max_position_embeddings=16, sliding_window=None, pad_token_id=0,
                           rope_parameters=dict(rope_type="longrope", rope_theta=10_000.0,
                                                original_max_position_embeddings=16,
                                                long_factor=[1.0 + 0.5 * i for i in range(16)],
                                                short_factor=[1.0 + 0.05 * i for i in range(16)]))),
    "qwen2-yarn": (transformers.Qwen2Config,
                   dict(COMMON, use_sliding_window=False,
                        rope_parameters=dict(rope_type="yarn", factor=8.0, original_max_position_embeddings=64,
                                             rope_theta=10_000.0))),
}


def build(name, config_class, fields, seed):
    torch.manual_seed(seed)
    config = config_class(vocab_size=arch.VOCAB, initializer_range=0.25, bos_token_id=arch.VOCAB - 2,
                          eos_token_id=arch.VOCAB - 1, **fields)
    config._attn_implementation = "eager"
    model = transformers.AutoModelForCausalLM.from_config(config, torch_dtype=torch.float32).eval()
    with torch.no_grad():
        for hf, tensor in model.named_parameters():
            if hf.endswith("norm.weight") or hf.endswith("layernorm.weight"):
                tensor.copy_(1 + 0.2 * torch.randn_like(tensor))
    directory = os.path.join(arch.OUT, f"scaled-{name}-hf")
    model.half().save_pretrained(directory, safe_serialization=True)
    model.float()  # float16 values, run in float32
    if os.path.exists(os.path.join(directory, "generation_config.json")):
        os.remove(os.path.join(directory, "generation_config.json"))
    tokens, types, merges = arch.byte_level_vocabulary()
    arch.tokenizer_files(directory, tokens, types, merges)
    return model


def main():
    out = {"generator": f"transformers {transformers.__version__} (torch {torch.__version__}, float16 weights run "
                        f"in float32, eager attention); greedy argmax, {arch.GREEDY} tokens", "cases": []}
    rng = np.random.default_rng(11)
    for seed, (name, (config_class, fields)) in enumerate(MODELS.items(), start=21):
        model = build(name, config_class, fields, seed)
        lengths = (23, 61, 5) if name == "phi3-longrope" else (23, 61)
        for length in lengths:
            ids = [int(i) for i in rng.integers(0, arch.VOCAB - 2, size=length)]
            logits, greedy = arch.transformers_reference(model, ids)
            if length + arch.GREEDY > 16 and length < 16 and name == "phi3-longrope":
                greedy = greedy[:16 - length]  # stays within the original context: short factors throughout
            out["cases"].append({"model": name, "directory": f"scaled-{name}-hf", "prompt_ids": ids,
                                 "transformers_logits": [round(float(x), 5) for x in logits],
                                 "transformers_greedy": greedy})
            print(f"{name} prompt {length}: greedy {greedy[:8]}...", file=sys.stderr)
    with open(os.path.join(arch.OUT, "scaled-fixtures.json"), "w") as f:
        json.dump(out, f, separators=(",", ":"))
        f.write("\n")


if __name__ == "__main__":
    main()
