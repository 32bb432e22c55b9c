#!/usr/bin/env python3
"""Generates Swerve's reference fixtures from the peers (never committed code of theirs, only their outputs).

- Tests/TokenizersTests/Fixtures/tokenizer-parity.json: llama.cpp's token ids (llama-cpp-python 0.3.36,
  special=True, no BOS) for a multilingual corpus, on SmolLM2's vocabulary under the smollm, gpt-2 and
  llama-bpe pre-tokenizer rules (set with kv_overrides), plus the seed's Pika request rendered by Jinja2.
- Tests/TokenizersTests/Fixtures/chat-templates.json: templates of common model families rendered by Jinja2
  with Hugging Face's settings (trim_blocks, lstrip_blocks, tojson without ASCII escaping).
- Tests/TestSupport/Fixtures/llamacpp-greedy.json: llama.cpp's greedy continuation (32 tokens, EOS not
  special-cased) and last-prompt-position logits for plain and chat prompts, English and Vietnamese, on both
  models (n_threads=2): the referee of the forward pass.
- Tests/SwerveCoreTests/Fixtures/dequant.json: the gguf package's dequantization of synthetic blocks of
  every supported type and of real tensors of both PyPI models.

Run: scripts/make-fixtures  (installs the peers first with ../shared/tools/install-peers.sh).
"""
import base64, hashlib, json, os, sys
import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
SMOLLM = sys.argv[1]
GEMMA = sys.argv[2]
PIKA = sys.argv[3]

def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()

CORPUS = [
    "Hello world",
    " Hello World!",
    "Hello, world! How are you today? I'm fine, thanks. We've been there; they'll go, he'd say, you're right.",
    "IT'S ALL CAPS AND IT'LL STAY: DON'T SHOUT",
    "Xin chào! Hôm nay bạn thế nào? Tớ buồn quá. Nghe vui quá! Bể Hả, cậu có muốn chơi trò kể tên các loại trái cây bằng tiếng Anh không?",
    "Tiếng Việt có dấu: ă â đ ê ô ơ ư, Ặ Ầ Ể Ỗ Ự; giọng nói, người, nước, chuyện.",
    "Tie\u0302\u0301ng Vie\u0323\u0302t (decomposed combining marks)",
    "中文测试：我喜欢学习英语。日本語のテキスト、カタカナとひらがな。한국어 문장입니다.",
    "Emoji 😀😃😄 👍🏽 👨‍👩‍👧‍👦 🇻🇳 ❤️ ✨🎉",
    "Numbers: 0 1 12 123 1234 12345 3.14159 -42 1,000,000 2025-12-01 ٣٤٥ ½ Ⅻ",
    "def add(a, b):\n    return a + b\n\nclass Foo:\n\tpass\n",
    "for (int i = 0; i < n; ++i) { sum += arr[i]; } // comment\n#include <stdio.h>",
    '{"emotion":"thats_right","learn_score":true}',
    "multiple   spaces    here     and\ttabs\t\tand\n\nnewlines\n\n\n  indented\r\nwindows",
    "   leading spaces",
    "trailing spaces   ",
    "\n\n\nstarts with newlines",
    " ",
    "  ",
    "\t",
    "\n",
    "a" * 300,
    "ha" * 200,
    "abc " * 100,
    "<|im_start|>system\nYou are helpful.<|im_end|>\n<|im_start|>user\nHi!<|im_end|>\n<|im_start|>assistant\n",
    "text<|endoftext|>more<|im_end|><|im_start|>",
    "<|im_start|><|im_start|>nested <|im_end|>x<|im_end|",
    "Русский текст, Ελληνικά, עברית, العربية, हिन्दी, ไทย",
    "Mixed: café naïve résumé Zürich São Paulo Ångström",
    "URL: https://example.com/path?q=1&b=2#frag email: a.b@c.org",
    "special chars: ~!@#$%^&*()_+-=[]{}|;':\",./<>?` \u00a0nbsp \u2003emspace \u200bzwsp",
    "don't can't won't I'd I'll I've I'm 'quoted' ''double''",
    "x'S y'T z'RE",
    "\u0000control\u0007chars\u001b[0m",
]

