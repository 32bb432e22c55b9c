"""Structured outputs through the official openai client against a live `swerve serve` (SmolLM2-135M).

Run by ServerTests/OpenAIClientTests.swift with test_openai_client.py. Answers are checked with the
`jsonschema` package (independent of Swerve's own validator); errors must be 400s naming the field.
"""

import json
import os
import re
import time
import unittest
import urllib.request

import jsonschema
import openai

BASE = os.environ["SWERVE_BASE_URL"]
KEY = os.environ["SWERVE_API_KEY"]
MODEL = "HuggingFaceTB/SmolLM2-135M-Instruct"
client = openai.OpenAI(base_url=BASE + "/v1", api_key=KEY, max_retries=0, timeout=120)

EMOTIONS = [
    "happy", "happy_2", "calm", "excited", "excited_2", "playful", "playful_2", "playful_3", "no_problem",
    "encouraging", "encouraging_2", "curious", "surprised", "proud", "proud_2", "thats_right", "thats_right_2",
    "sad", "angry", "worry", "afraid", "noisy", "thinking",
]
PIKA_SCHEMA = {
    "type": "object",
    "properties": {"emotion": {"type": "string", "enum": EMOTIONS}, "learn_score": {"type": "boolean"}},
    "required": ["emotion", "learn_score"],
    "additionalProperties": False,
}
SYSTEM = (
    "You are now intention detection. Given user's input, detect the suitable emotion and the need of celebrate "
    "for it.\n return in single line json format.\n{\"emotion\":\"<emotion name>\",\"learn_score\":true/flase}"
)
TURNS = [
    "Previous Question: Tớ buồn quá. \nPrevious Answer: i think a yummy\nResponse to check: Nghe vui quá! "
    "Cậu có muốn chơi trò kể tên các loại trái cây bằng tiếng Anh không? Name fruits in English!",
    "Previous Question: Can you say 'apple'?\nPrevious Answer: apple\nResponse to check: Great job! "
    "You said apple perfectly!",
    "Previous Question: What animal says moo?\nPrevious Answer: cow\nResponse to check: That's right!",
]
PIKA_FORMAT = {"type": "json_schema", "json_schema": {"name": "pika", "schema": PIKA_SCHEMA, "strict": True}}


def pika(turn, **kw):
    messages = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": turn}]
    return client.chat.completions.create(model=MODEL, messages=messages, temperature=0, max_tokens=50, **kw)


class Pika(unittest.TestCase):
    def test_every_answer_is_schema_valid_and_stops(self):
        for turn in TURNS:
            r = pika(turn, response_format=PIKA_FORMAT)
            choice = r.choices[0]
            self.assertEqual(choice.finish_reason, "stop", choice.message.content)
            jsonschema.validate(json.loads(choice.message.content), PIKA_SCHEMA)
            self.assertNotIn(" ", choice.message.content, "compact JSON")

    def test_streamed_equals_whole(self):
        whole = pika(TURNS[1], response_format=PIKA_FORMAT)
        text, finish = "", None
        for chunk in pika(TURNS[1], response_format=PIKA_FORMAT, stream=True):
            for c in chunk.choices:
                text += c.delta.content or ""
                finish = c.finish_reason or finish
        self.assertEqual(text, whole.choices[0].message.content)
        self.assertEqual(finish, "stop")

    def test_logprobs_cover_every_token(self):
        r = pika(TURNS[2], response_format=PIKA_FORMAT, logprobs=True, top_logprobs=2)
        content = r.choices[0].logprobs.content
        self.assertEqual(len(content), r.usage.completion_tokens)
        self.assertEqual("".join(t.token for t in content), r.choices[0].message.content)

    def test_sampled_choices_are_valid(self):
        messages = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": TURNS[0]}]
        r = client.chat.completions.create(
            model=MODEL, messages=messages, temperature=1.2, seed=4, n=3, max_tokens=50, response_format=PIKA_FORMAT
        )
        for choice in r.choices:
            self.assertEqual(choice.finish_reason, "stop")
            jsonschema.validate(json.loads(choice.message.content), PIKA_SCHEMA)


