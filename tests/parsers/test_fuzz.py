"""Seeded fuzz of "strict means strict": >= 100,000 generated outputs, each parsed in one of four modes.

Families: valid JSON in prose/fences/think blocks, truncations, one slip then a cut, random mutations,
non-finite numbers and lone surrogates, deep nesting, huge strings. The oracle is independent of the parser
(json.loads / raw_decode plus a small reference bracket matcher): a strict parse returns either a typed error
(one-line message) or a value equal to json.loads of a complete, well-formed JSON text in the input that is
not nested inside a broken outer value; a cut-off answer is a TruncatedOutputError; repair never returns a
fragment of a broken structure that is never closed. ~20 s here (2 cores); a longer run:
`RECIPES_FUZZ_N=2000000 pytest tests/parsers/test_fuzz.py` (and `RECIPES_FUZZ_SEED=...`).
"""

from __future__ import annotations

import json
import math
import os
import random
import re
from collections import Counter
from collections.abc import Iterator
from typing import Any

from parsers import OutputParseError, TruncatedOutputError, parse_json
from parsers.brackets import lenient_end
from parsers.extract import FENCE, strip_preamble
from parsers.scan import scan

N = int(os.environ.get("RECIPES_FUZZ_N", "100000"))
SEED = int(os.environ.get("RECIPES_FUZZ_SEED", "20260401"))
MODES = [(True, False), (False, False), (True, True), (False, True)]  # (strict, repair)

STRING_CHARS = [*"abcxyz 0129\"\\{}[]:,'\n\t\x01/é", "서울", "🎬", "\u2028", "\\u"]
PREFIXES = [
    ("", ""),
    ("Sure! Here it is: ", " Hope that helps!"),
    ("답변: ", "\n감사합니다."),
    ("Result -> ", " (done)"),
    ("<think>let me think (a), (b)</think>\n", ""),
    ("```json\n", "\n```\nAnything else?"),
    ("Here:\n```\n", "\n```"),
    ("<think>hmm</think>```json\n", "\n```"),
]
SLIP_CHARS = ["x", '"', ",", ":", "}", "]", "{", "[", "'", " ", "1", "-", "\\"]
INJECT = ["1e999", "-1E400", "NaN", "Infinity", "-Infinity", '"\\ud83c"', '"\\udc00x"', '"a\\ud83c\\u0041"', "1e308"]
_OPENER = re.compile(r"[{\[]")
_STRING_REST = re.compile(r'[^"\\]*(?:\\.[^"\\]*)*"', re.S)
_DECODER = json.JSONDecoder(strict=False, parse_constant=lambda name: (_ for _ in ()).throw(ValueError(name)))
_SURROGATE = re.compile("[\ud800-\udfff]")


def gen_string(rng: random.Random) -> str:
    return "".join(rng.choices(STRING_CHARS, k=rng.choice((0, 1, 3, 5, 8))))


def gen_value(rng: random.Random, depth: int = 0) -> Any:
    r = rng.random()
    if depth < 4 and r < 0.3:
        if rng.random() < 0.5:
            return [gen_value(rng, depth + 1) for _ in range(rng.randint(0, 4))]
        return {gen_string(rng): gen_value(rng, depth + 1) for _ in range(rng.randint(0, 4))}
    if r < 0.5:
        return gen_string(rng)
    if r < 0.65:
        return rng.randint(-1000, 1000) if rng.random() < 0.9 else rng.randint(-(10**20), 10**20)
    if r < 0.8:
        return rng.choice((rng.uniform(-1e6, 1e6), 2.5e-8, -0.0, 1e300, rng.random() * 1e-300))
    return rng.choice((True, False, None))


def gen_doc(rng: random.Random) -> tuple[Any, str]:
    value = gen_value(rng, 1)
    root: Any = [value, gen_value(rng, 1)] if rng.random() < 0.4 else {gen_string(rng): value, "k": gen_value(rng, 1)}
    indent = None if rng.random() < 0.85 else rng.choice((1, 2))  # (indenting takes json's slow encoder)
    text = json.dumps(root, ensure_ascii=rng.random() < 0.5, indent=indent)
    return root, text