def tokenizer_fixtures():
    from llama_cpp import Llama, __version__
    cases = []
    for pre in ["smollm", "gpt-2", "llama-bpe"]:
        llm = Llama(SMOLLM, vocab_only=True, verbose=False, kv_overrides={"tokenizer.ggml.pre": pre})
        for text in CORPUS:
            ids = llm.tokenize(text.encode("utf-8"), add_bos=False, special=True)
            cases.append({"pre": pre, "text": text, "ids": ids})
    # Gemma 3's SentencePiece vocabulary, on the same corpus.
    gemma = Llama(GEMMA, vocab_only=True, verbose=False)
    for text in CORPUS:
        cases.append({"pre": "gemma3-spm", "text": text, "ids": gemma.tokenize(text.encode("utf-8"), add_bos=False, special=True)})
    # The seed's Pika request through SmolLM2's own template, rendered by Jinja2.
    llm = Llama(SMOLLM, vocab_only=True, verbose=False)
    template = llm.metadata["tokenizer.chat_template"]
    request_text = open(PIKA, encoding="utf-8").read()
    request = json.loads(request_text)
    rendered = hf_environment().from_string(template).render(
        messages=request["messages"], add_generation_prompt=True, bos_token="<|im_start|>", eos_token="<|im_end|>"
    )
    pika_ids = llm.tokenize(rendered.encode("utf-8"), add_bos=False, special=True)
    return {
        "generator": f"llama-cpp-python {__version__}, special=True, add_bos=False",
        "model_sha256": sha256(SMOLLM),
        "cases": cases,
        "pika": {"request": request_text, "rendered": rendered, "ids": pika_ids},
    }

def hf_environment():
    import jinja2
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    def raise_exception(message):
        raise jinja2.exceptions.TemplateError(message)

    def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
        return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    return env

