"""Seeded sampling repeats whatever else runs at the same time.

torch has one global RNG: before the engine serialised sampled generation, `bind(temperature=0.8, seed=42)`
repeated 8/8 times alone but 0/8 when called from 8 threads, whose draws interleaved.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from llms import load_model

PROMPT = "Describe a perfect day in Paris."


def test_a_seed_repeats_when_eight_threads_sample_at_once(tiny_gpt_neo_dir: Path) -> None:
    model = load_model(f"hf:{tiny_gpt_neo_dir}", max_new_tokens=24, engine="transformers")
    seeded = model.bind(temperature=0.8, seed=42)
    alone = seeded.invoke(PROMPT).text
    assert alone  # a random model samples some text at this temperature
    other = model.bind(temperature=0.8, seed=7).invoke(PROMPT).text
    assert other != alone  # the seed matters: equal outputs below are not a model that ignores it
    with ThreadPoolExecutor(max_workers=8) as pool:
        together = list(pool.map(lambda _: seeded.invoke(PROMPT).text, range(8)))
    assert together == [alone] * 8
    # Mixed seeds at once: each still gets its own text.
    mixed_seeds = [42, 7] * 4
    with ThreadPoolExecutor(max_workers=8) as pool:
        mixed = list(pool.map(lambda s: model.bind(temperature=0.8, seed=s).invoke(PROMPT).text, mixed_seeds))
    assert mixed == [alone if s == 42 else other for s in mixed_seeds]
