#!/usr/bin/env python3
"""Builds a tiny random-weight model of each architecture Swerve serves beyond llama and gemma3, and records
what two referees compute on it (their outputs only; no code of theirs is committed).

For each architecture:
1. `transformers` makes the model from a config (seeded; weights drawn wider than its default so greedy
   choices are rarely near-ties).
2. Every matrix is quantized to Q8_0 with the `gguf` package and dequantized back into the model, so the
   checkpoint transformers runs and the GGUF Swerve and llama.cpp run hold the same weights.
3. The GGUF is written with the `gguf` package under llama.cpp's names for the architecture (as its
   convert_hf_to_gguf.py names them), with a byte-level BPE vocabulary of the 256 bytes and a few merges
   (the tests feed token ids; the vocabulary only has to load).
4. For seeded random prompts: transformers' last-position logits and greedy 32-token continuation, and
   llama.cpp's (llama-cpp-python, n_threads=2) on the GGUF.

Writes Tests/TestSupport/Fixtures/arch-<name>.gguf, the same weights as a Hugging Face checkpoint
(arch-<name>-hf/: config.json, float32 model.safetensors, tokenizer.json, tokenizer_config.json), and
arch-fixtures.json.
Run: scripts/make-arch-fixtures (installs the peers and CPU torch + transformers first).
"""
import json, os, sys

import numpy as np
import torch
import transformers
import gguf
from gguf.quants import quantize, dequantize
from llama_cpp import Llama, __version__ as llama_cpp_version

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "Tests/TestSupport/Fixtures")
Q8 = gguf.GGMLQuantizationType.Q8_0
VOCAB = 320
GREEDY = 32

# name -> (transformers config class and model class, config fields, GGUF extras)
ARCHITECTURES = {
    "llama": dict(
        config=transformers.LlamaConfig,
        fields=dict(hidden_size=128, intermediate_size=256, num_hidden_layers=2, num_attention_heads=4,
                    num_key_value_heads=2, rope_theta=10_000.0, rms_norm_eps=1e-5, tie_word_embeddings=False,
                    max_position_embeddings=512),
        head_dim=32,
    ),
    "qwen2": dict(
        config=transformers.Qwen2Config,
        fields=dict(hidden_size=128, intermediate_size=256, num_hidden_layers=2, num_attention_heads=4,
                    num_key_value_heads=2, rope_theta=1_000_000.0, rms_norm_eps=1e-6, tie_word_embeddings=True,
                    max_position_embeddings=512, use_sliding_window=False),
        head_dim=32,
    ),
    "qwen3": dict(
        config=transformers.Qwen3Config,
        fields=dict(hidden_size=128, intermediate_size=256, num_hidden_layers=2, num_attention_heads=4,
                    num_key_value_heads=2, head_dim=64, rope_theta=1_000_000.0, rms_norm_eps=1e-6,
                    tie_word_embeddings=False, max_position_embeddings=512, attention_bias=False),
        head_dim=64,
    ),
    "phi3": dict(
        config=transformers.Phi3Config,
        fields=dict(hidden_size=128, intermediate_size=256, num_hidden_layers=2, num_attention_heads=4,
                    num_key_value_heads=2, rope_theta=10_000.0, rms_norm_eps=1e-5, tie_word_embeddings=False,
                    max_position_embeddings=512, original_max_position_embeddings=512, sliding_window=None,
                    pad_token_id=0),
        head_dim=32,
    ),
    # Small caps and window so that each shows on a tiny model (Gemma 2 2B's are 50, 30 and 4,096).
    "gemma2": dict(
        config=transformers.Gemma2Config,
        fields=dict(hidden_size=128, intermediate_size=256, num_hidden_layers=2, num_attention_heads=4,
                    num_key_value_heads=2, head_dim=64, query_pre_attn_scalar=64, rope_theta=10_000.0,
                    rms_norm_eps=1e-6, tie_word_embeddings=True, max_position_embeddings=512, sliding_window=8,
                    attn_logit_softcapping=10.0, final_logit_softcapping=5.0,
                    hidden_activation="gelu_pytorch_tanh", pad_token_id=0),
        head_dim=64,
        extra=lambda w: (w.add_sliding_window(8), w.add_attn_logit_softcapping(10.0),
                         w.add_final_logit_softcapping(5.0)),
    ),
}

# Hugging Face tensor names (per layer) -> llama.cpp's.
LAYER_NAMES = {
    "input_layernorm.weight": "attn_norm.weight",
    "self_attn.q_proj.weight": "attn_q.weight",
    "self_attn.k_proj.weight": "attn_k.weight",
    "self_attn.v_proj.weight": "attn_v.weight",
    "self_attn.q_proj.bias": "attn_q.bias",
    "self_attn.k_proj.bias": "attn_k.bias",
    "self_attn.v_proj.bias": "attn_v.bias",
    "self_attn.o_proj.weight": "attn_output.weight",
    "self_attn.qkv_proj.weight": "attn_qkv.weight",
    "mlp.gate_up_proj.weight": "ffn_up.weight",
    "self_attn.q_norm.weight": "attn_q_norm.weight",
    "self_attn.k_norm.weight": "attn_k_norm.weight",
    "post_attention_layernorm.weight": "ffn_norm.weight",
    "pre_feedforward_layernorm.weight": "ffn_norm.weight",
    "post_feedforward_layernorm.weight": "post_ffw_norm.weight",
    "mlp.gate_proj.weight": "ffn_gate.weight",
    "mlp.up_proj.weight": "ffn_up.weight",
    "mlp.down_proj.weight": "ffn_down.weight",
}


