#!/usr/bin/env python3
"""Writes the fuzz harnesses' seed corpora into Fuzz/corpus/<harness>/ (committed; `scripts/fuzz` starts each
harness from them): the Pika request and its schema, the chat templates of the tokenizer fixtures, the regex
corpus, a few GBNF grammars, tokenizer text, and minimal GGUF and safetensors files written here byte by byte
(with the inputs that once crashed a parser: a GGUF tensor whose zero dimension hid an overflowing row count,
a safetensors end offset near Int.max).

Run: python3 scripts/make-fuzz-corpus.py   (standard library only)
"""
import json, os, struct

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "Fuzz", "corpus")
PIKA = os.path.join(os.path.dirname(ROOT), "shared", "pika")


def write(harness, name, data):
    folder = os.path.join(OUT, harness)
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode("utf-8"))


def gguf():
    def string(s):
        b = s.encode()
        return struct.pack("<Q", len(b)) + b
    kvs = [
        (string("general.architecture") + struct.pack("<I", 8) + string("llama")),
        (string("llama.context_length") + struct.pack("<I", 4) + struct.pack("<I", 64)),
        (string("general.alignment") + struct.pack("<I", 4) + struct.pack("<I", 32)),
        (string("tokenizer.ggml.tokens") + struct.pack("<I", 9) + struct.pack("<I", 8) + struct.pack("<Q", 2)
         + string("a") + string("b")),
    ]
    tensors = [string("token_embd.weight") + struct.pack("<I", 2) + struct.pack("<QQ", 4, 2)
               + struct.pack("<I", 0) + struct.pack("<Q", 0)]
    head = b"GGUF" + struct.pack("<IQQ", 3, len(tensors), len(kvs)) + b"".join(kvs) + b"".join(tensors)
    head += b"\0" * (-len(head) % 32)
    return head + struct.pack("<8f", *range(8))


def gguf_zero_dimension():
    """One tensor of shape [0, 2^31-1, 2^31-1, 2^31-1]: its element count is 0, its row count overflows."""
    name = b"t"
    big = 2**31 - 1
    head = b"GGUF" + struct.pack("<IQQ", 3, 1, 0) + struct.pack("<Q", len(name)) + name + struct.pack("<I", 4)
    head += struct.pack("<4Q", 0, big, big, big) + struct.pack("<I", 0) + struct.pack("<Q", 0)
    return head + b"\0" * (256 - len(head))


def safetensors(tensors):
    header, data = {}, b""
    for name, (dtype, shape, raw) in tensors.items():
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [len(data), len(data) + len(raw)]}
        data += raw
    header["__metadata__"] = {"format": "pt"}
    text = json.dumps(header).encode()
    return struct.pack("<Q", len(text)) + text + data


def safetensors_offset_overflow():
    text = b'{"w":{"dtype":"F32","shape":[4],"data_offsets":[0,9223372036854775807]}}'
    return struct.pack("<Q", len(text)) + text + b"\0" * 16


def main():
    request = open(os.path.join(PIKA, "sample_request.json")).read()
    schema = open(os.path.join(PIKA, "response_schema.json")).read()
    write("json", "pika-request.json", request)
    write("json", "values.json", '[1, -2.5e10, "a\\u00e9\\n", true, null, {"k": [{}]}]')
    write("request", "pika-request.json", request)
    write("request", "completion.json",
          '{"prompt": [1, 2], "n": 2, "max_tokens": 5, "stop": ["x"], "logit_bias": {"3": 1}, "logprobs": 2,'
          ' "structured_outputs": {"regex": "[a-z]+"}}')
    write("request", "chat.json",
          '{"messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}]}],'
          ' "response_format": {"type": "json_object"}, "guided_choice": ["a", "b"]}')
    write("schema", "pika-schema.json", schema)
    write("schema", "kinds.json",
          '{"type": "object", "properties": {"a": {"type": "array", "items": {"type": "integer", "minimum": 0}},'
          ' "b": {"enum": ["x", 1, null]}, "c": {"type": "string", "pattern": "^[a-z]{2,4}$"},'
          ' "d": {"anyOf": [{"type": "number"}, {"$ref": "#/$defs/e"}]}}, "$defs": {"e": {"type": "boolean"}},'
          ' "required": ["a"]}')
    regexes = json.load(open(os.path.join(ROOT, "Tests/GrammarTests/Fixtures/regex-corpus.json")))["patterns"]
    for i, entry in enumerate(regexes[:40]):
        write("regex", f"corpus-{i:02}.txt", entry["pattern"])
    write("gbnf", "json.gbnf",
          'root ::= object\nobject ::= "{" ws (pair ("," ws pair)*)? "}"\npair ::= string ":" ws value\n'
          'value ::= object | string | [0-9]+ | "true" | "false"\nstring ::= "\\"" [^"\\\\]* "\\""\nws ::= [ \\t\\n]*\n')
    write("gbnf", "repeat.gbnf", 'root ::= ("ab" | [x-z]){2,5} item?\nitem ::= \'q\' # comment\n')
    templates = json.load(open(os.path.join(ROOT, "Tests/TokenizersTests/Fixtures/chat-templates.json")))["templates"]
    for name, source in templates.items():
        write("jinja", f"{name}.jinja", source)
    write("tokenizer", "english.txt", "Hello world! It's 2024; they'll go.\n\t  <|im_start|>user")
    write("tokenizer", "unicode.txt", "Xin chào! Tiếng Việt có dấu 😀 \u0301 日本語")
    write("gguf", "minimal.gguf", gguf())
    write("gguf", "zero-dimension-before-huge-rows", gguf_zero_dimension())
    write("safetensors", "three-dtypes", safetensors({
        "a": ("F32", [2, 2], struct.pack("<4f", 1, 2, 3, 4)),
        "b": ("F16", [3], struct.pack("<3e", 1, -2, 0.5)),
        "c": ("BF16", [2], b"\x80\x3f\x00\x40"),
    }))
    write("safetensors", "offset-overflow", safetensors_offset_overflow())
    print(f"seed corpora under {OUT}")


main()