class Constraints(unittest.TestCase):
    MESSAGES = [{"role": "user", "content": "Describe a cat as JSON."}]

    def chat(self, **kw):
        kw.setdefault("max_tokens", 60)
        return client.chat.completions.create(model=MODEL, messages=self.MESSAGES, temperature=0, **kw)

    def test_json_object(self):
        r = self.chat(response_format={"type": "json_object"}, max_tokens=200)
        if r.choices[0].finish_reason == "stop":
            self.assertIsInstance(json.loads(r.choices[0].message.content), dict)
        else:
            self.assertTrue(r.choices[0].message.content.startswith("{"))

    def test_structured_outputs_fields(self):
        schema = {
            "type": "object",
            "properties": {
                "name": {"type": "string", "maxLength": 10},
                "legs": {"type": "integer", "minimum": 0, "maximum": 8},
                "colors": {"type": "array", "items": {"enum": ["black", "white", "orange"]}, "maxItems": 2},
            },
            "required": ["legs", "name", "colors"],
        }
        for body in ({"structured_outputs": {"json": schema}}, {"structured_outputs": {"json": json.dumps(schema)}}, {"guided_json": schema}):
            r = self.chat(extra_body=body)
            self.assertEqual(r.choices[0].finish_reason, "stop")
            answer = json.loads(r.choices[0].message.content)
            jsonschema.validate(answer, schema)
            self.assertEqual(list(answer), ["name", "legs", "colors"], "properties in schema order")

    def test_choice_regex_and_grammar(self):
        for body in ({"structured_outputs": {"choice": ["purr", "meow", "hiss"]}}, {"guided_choice": ["purr", "meow"]}):
            r = self.chat(extra_body=body)
            self.assertIn(r.choices[0].message.content, body.get("guided_choice") or body["structured_outputs"]["choice"])
        for body in ({"structured_outputs": {"regex": "[A-Z][a-z]{2,8} (is|was) [0-9]{1,2}"}}, {"guided_regex": "[A-Z][a-z]{2,8} (is|was) [0-9]{1,2}"}):
            r = self.chat(extra_body=body)
            self.assertRegex(r.choices[0].message.content, r"^[A-Z][a-z]{2,8} (is|was) [0-9]{1,2}$")
        grammar = 'root ::= "The cat is " adjective "."\nadjective ::= "small" | "fluffy" | "sleepy"'
        for body in ({"structured_outputs": {"grammar": grammar}}, {"guided_grammar": grammar}):
            r = self.chat(extra_body=body)
            self.assertRegex(r.choices[0].message.content, r"^The cat is (small|fluffy|sleepy)\.$")

    def test_text_completions_take_constraints(self):
        r = client.completions.create(
            model=MODEL, prompt="The answer is", max_tokens=10, temperature=0,
            extra_body={"structured_outputs": {"choice": ["yes", "no"]}},
        )
        self.assertIn(r.choices[0].text, ["yes", "no"])
        self.assertEqual(r.choices[0].finish_reason, "stop")


