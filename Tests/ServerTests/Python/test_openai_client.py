"""The official openai client against a live `swerve serve` (SmolLM2-135M-Instruct).

Run by ServerTests/OpenAIClientTests.swift, which starts the server and sets SWERVE_BASE_URL, SWERVE_API_KEY
and SWERVE_BODY_LIMIT. Every call goes through the client exactly as the Pika team's code makes it.
"""

import json
import os
import socket
import time
import unittest
import urllib.error
import urllib.request

import openai

BASE = os.environ["SWERVE_BASE_URL"]
KEY = os.environ["SWERVE_API_KEY"]
BODY_LIMIT = int(os.environ["SWERVE_BODY_LIMIT"])
MODEL = "HuggingFaceTB/SmolLM2-135M-Instruct"
client = openai.OpenAI(base_url=BASE + "/v1", api_key=KEY, max_retries=0, timeout=120)
MESSAGES = [{"role": "user", "content": "Name three fruits."}]


def metric(series):
    """The value of the first /metrics series starting with `series` (a family name, or name{labels...)."""
    if "{" not in series:
        series += "{"
    for line in urllib.request.urlopen(BASE + "/metrics").read().decode().splitlines():
        if line.startswith(series):
            return float(line.rsplit(" ", 1)[1])
    return None


class Chat(unittest.TestCase):
    def test_whole_and_streamed_agree(self):
        whole = client.chat.completions.create(model=MODEL, messages=MESSAGES, max_tokens=24, temperature=0)
        self.assertEqual(whole.object, "chat.completion")
        self.assertTrue(whole.id.startswith("chatcmpl-"))
        self.assertEqual(whole.model, MODEL)
        self.assertTrue(whole.system_fingerprint)
        choice = whole.choices[0]
        self.assertEqual(choice.message.role, "assistant")
        self.assertIn(choice.finish_reason, ("stop", "length"))
        self.assertGreater(len(choice.message.content), 0)
        self.assertEqual(whole.usage.total_tokens, whole.usage.prompt_tokens + whole.usage.completion_tokens)
        self.assertIsNotNone(whole.usage.prompt_tokens_details.cached_tokens)

        stream = client.chat.completions.create(
            model=MODEL,
            messages=MESSAGES,
            max_tokens=24,
            temperature=0,
            stream=True,
            stream_options={"include_usage": True},
        )
        text, finish, usage, chunks = "", None, None, 0
        for chunk in stream:
            chunks += 1
            self.assertEqual(chunk.object, "chat.completion.chunk")
            self.assertEqual(chunk.id, stream_id if chunks > 1 else chunk.id)
            stream_id = chunk.id
            if chunk.usage:
                usage = chunk.usage
            for c in chunk.choices:
                text += c.delta.content or ""
                finish = c.finish_reason or finish
        self.assertGreater(chunks, 3)
        self.assertEqual(text, choice.message.content)
        self.assertEqual(finish, choice.finish_reason)
        self.assertEqual(usage.completion_tokens, whole.usage.completion_tokens)

    def test_n_choices(self):
        r = client.chat.completions.create(model=MODEL, messages=MESSAGES, max_tokens=8, temperature=1, seed=3, n=3)
        self.assertEqual([c.index for c in r.choices], [0, 1, 2])
        self.assertEqual(r.usage.completion_tokens, sum(1 for _ in r.choices) * 8)

    def test_logprobs(self):
        r = client.chat.completions.create(
            model=MODEL, messages=MESSAGES, max_tokens=6, temperature=0, logprobs=True, top_logprobs=3
        )
        content = r.choices[0].logprobs.content
        self.assertEqual(len(content), r.usage.completion_tokens)
        for entry in content:
            self.assertLessEqual(entry.logprob, 0)
            self.assertEqual(len(entry.top_logprobs), 3)
            # Greedy: the chosen token is the most likely one.
            self.assertAlmostEqual(entry.logprob, entry.top_logprobs[0].logprob, places=4)
            self.assertEqual(bytes(entry.bytes).decode("utf-8", "replace"), entry.token)
        self.assertEqual("".join(e.token for e in content), r.choices[0].message.content)

    def test_stop_string(self):
        free = client.chat.completions.create(model=MODEL, messages=MESSAGES, max_tokens=30, temperature=0)
        text = free.choices[0].message.content
        words = text.split()
        self.assertGreater(len(words), 3, text)
        stop = words[2]
        r = client.chat.completions.create(model=MODEL, messages=MESSAGES, max_tokens=30, temperature=0, stop=[stop])
        self.assertEqual(r.choices[0].finish_reason, "stop")
        self.assertEqual(r.choices[0].message.content, text[: text.index(stop)])
        self.assertNotIn(stop, r.choices[0].message.content)

    def test_seed_reproducible(self):
        def sample(seed):
            return client.chat.completions.create(
                model=MODEL, messages=MESSAGES, max_tokens=16, temperature=1.0, top_p=0.95, seed=seed
            ).choices[0].message.content

        first = sample(1234)
        self.assertEqual(first, sample(1234))
        self.assertTrue(any(sample(s) != first for s in (1, 2, 3)))

    def test_pika_request(self):
        # A copy of the seed's request (shared/pika/sample_request.json), sent as the Pika team sends it.
        with open(os.path.join(os.path.dirname(__file__), "pika_sample_request.json")) as file:
            request = json.load(file)
        r = client.chat.completions.create(**request)
        self.assertEqual(r.model, request["model"])
        self.assertGreater(len(r.choices[0].message.content), 0)
        self.assertLessEqual(r.usage.completion_tokens, request["max_tokens"])