def gguf_name(hf, arch=None):
    if hf == "model.embed_tokens.weight":
        return "token_embd.weight"
    if hf == "model.norm.weight":
        return "output_norm.weight"
    if hf == "lm_head.weight":
        return "output.weight"
    parts = hf.split(".")
    assert parts[0] == "model" and parts[1] == "layers", hf
    suffix = ".".join(parts[3:])
    if arch == "gemma2" and suffix == "post_attention_layernorm.weight":
        return f"blk.{parts[2]}.post_attention_norm.weight"  # Gemma's sandwich norms
    return f"blk.{parts[2]}." + LAYER_NAMES[suffix]


def byte_level_vocabulary():
    """The 256 bytes in GPT-2's byte-level alphabet, a few merges, padded with control tokens to VOCAB."""
    printable = list(range(33, 127)) + list(range(161, 173)) + list(range(174, 256))
    mapping, extra = {}, 0
    for b in range(256):
        if b in printable:
            mapping[b] = chr(b)
        else:
            mapping[b] = chr(256 + extra)
            extra += 1
    tokens = [mapping[b] for b in range(256)]
    merges = ["Ġ t", "h e", "i n", "Ġt he", "a n"]
    tokens += [m.replace(" ", "") for m in merges]
    types = [1] * len(tokens)
    while len(tokens) < VOCAB:
        tokens.append(f"<|ctl{len(tokens)}|>")
        types.append(3)
    return tokens, types, merges