class Classification(unittest.TestCase):
    """Swerve's `classify`: every alternative of a choice or enum scored in one batched pass."""

    def test_choice_scores_every_alternative(self):
        options = ["positive", "negative", "neutral"]
        r = client.chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": "Classify: I love this robot!"}], max_tokens=10,
            temperature=0, extra_body={"structured_outputs": {"choice": options}, "classify": True},
        )
        choice = r.choices[0].to_dict()
        [report] = choice["classification"]
        self.assertEqual([a["text"] for a in report["alternatives"]], options)
        best = max(report["alternatives"], key=lambda a: a["logprob"])
        self.assertEqual(report["chosen"], best["text"])
        self.assertEqual(choice["message"]["content"], best["text"])
        self.assertTrue(all(a["logprob"] < 0 for a in report["alternatives"]))

    def test_pika_enum_and_boolean_are_classified(self):
        r = pika(TURNS[0], response_format=PIKA_FORMAT, extra_body={"classify": True})
        choice = r.choices[0].to_dict()
        answer = json.loads(choice["message"]["content"])
        jsonschema.validate(answer, PIKA_SCHEMA)
        emotion, learn = choice["classification"]
        self.assertEqual([a["text"] for a in emotion["alternatives"]], EMOTIONS)
        self.assertEqual(emotion["chosen"], answer["emotion"])
        self.assertEqual([a["text"] for a in learn["alternatives"]], ["true", "false"])
        self.assertEqual(learn["chosen"], json.dumps(answer["learn_score"]))
        # Streamed, the same answer and report.
        text, reports = "", []
        for chunk in pika(TURNS[0], response_format=PIKA_FORMAT, extra_body={"classify": True}, stream=True):
            for c in chunk.choices:
                text += c.delta.content or ""
                reports += c.to_dict().get("classification") or []
        self.assertEqual(text, choice["message"]["content"])
        self.assertEqual(reports, choice["classification"])


class Errors(unittest.TestCase):
    def expect_400(self, param_prefix, fragment, **kw):
        with self.assertRaises(openai.BadRequestError) as caught:
            client.chat.completions.create(
                model=MODEL, messages=[{"role": "user", "content": "hi"}], max_tokens=5, **kw
            )
        error = caught.exception.body
        self.assertTrue((error.get("param") or "").startswith(param_prefix), error)
        self.assertIn(fragment, error["message"])
        return error

    def test_unsupported_and_impossible_schemas_name_the_construct(self):
        def fmt(schema):
            return {"type": "json_schema", "json_schema": {"name": "x", "schema": schema}}
        self.expect_400("response_format", "#/properties/a/not", response_format=fmt({"type": "object", "properties": {"a": {"not": {}}}}))
        self.expect_400("response_format", "minLength is above maxLength", response_format=fmt({"type": "string", "minLength": 3, "maxLength": 1}))
        self.expect_400("response_format", "no enum value", response_format=fmt({"enum": []}))
        self.expect_400("structured_outputs.json", "not a valid JSON schema", extra_body={"structured_outputs": {"json": "{not json"}})
        self.expect_400("guided_regex", "lookahead", extra_body={"guided_regex": "(?=x)y"})
        self.expect_400("structured_outputs.grammar", "rule 'b' is not defined", extra_body={"structured_outputs": {"grammar": "root ::= b"}})
        self.expect_400("response_format.type", "must be text, json_object or json_schema", response_format={"type": "yaml"})
        self.expect_400("response_format.json_schema", "needs json_schema.schema", response_format={"type": "json_schema", "json_schema": {"name": "x"}})
        self.expect_400("response_format", "one structured output constraint", response_format={"type": "json_object"}, extra_body={"guided_regex": "a"})
        self.expect_400("structured_outputs.whitespace_pattern", "not supported", extra_body={"structured_outputs": {"json_object": True, "whitespace_pattern": " "}})
        self.expect_400("classify", "needs a structured output constraint", extra_body={"classify": True})

    def test_exploding_schema_is_refused_quickly(self):
        wide = {"type": "array", "items": {"type": "string", "maxLength": 10000}, "maxItems": 10000}
        schema = {"type": "object", "properties": {f"p{i}": wide for i in range(40)}}
        started = time.time()
        self.expect_400("response_format", "too large", response_format={"type": "json_schema", "json_schema": {"name": "x", "schema": schema}})
        deep = {"type": "integer"}
        for _ in range(100):
            deep = {"type": "array", "items": deep}
        self.expect_400("guided_json", "deeper than", extra_body={"guided_json": deep})
        self.assertLess(time.time() - started, 10)
        # The server still answers.
        self.assertEqual(urllib.request.urlopen(BASE + "/health").status, 200)


if __name__ == "__main__":
    unittest.main()
