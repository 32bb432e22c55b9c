#!/usr/bin/env python3
"""Writes a Hugging Face checkpoint directory from a llama-architecture GGUF file (SmolLM2): every tensor
dequantized by the `gguf` package to float16 safetensors under Hugging Face's names, q/k rows put back in
Hugging Face's half-split RoPE layout (the inverse of llama.cpp's converter), config.json from the metadata,
tokenizer.json from the vocabulary (scripts/gguf-tokenizer-json.py), tokenizer_config.json with the chat
template and special tokens. The seed launched SmolLM2 from such a checkpoint with `--dtype float16`; the
tests load this one through Swerve's checkpoint reader and compare it with the GGUF.

    scripts/gguf-to-checkpoint.py MODEL.gguf OUT_DIR

Needs the `gguf` package (and numpy); the safetensors file is written directly (its format is a JSON header).
"""
import json
import os
import struct
import subprocess
import sys

import numpy as np
from gguf import GGUFReader
from gguf.quants import dequantize

HERE = os.path.dirname(os.path.abspath(__file__))


def field(reader, key, default=None):
    f = reader.fields.get(key)
    if f is None:
        return default
    value = f.parts[f.data[0]]
    if f.types[0].name == "STRING":
        return bytes(value).decode("utf-8")
    return value.tolist()[0]


def unpermute(rows, heads):
    """GGUF's adjacent RoPE pairs back to Hugging Face's halves (inverse of llama.cpp's permute)."""
    d = rows.shape[0] // heads
    return rows.reshape(heads, d // 2, 2, *rows.shape[1:]).swapaxes(1, 2).reshape(rows.shape)


LAYER = {
    "attn_norm.weight": "input_layernorm.weight", "attn_q.weight": "self_attn.q_proj.weight",
    "attn_k.weight": "self_attn.k_proj.weight", "attn_v.weight": "self_attn.v_proj.weight",
    "attn_output.weight": "self_attn.o_proj.weight", "ffn_norm.weight": "post_attention_layernorm.weight",
    "ffn_gate.weight": "mlp.gate_proj.weight", "ffn_up.weight": "mlp.up_proj.weight",
    "ffn_down.weight": "mlp.down_proj.weight",
}


def main():
    src, out = sys.argv[1], sys.argv[2]
    os.makedirs(out, exist_ok=True)
    reader = GGUFReader(src)
    arch = field(reader, "general.architecture")
    if arch != "llama":
        raise SystemExit(f"{src}: architecture {arch!r}; this script writes llama checkpoints")
    heads = field(reader, "llama.attention.head_count")
    kv_heads = field(reader, "llama.attention.head_count_kv", heads)
    tensors, tied = {}, True
    for t in reader.tensors:
        values = dequantize(t.data, t.tensor_type).reshape([int(x) for x in reversed(t.shape)]).astype(np.float32)
        if t.name == "token_embd.weight":
            name = "model.embed_tokens.weight"
        elif t.name == "output_norm.weight":
            name = "model.norm.weight"
        elif t.name == "output.weight":
            name, tied = "lm_head.weight", False
        else:
            _, layer, rest = t.name.split(".", 2)
            if rest == "attn_q.weight":
                values = unpermute(values, heads)
            elif rest == "attn_k.weight":
                values = unpermute(values, kv_heads)
            name = f"model.layers.{layer}.{LAYER[rest]}"
        tensors[name] = values.astype(np.float16)
    header, offset = {}, 0
    for name in sorted(tensors):
        size = tensors[name].nbytes
        header[name] = {"dtype": "F16", "shape": list(tensors[name].shape), "data_offsets": [offset, offset + size]}
        offset += size
    encoded = json.dumps(header).encode()
    encoded += b" " * (-len(encoded) % 8)
    with open(os.path.join(out, "model.safetensors"), "wb") as f:
        f.write(struct.pack("<Q", len(encoded)))
        f.write(encoded)
        for name in sorted(tensors):
            f.write(tensors[name].tobytes())
    tokens = [bytes(reader.fields["tokenizer.ggml.tokens"].parts[i]).decode() for i in reader.fields["tokenizer.ggml.tokens"].data]
    bos, eos = field(reader, "tokenizer.ggml.bos_token_id"), field(reader, "tokenizer.ggml.eos_token_id")
    config = {
        "architectures": ["LlamaForCausalLM"], "model_type": "llama",
        "hidden_size": field(reader, "llama.embedding_length"),
        "intermediate_size": field(reader, "llama.feed_forward_length"),
        "num_hidden_layers": field(reader, "llama.block_count"),
        "num_attention_heads": heads, "num_key_value_heads": kv_heads,
        "max_position_embeddings": field(reader, "llama.context_length"),
        "rms_norm_eps": field(reader, "llama.attention.layer_norm_rms_epsilon"),
        "rope_theta": field(reader, "llama.rope.freq_base", 10000.0), "rope_scaling": None,
        "vocab_size": len(tokens), "tie_word_embeddings": tied, "hidden_act": "silu",
        "attention_bias": False, "mlp_bias": False, "bos_token_id": bos, "eos_token_id": eos,
        "torch_dtype": "float16",
    }
    with open(os.path.join(out, "config.json"), "w") as f:
        json.dump(config, f, indent=2)
    subprocess.run([sys.executable, os.path.join(HERE, "gguf-tokenizer-json.py"), src,
                    os.path.join(out, "tokenizer.json")], check=True)
    tokenizer_config = {
        "bos_token": tokens[bos] if bos is not None else None, "eos_token": tokens[eos] if eos is not None else None,
        "add_bos_token": bool(field(reader, "tokenizer.ggml.add_bos_token", False)),
        "chat_template": field(reader, "tokenizer.chat_template"),
    }
    with open(os.path.join(out, "tokenizer_config.json"), "w") as f:
        json.dump(tokenizer_config, f, ensure_ascii=False, indent=2)


if __name__ == "__main__":
    main()