def permute_rope_rows(data, heads):
    """Llama's q/k rows from Hugging Face's half-split RoPE layout to GGUF's adjacent pairs, as llama.cpp's
    converter reorders them."""
    return data.reshape(heads, 2, data.shape[0] // heads // 2, *data.shape[1:]).swapaxes(1, 2).reshape(data.shape)


def tokenizer_files(directory, tokens, types, merges):
    """tokenizer.json (byte-level BPE, control tokens as special added tokens) and tokenizer_config.json."""
    byte_level = {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True}
    document = {
        "version": "1.0", "truncation": None, "padding": None, "normalizer": None, "pre_tokenizer": byte_level,
        "post_processor": None, "decoder": byte_level,
        "added_tokens": [{"id": i, "content": t, "single_word": False, "lstrip": False, "rstrip": False,
                          "normalized": False, "special": True} for i, (t, k) in enumerate(zip(tokens, types)) if k == 3],
        "model": {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": None,
                  "end_of_word_suffix": None, "fuse_unk": False, "byte_fallback": False, "ignore_merges": False,
                  "vocab": {t: i for i, t in enumerate(tokens) if types[i] == 1}, "merges": merges},
    }
    with open(os.path.join(directory, "tokenizer.json"), "w", encoding="utf-8") as f:
        json.dump(document, f, ensure_ascii=False)
    with open(os.path.join(directory, "tokenizer_config.json"), "w") as f:
        json.dump({"bos_token": tokens[VOCAB - 2], "eos_token": tokens[VOCAB - 1], "add_bos_token": False}, f)


def build(name, spec, seed):
    torch.manual_seed(seed)
    config = spec["config"](vocab_size=VOCAB, initializer_range=0.25, bos_token_id=VOCAB - 2,
                            eos_token_id=VOCAB - 1, **spec["fields"])
    config._attn_implementation = "eager"
    model = transformers.AutoModelForCausalLM.from_config(config, torch_dtype=torch.float32).eval()
    with torch.no_grad():
        for hf, tensor in model.named_parameters():
            if hf.endswith("norm.weight") or hf.endswith("layernorm.weight"):
                tensor.copy_(1 + 0.2 * torch.randn_like(tensor))
            elif hf.endswith(".bias"):
                tensor.copy_(0.5 * torch.randn_like(tensor))
    path = os.path.join(OUT, f"arch-{name}.gguf")
    writer = gguf.GGUFWriter(path, name)
    f = spec["fields"]
    writer.add_name("swerve tiny random model")  # a name with "phi3" in it makes llama.cpp look for Phi-3 tokens
    writer.add_block_count(f["num_hidden_layers"])
    writer.add_context_length(f["max_position_embeddings"])
    writer.add_embedding_length(f["hidden_size"])
    writer.add_feed_forward_length(f["intermediate_size"])
    writer.add_head_count(f["num_attention_heads"])
    writer.add_head_count_kv(f["num_key_value_heads"])
    writer.add_rope_freq_base(f["rope_theta"])
    writer.add_layer_norm_rms_eps(f["rms_norm_eps"])
    if "extra" in spec:
        spec["extra"](writer)
    if spec["head_dim"] * f["num_attention_heads"] != f["hidden_size"]:
        writer.add_key_length(spec["head_dim"])
        writer.add_value_length(spec["head_dim"])
    tokens, types, merges = byte_level_vocabulary()
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre("gpt-2")
    writer.add_token_list(tokens)
    writer.add_token_types(types)
    writer.add_token_merges(merges)
    writer.add_bos_token_id(VOCAB - 2)
    writer.add_eos_token_id(VOCAB - 1)
    writer.add_add_bos_token(False)
    with torch.no_grad():
        for hf, tensor in model.state_dict().items():
            if hf == "lm_head.weight" and f["tie_word_embeddings"]:
                continue
            data = tensor.float().numpy()
            if data.ndim == 2:
                same = dequantize(quantize(data, Q8), Q8).reshape(data.shape)
                tensor.copy_(torch.from_numpy(same))  # transformers runs exactly what the GGUF holds
                if name == "llama" and (hf.endswith("q_proj.weight") or hf.endswith("k_proj.weight")):
                    heads = f["num_attention_heads"] if hf.endswith("q_proj.weight") else f["num_key_value_heads"]
                    same = permute_rope_rows(same, heads)
                writer.add_tensor(gguf_name(hf, name), quantize(same, Q8), raw_dtype=Q8)
            elif name == "gemma2" and hf.endswith("norm.weight"):
                writer.add_tensor(gguf_name(hf, name), (data + 1).astype(np.float32))  # Gemma's x * (1 + w)
            else:
                writer.add_tensor(gguf_name(hf, name), data.astype(np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    # The same weights as a Hugging Face checkpoint (float32 safetensors), for Swerve's checkpoint loader.
    checkpoint = os.path.join(OUT, f"arch-{name}-hf")
    model.save_pretrained(checkpoint, safe_serialization=True)
    for extra in ("generation_config.json",):
        if os.path.exists(os.path.join(checkpoint, extra)):
            os.remove(os.path.join(checkpoint, extra))
    tokenizer_files(checkpoint, tokens, types, merges)
    return model, path


def transformers_reference(model, ids):
    with torch.no_grad():
        logits = model(torch.tensor([ids])).logits[0, -1].numpy()
        generated, sequence = [], list(ids)
        for _ in range(GREEDY):
            step = model(torch.tensor([sequence])).logits[0, -1].numpy()
            nxt = int(np.argmax(step))
            generated.append(nxt)
            sequence.append(nxt)
    return logits, generated


def llama_cpp_reference(path, ids):
    llm = Llama(path, n_ctx=256, n_batch=256, n_threads=2, logits_all=True, verbose=False)
    llm.eval(ids)
    logits = np.array(llm.scores[llm.n_tokens - 1], dtype=np.float32)
    generated = []
    for _ in range(GREEDY):
        nxt = int(np.argmax(llm.scores[llm.n_tokens - 1]))
        generated.append(nxt)
        llm.eval([nxt])
    return logits, generated


def main():
    """Builds every architecture, or only those named on the command line (their cases replace theirs in
    the existing arch-fixtures.json; the others' prompts are still drawn, so each keeps its own)."""
    only = set(sys.argv[1:])
    os.makedirs(OUT, exist_ok=True)
    previous = []
    if only:
        with open(os.path.join(OUT, "arch-fixtures.json")) as f:
            previous = [c for c in json.load(f)["cases"] if c["architecture"] not in only]
    out = {
        "generator": f"transformers {transformers.__version__} (torch {torch.__version__}, float32, eager "
                     f"attention), llama-cpp-python {llama_cpp_version} (n_threads=2); greedy argmax, "
                     f"{GREEDY} tokens",
        "cases": [],
    }
    rng = np.random.default_rng(7)
    for seed, (name, spec) in enumerate(ARCHITECTURES.items(), start=1):
        prompts = [[int(i) for i in rng.integers(0, VOCAB - 2, size=length)] for length in (5, 23, 61)]
        if only and name not in only:
            continue
        model, path = build(name, spec, seed)
        for ids in prompts:
            length = len(ids)
            hf_logits, hf_greedy = transformers_reference(model, ids)
            cpp_logits, cpp_greedy = llama_cpp_reference(path, ids)
            out["cases"].append({
                "architecture": name, "file": os.path.basename(path), "prompt_ids": ids,
                "transformers_logits": [round(float(x), 5) for x in hf_logits],
                "transformers_greedy": hf_greedy,
                "llamacpp_logits": [round(float(x), 5) for x in cpp_logits],
                "llamacpp_greedy": cpp_greedy,
            })
            diff = hf_logits - cpp_logits
            print(f"{name} prompt {length}: referees differ by std {diff.std():.4f} max {abs(diff).max():.4f}; "
                  f"greedy equal {sum(a == b for a, b in zip(hf_greedy, cpp_greedy))}/{GREEDY}", file=sys.stderr)
    order = list(ARCHITECTURES)
    out["cases"] = sorted(previous + out["cases"], key=lambda c: order.index(c["architecture"]))
    with open(os.path.join(OUT, "arch-fixtures.json"), "w") as f:
        json.dump(out, f, separators=(",", ":"))
        f.write("\n")


if __name__ == "__main__":
    main()