class Completions(unittest.TestCase):
    def test_whole_streamed_and_logprobs(self):
        args = dict(model=MODEL, prompt="The capital of France is", max_tokens=10, temperature=0)
        whole = client.completions.create(**args, logprobs=2)
        self.assertEqual(whole.object, "text_completion")
        choice = whole.choices[0]
        self.assertEqual(len(choice.logprobs.tokens), whole.usage.completion_tokens)
        self.assertEqual("".join(choice.logprobs.tokens), choice.text)
        self.assertEqual(choice.logprobs.text_offset[0], 0)
        self.assertTrue(all(len(t) <= 2 for t in choice.logprobs.top_logprobs))
        streamed = "".join(c.choices[0].text for c in client.completions.create(**args, stream=True) if c.choices)
        self.assertEqual(streamed, choice.text)

    def test_prompt_lists_and_token_ids(self):
        ids = json.load(urllib.request.urlopen(urllib.request.Request(
            BASE + "/tokenize", data=json.dumps({"model": MODEL, "prompt": "Hello there"}).encode(),
            headers={"content-type": "application/json", "authorization": "Bearer " + KEY})))
        self.assertEqual(ids["count"], len(ids["tokens"]))
        self.assertEqual(ids["max_model_len"], 2048)
        by_text = client.completions.create(model=MODEL, prompt="Hello there", max_tokens=5, temperature=0)
        by_ids = client.completions.create(model=MODEL, prompt=ids["tokens"], max_tokens=5, temperature=0)
        self.assertEqual(by_text.choices[0].text, by_ids.choices[0].text)
        both = client.completions.create(model=MODEL, prompt=["Hello there", "One, two,"], max_tokens=5, temperature=0)
        self.assertEqual([c.index for c in both.choices], [0, 1])
        self.assertEqual(both.choices[0].text, by_text.choices[0].text)


