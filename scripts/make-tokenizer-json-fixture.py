#!/usr/bin/env python3
"""Records Hugging Face `tokenizers`' ids for two tokenizer.json files on the multilingual corpus of the GGUF
tokenizer fixture (Tests/TokenizersTests/Fixtures/tokenizer-parity.json), so the checkpoint loader's
tokenizer.json reading has the `tokenizers` package as its referee:

- SmolLM2's byte-level BPE tokenizer.json, on the corpus's "smollm" texts (tokenizer-json-parity.json);
- with a second argument, the SentencePiece-style (byte fallback) tokenizer.json of llama.cpp's
  ggml-vocab-llama-spm.gguf test vocabulary, on the corpus's texts, llama.cpp's own test texts for that
  vocabulary and a few around special tokens: as written, spaces by Llama 2's normalizer
  (tokenizer-json-spm-parity.json), and with a Metaspace pre-tokenizer instead, prepend_scheme first and
  always (tokenizer-json-spm-metaspace-first-parity.json, ...-always-parity.json).

Both tokenizer.json files are the ones scripts/gguf-tokenizer-json.py writes from the GGUF (the tests write
them the same way). Ids with special tokens recognised, no BOS added.

    scripts/make-tokenizer-json-fixture.py SMOLLM2.gguf [ggml-vocab-llama-spm.gguf]

Writes Tests/ModelsTests/Fixtures/. Needs `gguf` and `tokenizers`.
"""
import json
import os
import subprocess
import sys
import tempfile

import tokenizers
from tokenizers import Tokenizer

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "Tests/ModelsTests/Fixtures")


def record(gguf, texts, name, edit=None):
    with tempfile.TemporaryDirectory() as work:
        path = os.path.join(work, "tokenizer.json")
        subprocess.run([sys.executable, os.path.join(ROOT, "scripts/gguf-tokenizer-json.py"), gguf, path], check=True)
        document = json.load(open(path, encoding="utf-8"))
        if edit:
            edit(document)
        tokenizer = Tokenizer.from_str(json.dumps(document))
        cases = [{"text": t, "ids": tokenizer.encode(t, add_special_tokens=False).ids} for t in texts]
    os.makedirs(OUT, exist_ok=True)
    with open(os.path.join(OUT, name), "w", encoding="utf-8") as f:
        json.dump({"generator": f"tokenizers {tokenizers.__version__}", "cases": cases}, f, ensure_ascii=False, indent=1)
        f.write("\n")


def main():
    corpus = json.load(open(os.path.join(ROOT, "Tests/TokenizersTests/Fixtures/tokenizer-parity.json")))
    record(sys.argv[1], [c["text"] for c in corpus["cases"] if c["pre"] == "smollm"], "tokenizer-json-parity.json")
    if len(sys.argv) > 2:
        texts = list(dict.fromkeys(c["text"] for c in corpus["cases"]))
        with open(sys.argv[2] + ".inp", encoding="utf-8") as f:
            texts += [t for t in f.read().split("\n__ggml_vocab_test__\n") if t not in texts]
        texts += ["<s>Hello world", "Hello<s> world", "<s> Hello", " Hello</s>Hi", "a</s> b"]
        record(sys.argv[2], texts, "tokenizer-json-spm-parity.json")
        for scheme in ("first", "always"):
            def metaspace(document, scheme=scheme):
                document["normalizer"] = None
                document["pre_tokenizer"] = {"type": "Metaspace", "replacement": "\u2581", "prepend_scheme": scheme,
                                             "split": False}
            record(sys.argv[2], texts, f"tokenizer-json-spm-metaspace-{scheme}-parity.json", metaspace)


if __name__ == "__main__":
    main()