TEMPLATES = {
    "chatml": "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}",
    "llama3": "{% set loop_messages = messages %}{% for message in loop_messages %}{% set content = '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n'+ message['content'] | trim + '<|eot_id|>' %}{% if loop.index0 == 0 %}{% set content = bos_token + content %}{% endif %}{{ content }}{% endfor %}{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %}",
    "mistral": "{{ bos_token }}{% for message in messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}{% if message['role'] == 'user' %}{{ '[INST] ' + message['content'] + ' [/INST]' }}{% elif message['role'] == 'assistant' %}{{ message['content'] + eos_token}}{% else %}{{ raise_exception('Only user and assistant roles are supported!') }}{% endif %}{% endfor %}",
    "qwen2.5": """{%- if tools %}
    {{- '<|im_start|>system\\n' }}
    {%- if messages[0]['role'] == 'system' %}
        {{- messages[0]['content'] }}
    {%- else %}
        {{- 'You are Qwen, created by Alibaba Cloud. You are a helpful assistant.' }}
    {%- endif %}
    {{- "\\n\\n# Tools\\n\\nYou may call one or more functions to assist with the user query.\\n\\nYou are provided with function signatures within <tools></tools> XML tags:\\n<tools>" }}
    {%- for tool in tools %}
        {{- "\\n" }}
        {{- tool | tojson }}
    {%- endfor %}
    {{- "\\n</tools>\\n\\nFor each function call, return a json object with function name and arguments within <tool_call></tool_call> XML tags:\\n<tool_call>\\n{\\"name\\": <function-name>, \\"arguments\\": <args-json-object>}\\n</tool_call><|im_end|>\\n" }}
{%- else %}
    {%- if messages[0]['role'] == 'system' %}
        {{- '<|im_start|>system\\n' + messages[0]['content'] + '<|im_end|>\\n' }}
    {%- else %}
        {{- '<|im_start|>system\\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\\n' }}
    {%- endif %}
{%- endif %}
{%- for message in messages %}
    {%- if (message.role == "user") or (message.role == "system" and not loop.first) or (message.role == "assistant" and not message.tool_calls) %}
        {{- '<|im_start|>' + message.role + '\\n' + message.content + '<|im_end|>' + '\\n' }}
    {%- elif message.role == "assistant" %}
        {{- '<|im_start|>' + message.role }}
        {%- if message.content %}
            {{- '\\n' + message.content }}
        {%- endif %}
        {%- for tool_call in message.tool_calls %}
            {%- if tool_call.function is defined %}
                {%- set tool_call = tool_call.function %}
            {%- endif %}
            {{- '\\n<tool_call>\\n{"name": "' }}
            {{- tool_call.name }}
            {{- '", "arguments": ' }}
            {{- tool_call.arguments | tojson }}
            {{- '}\\n</tool_call>' }}
        {%- endfor %}
        {{- '<|im_end|>\\n' }}
    {%- elif message.role == "tool" %}
        {%- if (loop.index0 == 0) or (messages[loop.index0 - 1].role != "tool") %}
            {{- '<|im_start|>user' }}
        {%- endif %}
        {{- '\\n<tool_response>\\n' }}
        {{- message.content }}
        {{- '\\n</tool_response>' }}
        {%- if loop.last or (messages[loop.index0 + 1].role != "tool") %}
            {{- '<|im_end|>\\n' }}
        {%- endif %}
    {%- endif %}
{%- endfor %}
{%- if add_generation_prompt %}
    {{- '<|im_start|>assistant\\n' }}
{%- endif %}
""",
    "gemma": """{{ bos_token }}
{%- if messages[0]['role'] == 'system' -%}
    {%- if messages[0]['content'] is string -%}
        {%- set first_user_prefix = messages[0]['content'] + '\\n\\n' -%}
    {%- else -%}
        {%- set first_user_prefix = messages[0]['content'][0]['text'] + '\\n\\n' -%}
    {%- endif -%}
    {%- set loop_messages = messages[1:] -%}
{%- else -%}
    {%- set first_user_prefix = "" -%}
    {%- set loop_messages = messages -%}
{%- endif -%}
{%- for message in loop_messages -%}
    {%- if (message['role'] == 'user') != (loop.index0 % 2 == 0) -%}
        {{ raise_exception("Conversation roles must alternate user/assistant/user/assistant/...") }}
    {%- endif -%}
    {%- if (message['role'] == 'assistant') -%}
        {%- set role = "model" -%}
    {%- else -%}
        {%- set role = message['role'] -%}
    {%- endif -%}
    {{ '<start_of_turn>' + role + '\\n' + (first_user_prefix if loop.first else "") }}
    {%- if message['content'] is string -%}
        {{ message['content'] | trim }}
    {%- elif message['content'] is iterable -%}
        {%- for item in message['content'] -%}
            {%- if item['type'] == 'image' -%}
                {{ '<start_of_image>' }}
            {%- elif item['type'] == 'text' -%}
                {{ item['text'] | trim }}
            {%- endif -%}
        {%- endfor -%}
    {%- else -%}
        {{ raise_exception("Invalid content type") }}
    {%- endif -%}
    {{ '<end_of_turn>\\n' }}
{%- endfor -%}
{%- if add_generation_prompt -%}
    {{'<start_of_turn>model\\n'}}
{%- endif -%}
""",
    "features": """{# exercises the rest of the subset #}
{% set ns = namespace(count=0) %}
{% for m in messages %}
  {% set ns.count = ns.count + 1 %}
  [{{ loop.index }}/{{ loop.length }}{% if loop.first %} first{% endif %}{% if loop.last %} last{% endif %}] {{ m.role | upper }}: {{ m.content | length }} chars
  {% if 'hi' in m.content | lower %}greets{% elif m.content | length > 20 %}long{% else %}short{% endif %}
{% endfor %}
total={{ ns.count }} {{ messages | length }} {{ (messages | map(attribute='role') | list) | join(',') }}
{{ "a" ~ 1 ~ true ~ none }} {{ 7 // 2 }} {{ 7 / 2 }} {{ -3 + 2 * 4 }} {{ 2 ** 3 }} {{ 'x' * 3 }} {{ [1, 2, 3][1:] }} {{ 'abcdef'[::-1] }}
{{ messages[0].content.startswith('H') }} {{ 'A-b'.lower() }} {{ '  t  '.strip() }} {{ 'a,b'.split(',') }} {{ 'x y'.replace(' ', '_') }}
{{ undefined_thing | default('dflt') }} {{ (messages | first).role }} {{ (messages | last).role }} {{ {'k': 1, 'j': [true, none, 'é']} | tojson }}
{% if not undefined_thing is defined %}undef{% endif %} {{ 3 in [1, 2, 3] }} {{ 'z' not in 'abc' }} {{ 1 < 2 <= 2 }}
{%- for k, v in {'a': 1, 'b': 2}.items() %} {{ k }}={{ v }}{% endfor %}
{% for x in [] %}never{% else %}empty-else{% endfor %}
{{ messages | selectattr('role', 'equalto', 'user') | list | length }} {{ 'Hello %s' | format('x') if false else 'no-format' }}
""",
}