def checked(value: Any) -> bool:
    """Whether a loaded value is one the parser may return: finite numbers, valid Unicode, depth <= 256."""
    todo: list[tuple[Any, int]] = [(value, 0)]
    while todo:
        node, depth = todo.pop()
        if depth > 256:
            return False
        if isinstance(node, dict):
            if any(_SURROGATE.search(k) for k in node):
                return False
            todo.extend((v, depth + 1) for v in node.values())
        elif isinstance(node, list):
            todo.extend((v, depth + 1) for v in node)
        elif isinstance(node, str) and _SURROGATE.search(node):
            return False
        elif isinstance(node, float) and not math.isfinite(node):
            return False
    return True


def ref_close(text: str, start: int) -> int | None:
    """Reference: where the bracket at `start` is closed by its own kind (strings skipped), char by char."""
    stack: list[str] = []
    i, n = start, len(text)
    while i < n:
        c = text[i]
        if c == '"':
            m = _STRING_REST.match(text, i + 1)
            if m is None:
                return None
            i = m.end()
            continue
        if c in "{[":
            stack.append("}" if c == "{" else "]")
        elif stack and c == stack[-1]:
            stack.pop()
            if not stack:
                return i
        i += 1
    return None


def top_level_groups(text: str, lo: int) -> Iterator[int]:
    """Reference: the brackets at top level from `lo`, each after the previous one closed."""
    pos = lo
    while (m := _OPENER.search(text, pos)) is not None:
        yield m.start()
        end = ref_close(text, m.start())
        if end is None:
            return
        pos = end + 1


def first_unclosed(text: str) -> int | None:
    """Reference: the first top-level bracket that never closes."""
    starts = list(top_level_groups(text, 0))
    return starts[-1] if starts and ref_close(text, starts[-1]) is None else None


def legit_values(text: str) -> Iterator[Any]:
    """Reference: every value a strict parse may return for `text`: the whole answer, a fence's content, or
    a value at a top-level bracket (of the answer, or of a fence's content); lazily, likeliest first."""
    answer = strip_preamble(text)
    for start in top_level_groups(answer, 0):
        try:
            yield _DECODER.raw_decode(answer, start)[0]
        except (ValueError, RecursionError):
            pass
    try:
        yield json.loads(answer.strip(), strict=False)
    except (ValueError, RecursionError):
        pass
    fence = re.search(r"```[^\n`]*\n?(.*?)```", answer, re.S)
    if fence:
        try:
            yield json.loads(fence.group(1).strip(), strict=False)
        except (ValueError, RecursionError):
            pass
        for start in top_level_groups(answer[: fence.end(1)], fence.start(1)):
            try:
                yield _DECODER.raw_decode(answer, start)[0]
            except (ValueError, RecursionError):
                pass


def is_legit(text: str, got: Any) -> bool:
    return any(got == value and checked(value) for value in legit_values(text))


def slip(rng: random.Random, doc: str) -> tuple[str, int]:
    p = rng.randrange(len(doc))
    kind = rng.random()
    if kind < 0.4:
        return doc[:p] + doc[p + 1 :], p
    if kind < 0.7:
        return doc[:p] + rng.choice(SLIP_CHARS) + doc[p:], p
    return doc[:p] + rng.choice(SLIP_CHARS) + doc[p + 1 :], p


def inject(rng: random.Random, doc: str) -> str:
    """`doc` with one number or string replaced by a non-finite number or a lone surrogate."""
    tokens = [m.span() for m in re.finditer(r'-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?|"(?:[^"\\]|\\.)*"', doc)]
    if not tokens:
        return doc[:1] + INJECT[0] + "," + doc[1:] if doc[:1] == "[" else doc
    s, e = rng.choice(tokens)
    if doc[e : e + 1] == ":" or doc[e : e + 2] == ": ":  # a key: inject into the value instead
        return doc
    return doc[:s] + rng.choice(INJECT) + doc[e:]


