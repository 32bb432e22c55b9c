#!/usr/bin/env python3
"""Records Hugging Face `tokenizers`' ids for SmolLM2's tokenizer.json on the multilingual corpus of the
GGUF tokenizer fixture (Tests/TokenizersTests/Fixtures/tokenizer-parity.json, its "smollm" texts), so the
checkpoint loader's tokenizer.json reading has the `tokenizers` package as its referee.

The tokenizer.json is the one scripts/gguf-tokenizer-json.py writes from the SmolLM2 GGUF (the checkpoint
the tests build from it carries the same file). Ids with special tokens recognised, no BOS added.

    scripts/make-tokenizer-json-fixture.py SMOLLM2.gguf

Writes Tests/ModelsTests/Fixtures/tokenizer-json-parity.json. Needs `gguf` and `tokenizers`.
"""
import json
import os
import subprocess
import sys
import tempfile

import tokenizers
from tokenizers import Tokenizer

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def main():
    gguf = sys.argv[1]
    corpus = json.load(open(os.path.join(ROOT, "Tests/TokenizersTests/Fixtures/tokenizer-parity.json")))
    texts = [c["text"] for c in corpus["cases"] if c["pre"] == "smollm"]
    with tempfile.TemporaryDirectory() as work:
        path = os.path.join(work, "tokenizer.json")
        subprocess.run([sys.executable, os.path.join(ROOT, "scripts/gguf-tokenizer-json.py"), gguf, path], check=True)
        tokenizer = Tokenizer.from_file(path)
        cases = [{"text": t, "ids": tokenizer.encode(t, add_special_tokens=False).ids} for t in texts]
    out = os.path.join(ROOT, "Tests/ModelsTests/Fixtures")
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "tokenizer-json-parity.json"), "w", encoding="utf-8") as f:
        json.dump({"generator": f"tokenizers {tokenizers.__version__}", "cases": cases}, f, ensure_ascii=False, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