MESSAGE_SETS = {
    "user": [{"role": "user", "content": "Hi there!"}],
    "system_user": [{"role": "system", "content": "You are Pika."}, {"role": "user", "content": "  Xin chào, tớ tên là Bé.  "}],
    "multi_turn": [
        {"role": "user", "content": "Hello"},
        {"role": "assistant", "content": "Hi! How can I help?"},
        {"role": "user", "content": "Say \"thank you\" in Vietnamese 🙏"},
    ],
    "system_multi": [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "What's 2+2?"},
        {"role": "assistant", "content": "4"},
        {"role": "user", "content": "And 3+3?"},
    ],
    "bad_order": [{"role": "assistant", "content": "I speak first"}, {"role": "user", "content": "hm"}],
    "parts": [{"role": "user", "content": [{"type": "text", "text": " Look: "}, {"type": "image"}, {"type": "text", "text": "what is it? "}]}],
    "tools": [
        {"role": "user", "content": "Weather in Hà Nội?"},
        {"role": "assistant", "content": "", "tool_calls": [{"type": "function", "function": {"name": "get_weather", "arguments": {"city": "Hà Nội", "days": 2}}}]},
        {"role": "tool", "content": "{\"temp\": 31}"},
        {"role": "tool", "content": "{\"rain\": false}"},
    ],
}

