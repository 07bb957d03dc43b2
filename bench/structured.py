"""Structured output on the embedded model: validity and time per token, prompt-only vs unconstrained vs
constrained (grammar), all measured in one run.

Run:  .venv/bin/python bench/structured.py [--model local] [--engine auto] [--prompts 20] [--tokens 96]

Arms, each over the same prompts, greedy, one prompt at a time (arms interleaved so a busy machine slows all alike):
  prompt-only    the question plus "Answer in JSON with the keys title, year and genre." + our parser
  unconstrained  a system message holding the JSON schema + the question + our parser
  constrained    the same messages as unconstrained, decoding constrained to the schema (llms.structured)
Time per token is end to end (call time / new tokens, so prompt processing is included and short answers look
slower); on the transformers engine the grammar processor's own cost per token is replayed and printed too.
Goals: constrained 100% valid; its time per token <= 1.05x unconstrained.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

QUESTIONS = [
    "Suggest a movie for a rainy evening.",
    "Recommend a scary film for Halloween.",
    "What should I watch on a first date?",
    "A funny film for kids, please.",
    "Name a classic science fiction movie.",
    "I want a sad movie that makes me cry.",
    "Suggest an animated film for the whole family.",
    "Pick a movie about space travel.",
    "Recommend a romantic comedy.",
    "What is a good action movie from the 1990s?",
    "무서운 영화 하나 추천해 줘.",
    "주말에 가족과 볼 영화를 추천해 주세요.",
    "A movie with a twist ending?",
    "Suggest a film about friendship.",
    "I like dinosaurs. What should I watch?",
    "Recommend a movie set in Paris.",
    "Give me a thriller for tonight.",
    "What is a good movie about music?",
    "Suggest a documentary-style drama.",
    "한국 영화 하나 추천해 줄래?",
]
GENRES = ["action", "animation", "comedy", "drama", "horror", "romance", "science fiction", "thriller"]


@dataclass
class Arm:
    name: str
    valid: int = 0
    tokens: int = 0
    seconds: float = 0.0
    calls: int = 0
    examples: list[str] = field(default_factory=list)

    @property
    def ms_per_token(self) -> float:
        return 1000 * self.seconds / max(self.tokens, 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="local")
    parser.add_argument("--prompts", type=int, default=20)
    parser.add_argument("--tokens", type=int, default=96)
    parser.add_argument("--engine", default="auto", help="local engine: auto, onnxruntime or transformers")
    args = parser.parse_args()

    from typing import Literal

    import torch
    from langchain_core.messages import BaseMessage, HumanMessage, SystemMessage
    from pydantic import BaseModel, Field

    from llms import load_model
    from llms.grammar import json_grammar, json_schema_of
    from llms.grammar_processor import JsonSchemaProcessor
    from llms.structured import format_instructions, parse_structured
    from parsers import OutputParseError

    class Suggestion(BaseModel):
        title: str = Field(max_length=60)
        year: int = Field(ge=1900, le=2030)
        genre: Literal[tuple(GENRES)]  # type: ignore[valid-type]

    started = time.perf_counter()
    model = load_model(args.model, max_new_tokens=args.tokens, engine=args.engine)
    print(f"model={args.model} threads={torch.get_num_threads()} max_new_tokens={args.tokens} "
          f"prompts={args.prompts} (loaded in {time.perf_counter() - started:.1f}s)")
    grammar = json_grammar(json_schema_of(Suggestion))
    system = SystemMessage(format_instructions(Suggestion))
    inputs: dict[str, Callable[[str], list[BaseMessage]]] = {
        "prompt-only": lambda q: [HumanMessage(f"{q} Answer in JSON with the keys title, year and genre.")],
        "unconstrained": lambda q: [system, HumanMessage(q)],
        "constrained": lambda q: [system, HumanMessage(q)],
    }
    kwargs: dict[str, dict[str, Any]] = {
        "prompt-only": {},
        "unconstrained": {},
        "constrained": {"json_schema": grammar},
    }
    started = time.perf_counter()
    model.invoke("warm up", max_new_tokens=4, json_schema=grammar)  # first use converts the tokenizer (cached)
    print(f"first constrained call (includes llguidance tokenizer conversion): {time.perf_counter() - started:.2f}s")

    arms = {name: Arm(name) for name in inputs}
    order = list(arms)
    for i, question in enumerate(QUESTIONS[: args.prompts]):
        for name in order[i % 3 :] + order[: i % 3]:  # rotate which arm goes first
            arm = arms[name]
            started = time.perf_counter()
            message = model.invoke(inputs[name](question), **kwargs[name])
            arm.seconds += time.perf_counter() - started
            arm.tokens += message.usage_metadata["output_tokens"]  # type: ignore[index]
            arm.calls += 1
            try:
                parse_structured(message.text, Suggestion, finish_reason=message.response_metadata["finish_reason"])
                arm.valid += 1
            except OutputParseError:
                pass
            if len(arm.examples) < 2:
                arm.examples.append(message.text[:100].replace("\n", "\\n"))

    # The transformers processor's own cost: replay the constrained answers' tokens through a fresh processor.
    engine = model.engine  # type: ignore[attr-defined]
    width = engine.model.config.vocab_size if hasattr(engine, "model") else 0
    replay, steps = 0.0, 0
    for question in QUESTIONS[: min(args.prompts, 5) if width else 0]:
        text = model.invoke(inputs["constrained"](question), json_schema=grammar).text
        ids = engine.tokenizer.encode(text, add_special_tokens=False)
        processor = JsonSchemaProcessor(engine.tokenizer, grammar, sorted(engine.eos_ids))
        seen = torch.zeros((1, 1), dtype=torch.long)
        for token in ids:
            scores = torch.zeros(1, width)
            t0 = time.perf_counter()
            processor(seen, scores)  # type: ignore[arg-type]
            replay += time.perf_counter() - t0
            steps += 1
            seen = torch.cat([seen, torch.tensor([[token]])], dim=1)

    print(f"\nengine: {engine.capabilities.engine} ({engine.capabilities.dtype})")
    print(f"{'arm':<14} {'valid':>7} {'tokens':>7} {'ms/token':>9}   example")
    for arm in arms.values():
        print(f"{arm.name:<14} {arm.valid:>3}/{arm.calls:<3} {arm.tokens:>7} {arm.ms_per_token:>9.1f}   "
              f"{arm.examples[0] if arm.examples else ''}")
    con, unc, plain = arms["constrained"], arms["unconstrained"], arms["prompt-only"]
    print(f"\nconstrained / unconstrained time per token, end to end: {con.ms_per_token / unc.ms_per_token:.3f}x"
          "   (goal <= 1.05x)")
    print(f"constrained / prompt-only time per token, end to end:   {con.ms_per_token / plain.ms_per_token:.3f}x")
    if steps:
        print(f"grammar processor alone: {1000 * replay / steps:.3f} ms/token ({steps} tokens replayed)")
    print(f"constrained valid: {arms['constrained'].valid}/{arms['constrained'].calls}   (goal 100%)")


if __name__ == "__main__":
    main()