def deep(rng: random.Random) -> tuple[str, int, bool]:
    """A deeply nested text, its depth, and whether it is complete."""
    d = rng.choice((250, 255, 256, 257, 300, 1000, 3000)) if rng.random() < 0.99 else 100_000
    body = "[" * d + "1" + "]" * d if rng.random() < 0.5 else '{"a": ' * d + "1" + "}" * d
    cut = rng.random() < 0.4
    if cut:
        body = body[: rng.randrange(1, len(body))]
        d = min(d, body.count("[") + body.count("{"))  # the brackets that made it before the cut
    return rng.choice(("", "x ", "```json\n")) + body, d, not cut


def huge(rng: random.Random) -> tuple[str, Any, str]:
    size = rng.choice((100_000, 300_000, 1_000_000))
    value = {"a": "x" * size + "서울", "b": [1, 2]}
    doc = json.dumps(value, ensure_ascii=False)
    family = rng.choice(("valid", "cut", "slip"))
    if family == "cut":
        doc = doc[: rng.randrange(1, len(doc))]
    elif family == "slip":
        doc = doc.replace('", "b"', '" "b"', 1)[:-1]  # a missing comma, then cut off
    return doc, value, family


class Failures:
    def __init__(self) -> None:
        self.items: list[str] = []
        self.by_family: Counter[str] = Counter()

    def add(self, family: str, text: str, mode: tuple[bool, bool], what: str) -> None:
        self.by_family[family] += 1
        if len(self.items) < 12:
            self.items.append(f"{family} strict={mode[0]} repair={mode[1]}: {what} for {text[:300]!r}")


def parse(text: str, mode: tuple[bool, bool], allow_nan: bool = False) -> tuple[Any, OutputParseError | None]:
    extra = {"allow_nan": True} if allow_nan else {}
    try:
        return parse_json(text, strict=mode[0], repair=mode[1], **extra), None
    except OutputParseError as err:
        return None, err


def check_common(failures: Failures, family: str, text: str, mode: tuple[bool, bool], value: Any, err: Any) -> None:
    if err is not None:
        message = str(err)
        if len(message.splitlines()) != 1 or len(message) > 1200 or err.raw != text:
            failures.add(family, text, mode, f"bad error message {message[:200]!r}")
        return
    try:
        json.dumps(value, allow_nan=False, ensure_ascii=False).encode("utf-8")
    except (ValueError, UnicodeEncodeError) as exc:
        failures.add(family, text, mode, f"value not plain finite JSON/valid Unicode ({exc})")


def closes_first_cut(text: str, got: Any) -> bool:
    """strict=False: `got` is the first top-level value that never closes, closed."""
    answer = strip_preamble(text)
    unclosed = first_unclosed(answer)
    if unclosed is None:
        return False
    completion = scan(answer, unclosed).completion
    try:
        return completion is not None and got == json.loads(completion, strict=False)
    except ValueError:
        return False


def repair_is_whole(text: str) -> bool:
    """Repair returned a value: it repaired the first structure (outside any fence prose), or that structure
    is closed (leniently) so the value came after it; never from inside a structure that never closes."""
    cleaned = strip_preamble(text)
    fence = FENCE.search(cleaned)
    lo, hi = fence.span(1) if fence else (0, len(cleaned))
    first = _OPENER.search(cleaned, lo, hi)
    if first is None:
        return False
    from parsers.repair import _repair_one

    try:
        _repair_one(cleaned, first.start(), hi, False)
        return True
    except Exception:
        return lenient_end(cleaned, first.start(), hi) is not None


def check_huge(rng: random.Random, mode: tuple[bool, bool], failures: Failures) -> None:
    doc, value, family = huge(rng)
    text = rng.choice(PREFIXES)[0] + doc
    got, err = parse(text, mode)
    check_common(failures, "huge " + family, text, mode, got, err)
    if family == "valid" and got != value:
        failures.add("huge valid", text, mode, "value lost")
    if family != "valid" and mode[0] and err is None:
        failures.add("huge " + family, text, mode, "a broken answer gave a value")