TOOLS = [{"type": "function", "function": {"name": "get_weather", "description": "Weather for a city", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}]

def template_fixtures():
    import jinja2
    env = hf_environment()
    cases = []
    for name, template in TEMPLATES.items():
        for set_name, messages in MESSAGE_SETS.items():
            if set_name == "parts" and name not in ("gemma",):
                continue
            if set_name == "tools" and name != "qwen2.5":
                continue
            for agp in (True, False):
                context = {"messages": messages, "add_generation_prompt": agp, "bos_token": "<s>", "eos_token": "</s>"}
                if set_name == "tools":
                    context["tools"] = TOOLS
                try:
                    out = env.from_string(template).render(**context)
                    cases.append({"template": name, "messages": set_name, "context": json.dumps(context, ensure_ascii=False), "expected": out})
                except jinja2.exceptions.TemplateError as e:
                    cases.append({"template": name, "messages": set_name, "context": json.dumps(context, ensure_ascii=False), "error": str(e)})
    return {"generator": f"jinja2 {jinja2.__version__} with trim_blocks, lstrip_blocks", "templates": TEMPLATES, "cases": cases}

F16_FIELDS = {  # byte offsets of half-precision scale fields inside one block
    "Q4_0": [0], "Q4_1": [0, 2], "Q5_0": [0], "Q5_1": [0, 2], "Q8_0": [0],
    "Q2_K": [80, 82], "Q3_K": [108], "Q4_K": [0, 2], "Q5_K": [0, 2], "Q6_K": [208],
}

def dequant_fixtures():
    import gguf
    from gguf import GGMLQuantizationType as Q, quants, GGUFReader
    rng = np.random.default_rng(1234)
    synthetic = []
    for name in ["F32", "F16", "BF16", "Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q8_0", "Q2_K", "Q3_K", "Q4_K", "Q5_K", "Q6_K"]:
        qtype = Q[name]
        block, size = gguf.GGML_QUANT_SIZES[qtype]
        blocks = 3
        if name == "F32":
            raw = rng.standard_normal(blocks * block).astype(np.float32).view(np.uint8)
        elif name == "F16":
            raw = rng.standard_normal(blocks * block).astype(np.float16).view(np.uint8)
        elif name == "BF16":
            raw = (rng.standard_normal(blocks * block).astype(np.float32).view(np.uint32) >> 16).astype(np.uint16).view(np.uint8)
        else:
            raw = rng.integers(0, 256, size=blocks * size, dtype=np.uint8)
            for b in range(blocks):
                for off in F16_FIELDS[name]:
                    raw[b * size + off : b * size + off + 2] = np.array([rng.standard_normal() * 0.05], dtype=np.float16).view(np.uint8)
        values = quants.dequantize(raw, qtype).reshape(-1).astype(np.float32)
        synthetic.append({"type": name, "count": blocks * block, "data": base64.b64encode(raw.tobytes()).decode(), "values": [float(v) for v in values]})
    real = []
    for path, label in [(SMOLLM, "smollm2-135m"), (GEMMA, "gemma3-270m")]:
        reader = GGUFReader(path)
        seen = set()
        for t in reader.tensors:
            if t.tensor_type.name in seen:
                continue
            seen.add(t.tensor_type.name)
            values = quants.dequantize(t.data, t.tensor_type).astype(np.float32)
            values = values.reshape(-1, int(t.shape[0]))
            real.append({
                "model": label, "tensor": t.name, "type": t.tensor_type.name,
                "row0": [float(v) for v in values[0]], "row_last": [float(v) for v in values[-1]],
                "sum": float(values.astype(np.float64).sum()), "abs_sum": float(np.abs(values.astype(np.float64)).sum()),
            })
    return {"generator": f"gguf (Python) {gguf.__version__ if hasattr(gguf, '__version__') else ''} quants.dequantize", "synthetic": synthetic, "real": real}

GENERATION_PROMPTS = [
    ("plain-en", "The capital of France is"),
    ("plain-vi", "Việt Nam là một quốc gia"),
    ("chat-en", [{"role": "user", "content": "What is 2+2? Answer briefly."}]),
    ("chat-vi", [{"role": "user", "content": "Xin chào! Bạn tên là gì?"}]),
    ("pika", None),
]

def generation_fixtures():
    from llama_cpp import Llama, __version__
    env = hf_environment()
    pika = json.load(open(PIKA))["messages"]
    out = {"generator": f"llama-cpp-python {__version__}, n_threads=2, greedy argmax, 32 tokens", "cases": []}
    for label, path in [("smollm2-135m", SMOLLM), ("gemma3-270m", GEMMA)]:
        llm = Llama(path, n_ctx=1024, n_batch=512, n_threads=2, logits_all=True, verbose=False)
        add_bos = label == "gemma3-270m"  # as each file's tokenizer.ggml.add_bos_token says
        template = llm.metadata.get("tokenizer.chat_template") or TEMPLATES["gemma"]
        for kind, prompt in GENERATION_PROMPTS:
            if prompt is None or isinstance(prompt, list):
                messages = pika if prompt is None else prompt
                bos = "<bos>" if add_bos else "<|im_start|>"
                text = env.from_string(template).render(messages=messages, add_generation_prompt=True, bos_token=bos, eos_token="")
                ids = llm.tokenize(text.encode("utf-8"), add_bos=False, special=True)
            else:
                text = prompt
                ids = llm.tokenize(text.encode("utf-8"), add_bos=add_bos, special=True)
            llm.reset()
            llm.eval(ids)
            logits = np.array(llm.scores[llm.n_tokens - 1], dtype=np.float32)
            top = np.argsort(-logits)[:40]
            generated = []
            for _ in range(32):
                nxt = int(np.argmax(llm.scores[llm.n_tokens - 1]))
                generated.append(nxt)
                llm.eval([nxt])
            case = {
                "model": label, "kind": kind, "prompt": text, "prompt_ids": ids, "greedy_ids": generated,
                "greedy_text": llm.detokenize(generated).decode("utf-8", errors="replace"),
                "top_logits": [[int(i), float(logits[i])] for i in top],
                "logits_mean": float(logits.mean()), "logits_std": float(logits.std()),
            }
            if label == "smollm2-135m":
                case["logits_f16"] = base64.b64encode(logits.astype(np.float16).tobytes()).decode()
            out["cases"].append(case)
    return out

def write(path, obj):
    path = os.path.join(ROOT, path)
    with open(path, "w") as f:
        json.dump(obj, f, ensure_ascii=False, indent=1)
    print("wrote", path, os.path.getsize(path), "bytes")

if __name__ == "__main__":
    write("Tests/TokenizersTests/Fixtures/tokenizer-parity.json", tokenizer_fixtures())
    write("Tests/TokenizersTests/Fixtures/chat-templates.json", template_fixtures())
    write("Tests/SwerveCoreTests/Fixtures/dequant.json", dequant_fixtures())
    write("Tests/TestSupport/Fixtures/llamacpp-greedy.json", generation_fixtures())
