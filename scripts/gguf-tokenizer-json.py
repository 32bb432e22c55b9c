#!/usr/bin/env python3
"""Writes a Hugging Face `tokenizer.json` for a GGUF file's byte-level BPE tokenizer (tokenizer.ggml.model
"gpt2"), from the vocabulary and merges the GGUF carries, for tools that tokenize on their own side, such as
vllm-router's kv_aware policy (VLLM_ROUTER_TOKENIZER=path/to/tokenizer.json) when the model's Hub repository
cannot be reached. Control tokens become special added tokens. The pre-tokenizer follows the GGUF's
`tokenizer.ggml.pre`: "smollm" (SmolLM2) splits digits one by one before GPT-2's byte-level split.

    scripts/gguf-tokenizer-json.py MODEL.gguf OUT/tokenizer.json [--check "some text"]

--check encodes the texts with the `tokenizers` package and prints the ids (compare with Swerve's /tokenize).
Needs the `gguf` package (and `tokenizers` for --check).
"""
import argparse
import json

from gguf import GGUFReader


def field(reader, key):
    f = reader.fields.get(key)
    if f is None:
        return None
    values = [f.parts[i] for i in f.data]
    if f.types[0].name == "STRING":
        return [bytes(v).decode("utf-8") for v in values]
    if f.types[0].name == "ARRAY" and f.types[-1].name == "STRING":
        return [bytes(v).decode("utf-8") for v in values]
    return [v.tolist()[0] for v in values]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("gguf")
    parser.add_argument("out")
    parser.add_argument("--check", action="append", default=[])
    args = parser.parse_args()
    reader = GGUFReader(args.gguf)
    model = field(reader, "tokenizer.ggml.model")[0]
    if model != "gpt2":
        raise SystemExit(f"{args.gguf}: tokenizer.ggml.model is {model!r}; only byte-level BPE (gpt2) is written")
    tokens = field(reader, "tokenizer.ggml.tokens")
    types = field(reader, "tokenizer.ggml.token_type")
    merges = field(reader, "tokenizer.ggml.merges")
    pre = (field(reader, "tokenizer.ggml.pre") or ["default"])[0]
    byte_level = {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True}
    if pre == "smollm":
        pre_tokenizer = {"type": "Sequence", "pretokenizers": [{"type": "Digits", "individual_digits": True}, byte_level]}
    elif pre in ("default", "gpt-2"):
        pre_tokenizer = byte_level
    else:
        raise SystemExit(f"{args.gguf}: pre-tokenizer {pre!r} is not one this script knows")
    added = [
        {"id": i, "content": t, "single_word": False, "lstrip": False, "rstrip": False, "normalized": False,
         "special": True}
        for i, (t, kind) in enumerate(zip(tokens, types)) if kind == 3
    ]
    document = {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": added,
        "normalizer": None,
        "pre_tokenizer": pre_tokenizer,
        "post_processor": {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": False, "use_regex": True},
        "decoder": {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True},
        "model": {
            "type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": None,
            "end_of_word_suffix": None, "fuse_unk": False, "byte_fallback": False, "ignore_merges": False,
            "vocab": {t: i for i, t in enumerate(tokens)},
            "merges": merges,
        },
    }
    with open(args.out, "w", encoding="utf-8") as out:
        json.dump(document, out, ensure_ascii=False)
    if args.check:
        from tokenizers import Tokenizer

        tokenizer = Tokenizer.from_file(args.out)
        for text in args.check:
            print(json.dumps(tokenizer.encode(text, add_special_tokens=False).ids))


if __name__ == "__main__":
    main()
