#!/usr/bin/env python3
"""Writes a Hugging Face `tokenizer.json` for a GGUF file's byte-level BPE tokenizer (tokenizer.ggml.model
"gpt2"), from the vocabulary and merges the GGUF carries, for tools that tokenize on their own side, such as
vllm-router's kv_aware policy (VLLM_ROUTER_TOKENIZER=path/to/tokenizer.json) when the model's Hub repository
cannot be reached. Control tokens become special added tokens. The pre-tokenizer follows the GGUF's
`tokenizer.ggml.pre`: "smollm" (SmolLM2) splits digits one by one before GPT-2's byte-level split.

A SentencePiece vocabulary (tokenizer.ggml.model "llama": pieces with scores, `<0xXX>` byte pieces) is
written as Llama 2's tokenizer.json is: BPE with byte fallback, merges generated from the pieces as
transformers' SentencePieceExtractor does (every split of a piece into two pieces, ordered by the piece's
score), spaces as U+2581 with one prepended.

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
    if model == "llama":
        write(sentencepiece_document(reader), args)
        return
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
    write(document, args)


def sentencepiece_document(reader):
    """Llama 2's tokenizer.json layout for a SentencePiece vocabulary."""
    tokens = field(reader, "tokenizer.ggml.tokens")
    scores = field(reader, "tokenizer.ggml.scores")
    types = field(reader, "tokenizer.ggml.token_type")
    vocab = {t: i for i, t in enumerate(tokens)}
    normal = {t for t, kind in zip(tokens, types) if kind == 1}
    merges = []
    for i, piece in enumerate(tokens):
        if types[i] != 1:
            continue
        splits = [(piece[:k], piece[k:]) for k in range(1, len(piece)) if piece[:k] in vocab and piece[k:] in vocab]
        merges += [(left, right, scores[i]) for left, right in sorted(splits, key=lambda p: (vocab[p[0]], vocab[p[1]]))]
    merges = [[left, right] for left, right, _ in sorted(merges, key=lambda m: m[2], reverse=True)]
    unknown = next((t for t, kind in zip(tokens, types) if kind == 2), None)
    added = [
        {"id": i, "content": t, "single_word": False, "lstrip": False, "rstrip": False, "normalized": False,
         "special": True}
        for i, (t, kind) in enumerate(zip(tokens, types)) if kind in (2, 3)
    ]
    return {
        "version": "1.0", "truncation": None, "padding": None, "added_tokens": added,
        "normalizer": {"type": "Sequence", "normalizers": [
            {"type": "Prepend", "prepend": "\u2581"}, {"type": "Replace", "pattern": {"String": " "}, "content": "\u2581"}]},
        "pre_tokenizer": None, "post_processor": None,
        "decoder": {"type": "Sequence", "decoders": [
            {"type": "Replace", "pattern": {"String": "\u2581"}, "content": " "}, {"type": "ByteFallback"},
            {"type": "Fuse"}, {"type": "Strip", "content": " ", "start": 1, "stop": 0}]},
        "model": {
            "type": "BPE", "dropout": None, "unk_token": unknown, "continuing_subword_prefix": None,
            "end_of_word_suffix": None, "fuse_unk": True, "byte_fallback": True, "ignore_merges": False,
            "vocab": vocab, "merges": merges,
        },
    }


def write(document, args):
    with open(args.out, "w", encoding="utf-8") as out:
        json.dump(document, out, ensure_ascii=False)
    if args.check:
        from tokenizers import Tokenizer

        tokenizer = Tokenizer.from_file(args.out)
        for text in args.check:
            print(json.dumps(tokenizer.encode(text, add_special_tokens=False).ids))


if __name__ == "__main__":
    main()