class Errors(unittest.TestCase):
    def status(self, call):
        try:
            call()
        except openai.APIStatusError as error:
            body = error.body if isinstance(error.body, dict) else {}
            self.assertIn("message", body, error)
            return error.status_code
        self.fail("no error")

    def test_bad_requests(self):
        calls = [
            lambda: client.chat.completions.create(model=MODEL, messages=MESSAGES, max_tokens=-1),
            lambda: client.chat.completions.create(model=MODEL, messages=MESSAGES, temperature=-0.5),
            lambda: client.chat.completions.create(model=MODEL, messages=MESSAGES, top_p=1.5),
            lambda: client.chat.completions.create(model=MODEL, messages=MESSAGES, n=0),
            lambda: client.chat.completions.create(model=MODEL, messages=MESSAGES, max_tokens=5000),
            lambda: client.completions.create(model=MODEL, prompt="x", extra_body={"top_k": -7}),
        ]
        for call in calls:
            self.assertEqual(self.status(call), 400)
        with self.assertRaises(openai.BadRequestError) as caught:
            client.chat.completions.create(model=MODEL, messages=MESSAGES, max_tokens=5000)
        self.assertIn("2048", str(caught.exception))
        self.assertIn("5000", str(caught.exception))

    def test_malformed_json(self):
        request = urllib.request.Request(
            BASE + "/v1/chat/completions", data=b"{oops",
            headers={"content-type": "application/json", "authorization": "Bearer " + KEY})
        with self.assertRaises(urllib.error.HTTPError) as caught:
            urllib.request.urlopen(request)
        self.assertEqual(caught.exception.code, 400)
        self.assertEqual(json.load(caught.exception)["error"]["type"], "invalid_request_error")

    def test_not_found_unauthorized_too_large(self):
        with self.assertRaises(openai.NotFoundError):
            client.chat.completions.create(model="gpt-4o", messages=MESSAGES)
        with self.assertRaises(openai.AuthenticationError):
            openai.OpenAI(base_url=BASE + "/v1", api_key="wrong", max_retries=0).models.list()
        self.assertEqual(self.status(lambda: client.post("/nowhere", cast_to=object, body={})), 404)
        big = [{"role": "user", "content": "x" * BODY_LIMIT}]
        self.assertEqual(self.status(lambda: client.chat.completions.create(model=MODEL, messages=big)), 413)

    def test_models(self):
        models = client.models.list()
        self.assertEqual([m.id for m in models.data], [MODEL])


class Disconnect(unittest.TestCase):
    def test_disconnect_mid_stream_aborts(self):
        aborted = 'vllm:request_success_total{model_name="%s",finished_reason="abort"' % MODEL
        before = metric(aborted)
        stream = client.completions.create(
            model=MODEL, prompt="Once upon a time", max_tokens=1500, temperature=0, stream=True,
            extra_body={"ignore_eos": True})
        seen = 0
        for _ in stream:
            seen += 1
            if seen == 5:
                break
        self.assertEqual(metric("vllm:num_requests_running"), 1.0)
        stream.close()
        deadline = time.time() + 5
        while metric("vllm:num_requests_running") != 0.0 and time.time() < deadline:
            time.sleep(0.05)
        self.assertEqual(metric("vllm:num_requests_running"), 0.0)
        self.assertEqual(metric(aborted), before + 1)

    def test_disconnect_while_waiting_for_a_whole_response_aborts(self):
        body = json.dumps({"model": MODEL, "prompt": "Once upon a time", "max_tokens": 1500,
                           "ignore_eos": True}).encode()
        host, port = BASE.split("//")[1].split(":")
        sock = socket.create_connection((host, int(port)))
        sock.sendall(b"POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     + b"Authorization: Bearer " + KEY.encode() + b"\r\nContent-Length: "
                     + str(len(body)).encode() + b"\r\n\r\n" + body)
        deadline = time.time() + 10
        while metric("vllm:num_requests_running") != 1.0 and time.time() < deadline:
            time.sleep(0.02)
        self.assertEqual(metric("vllm:num_requests_running"), 1.0)
        sock.close()
        deadline = time.time() + 5
        while metric("vllm:num_requests_running") != 0.0 and time.time() < deadline:
            time.sleep(0.05)
        self.assertEqual(metric("vllm:num_requests_running"), 0.0)


if __name__ == "__main__":
    unittest.main(verbosity=2)