def check_deep(rng: random.Random, mode: tuple[bool, bool], failures: Failures) -> None:
    text, depth, complete = deep(rng)
    try:
        got, err = parse(text, mode)
    except RecursionError:
        failures.add("deep", text, mode, "RecursionError")
        return
    check_common(failures, "deep", text, mode, got, err)
    if depth > 256 and err is None:
        failures.add("deep", text, mode, f"nested {depth} deep, yet a value")
    if depth <= 256 and complete and err is not None:
        failures.add("deep", text, mode, f"nested {depth} deep and complete, yet {err!r}")
    if depth <= 256 and not complete and mode[0] and not isinstance(err, TruncatedOutputError):
        failures.add("deep", text, mode, f"nested {depth} deep and cut off, yet {err or got!r}")


def check_generated(
    rng: random.Random, family: str, root: Any, doc: str, mode: tuple[bool, bool], failures: Failures
) -> None:
    strict, repair = mode
    prefix, suffix = rng.choice(PREFIXES)
    if family == "valid":
        text = prefix + doc + suffix
        got, err = parse(text, mode)
        check_common(failures, family, text, mode, got, err)
        if err is not None or got != root:
            failures.add(family, text, mode, f"expected the value, got {err or got!r}")
    elif family == "truncated":
        text = prefix + doc[: rng.randrange(1, len(doc))]
        got, err = parse(text, mode)
        check_common(failures, family, text, mode, got, err)
        if strict and not isinstance(err, TruncatedOutputError):
            failures.add(family, text, mode, f"expected TruncatedOutputError, got {err or got!r}")
        if not strict and err is None and not isinstance(got, type(root)):
            failures.add(family, text, mode, f"closed value of the wrong type {got!r}")
    elif family in ("slip then cut", "mutated"):
        if family == "slip then cut":
            mutated, p = slip(rng, doc)
            text = prefix + mutated[: rng.randrange(min(p + 1, len(mutated)), len(mutated) + 1)]
            if len(text) == len(prefix) + len(mutated):
                text = text[:-1]  # always cut
        else:
            text = prefix + doc + suffix
            for _ in range(rng.randint(1, 3)):
                text, _p = slip(rng, text)
        got, err = parse(text, mode)
        check_common(failures, family, text, mode, got, err)
        if err is None and not is_legit(text, got) and not (not strict and closes_first_cut(text, got)):
            if not repair:
                failures.add(family, text, mode, f"returned {got!r}, not a whole value in the input")
            elif not repair_is_whole(text):
                failures.add(family, text, mode, f"repair returned a fragment {got!r}")
    else:  # non-finite numbers and lone surrogates
        text = prefix + inject(rng, doc) + suffix
        allow_nan = rng.random() < 0.3
        got, err = parse(text, mode, allow_nan)
        if not allow_nan:
            check_common(failures, family, text, mode, got, err)
        if err is None and not repair and not is_legit(text, got):
            if not allow_nan or not re.search(r"NaN|Infinity|\d[eE][-+]?\d{3}", text):
                failures.add(family, text, mode, f"returned {got!r}")


# Each generated document gives one input of each of these families (so generating costs less per input).
FAMILIES = ("valid", "truncated", "truncated", "slip then cut", "slip then cut", "mutated", "non-finite / surrogate")


def test_fuzz_strict_means_strict() -> None:
    rng = random.Random(SEED)
    failures = Failures()
    counts: Counter[str] = Counter()
    i = 0
    while i < N:
        mode = MODES[i % 4]
        r = rng.random()
        if r < 0.003:
            check_huge(rng, mode, failures)
            counts["huge string"] += 1
            i += 1
        elif r < 0.025:
            check_deep(rng, mode, failures)
            counts["deep nesting"] += 1
            i += 1
        else:
            root, doc = gen_doc(rng)
            for family in FAMILIES:
                check_generated(rng, family, root, doc, MODES[i % 4], failures)
                counts[family] += 1
                i += 1
    print(f"\nfuzz: {sum(counts.values()):,} inputs {dict(counts)}; failures {dict(failures.by_family)}")
    assert sum(counts.values()) >= min(N, 100_000)
    assert not failures.items, f"{sum(failures.by_family.values())} failures, e.g.\n" + "\n".join(failures.items)
