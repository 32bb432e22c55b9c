#!/usr/bin/env python3
"""Generates Tests/GrammarTests/Fixtures/regex-corpus.json: Python's `re` (re.ASCII, fullmatch) as the referee
of Swerve's regex dialect. For each pattern of the corpus below: whether Python compiles it, and Python's
verdict on probe strings (written ones, plus random strings over the pattern's own characters). Patterns
marked unsupported are valid Python that no finite automaton matches (backreferences, lookaround, word
boundaries); Swerve must refuse them with a 400, never answer them wrongly.

Run: python3 scripts/make-regex-fixture.py   (standard library only)
"""
import json, os, random, re, sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# (pattern, written probe strings, unsupported)
CORPUS = [
    ("(" * 99 + "a" + ")" * 99, ["a", "", "aa"], False),
    ("a{,3}", ["", "a", "aaa", "aaaa", "a{,3}"], False),
    ("[a-z&&[^b]]+", ["a]", "&]]", "b]", "ab", "[^]", "z]]]"], False),
    ("a{2}", ["aa", "a", "aaa"], False),
    ("a{2,}", ["aa", "aaaaa", "a"], False),
    ("a{2,4}", ["aa", "aaaa", "aaaaa"], False),
    ("a{,}", ["", "aaaa", "b"], False),
    ("a{}", ["a{}", "a"], False),
    ("a{x}", ["a{x}", "a"], False),
    ("a{2", ["a{2", "aa"], False),
    ("a{2,x}", ["a{2,x}", "aa"], False),
    ("x{1,2}?y", ["xy", "xxy", "y"], False),
    ("a++b", ["ab", "aaab", "b"], False),
    ("a*?b", ["b", "aab"], False),
    ("a{2}?", ["aa", "a"], False),
    (r"\d{3}-\d{4}", ["555-1234", "55-1234"], False),
    ("[A-Z][a-z]+( [A-Z][a-z]+)*", ["Hello World", "Hello world", "Hi"], False),
    ("(?:ab|cd)*e", ["e", "abcde", "abce"], False),
    (r"(?P<year>\d{4})-(?P<month>\d{2})", ["2024-01", "2024-1"], False),
    (r'[^"\\]*', ["abc", 'a"b', "a\\b", ""], False),
    (r"\w+@\w+\.com", ["me@x.com", "me@x.org", "@x.com"], False),
    (r"[\s\S]{0,5}", ["", "a\nb", "abcdef"], False),
    ("[]a]+", ["]a", "a]]", "b"], False),
    ("[^]a]+", ["bc", "b]", "x"], False),
    ("[a-]+", ["a-", "-", "b"], False),
    ("[-a]+", ["-a", "b"], False),
    (r"[\d-]+", ["1-2", "a"], False),
    ("a|b|", ["a", "b", "", "ab"], False),
    ("|a", ["", "a"], False),
    ("(a|)+", ["", "aaa"], False),
    ("(a*)*", ["", "aaa", "b"], False),
    ("(a+)+b", ["ab", "aaab", "aaaa"], False),
    (r"\.\*\+\?", [".*+?", "a*+?"], False),
    ("[.*+?]", [".", "*", "a"], False),
    (r"\x41\u0042", ["AB", "ab"], False),
    (r"\t\n\r\f\v\a", ["\t\n\r\f\v\a", "t"], False),
    (r"\01\0", ["\x01\x00", "01"], False),
    ("colou?r", ["color", "colour", "colouur"], False),
    (r"(?:0|[1-9][0-9]*)(?:\.[0-9]+)?", ["0", "10.5", "01", "1."], False),
    ("^abc$", ["abc", "abcd"], False),
    ("^a", ["a", "ba"], False),
    ("a$", ["a", "a\n"], False),
    ("true|false", ["true", "false", "truefalse"], False),
    ("[a-c]{2}[0-2]{1,2}", ["ab1", "ab12", "ad1"], False),
    (r"\W+\D\S", ["!!x!", "a1 "], False),
    ("a{0}b", ["b", "ab"], False),
    ("a{0,0}b", ["b", "ab"], False),
    ("(ab){2}", ["abab", "ab"], False),
    ("é+ñ", ["éñ", "ééñ", "eñ"], False),
    ("[à-ÿ]+", ["àéÿ", "a"], False),
    (r"\u00e9\U0001F600", ["é😀", "e"], False),
    (".", ["a", "\n", "é", ""], False),
    ("(?:[a-z]{3}){2,3}", ["abcdef", "abcdefghi", "abcd"], False),
    (r"[\w.-]+", ["a.b-c_1", "a b"], False),
    # Python refuses these: so must Swerve.
    ("a**", [], False),
    ("a{2}{3}", [], False),
    ("a{2}?+", [], False),
    ("*a", [], False),
    ("{2}", [], False),
    ("x|*", [], False),
    ("(", [], False),
    ("a)", [], False),
    ("[a", [], False),
    ("a{3,2}", [], False),
    (r"\q", [], False),
    (r"[\d-z]", [], False),
    ("[z-a]", [], False),
    # Valid Python, no finite automaton: refused.
    ("(?=a)a", [], True),
    ("(?!b)a", [], True),
    (r"(a)\1", [], True),
    (r"\bab", [], True),
]

def compiles(pattern):
    try:
        re.compile(pattern, re.ASCII)
        return True
    except re.error:
        return False

def probes(pattern, written, rng):
    alphabet = sorted(set(c for c in pattern if c.isprintable()) | set("a1 _-\n"))
    out = list(written)
    for _ in range(40):
        out.append("".join(rng.choice(alphabet) for _ in range(rng.randint(0, 8))))
    return list(dict.fromkeys(out))

def main():
    rng = random.Random(16)
    entries = []
    for pattern, written, unsupported in CORPUS:
        ok = compiles(pattern)
        entry = {"pattern": pattern, "python_compiles": ok, "unsupported": unsupported, "cases": []}
        if ok and not unsupported:
            for text in probes(pattern, written, rng):
                entry["cases"].append({"text": text, "fullmatch": re.fullmatch(pattern, text, re.ASCII) is not None,
                                       "search": re.search(pattern, text, re.ASCII) is not None})
        entries.append(entry)
    out = {"python": sys.version.split()[0], "flags": "re.ASCII", "patterns": entries}
    path = os.path.join(ROOT, "Tests/GrammarTests/Fixtures/regex-corpus.json")
    with open(path, "w", encoding="utf-8") as f:
        json.dump(out, f, ensure_ascii=False, indent=1)
        f.write("\n")
    print(f"{path}: {len(entries)} patterns, {sum(len(e['cases']) for e in entries)} cases")

main()
