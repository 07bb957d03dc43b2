"""Choosing the onnxruntime engine's next token with numpy: repetition penalty, grammar masks, greedy or
top-p sampling from a per-call generator."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from llms.engines.base import GenerationOptions

__all__ = ["choose", "fill_masks", "new_rng"]


def choose(
    scores: np.ndarray,
    mask: np.ndarray | None,
    seen: set[int],
    opts: GenerationOptions,
    penalty: float | None,
    rng: np.random.Generator | None,
    eos: int,
) -> int:
    """One row's next token from its scores (changed in place: the caller overwrites them with the choice):
    repetition penalty over the `seen` ids, grammar `mask` (already filled for this step), then greedy or sampling
    (over the allowed tokens only); `eos` when the mask allows nothing."""
    if penalty is not None and seen:
        ids = np.fromiter(seen, dtype=np.int64, count=len(seen))
        ids = ids[ids < scores.shape[0]]
        picked = scores[ids]
        scores[ids] = np.where(picked > 0, picked / penalty, picked * penalty)
    if mask is not None:
        if rng is None:  # greedy: when the best token is allowed it is the answer, no unpacking needed
            best = int(np.argmax(scores))
            if (int(mask[best >> 5]) >> (best & 31)) & 1:
                return best
        words = np.flatnonzero(mask)  # unpack only the 32-token words that allow something
        bits = np.unpackbits(mask[words].view(np.uint8), bitorder="little").reshape(-1, 32)
        word, bit = np.nonzero(bits)
        allowed = words[word] * 32 + bit
        allowed = allowed[allowed < scores.shape[0]]
        if allowed.size == 0:  # the matcher allows nothing (it has stopped): end the row
            return eos
        candidates = scores[allowed]
        if rng is None:
            return int(allowed[int(np.argmax(candidates))])
        return int(allowed[_sample(candidates, opts.temperature, opts.top_p, rng)])
    if rng is None:
        return int(np.argmax(scores))
    return _sample(scores, opts.temperature, opts.top_p, rng)


def fill_masks(matchers: Sequence[Any], masks: np.ndarray, active: Sequence[int]) -> None:
    """Each active row's allowed-token bitmask for the next step (in place), from its grammar matcher."""
    for i in active:
        matcher = matchers[i]
        if matcher is not None:
            matcher.unsafe_compute_mask_ptr(masks[i].ctypes.data, masks[i].nbytes)


def new_rng(seed: int | None) -> np.random.Generator:
    """A call's own random generator: seeded calls reproduce whatever other threads do meanwhile."""
    return np.random.default_rng(seed)


def _sample(scores: np.ndarray, temperature: float, top_p: float | None, rng: np.random.Generator) -> int:
    """Sample from softmax(scores / temperature), keeping the smallest set of tokens whose mass reaches top_p."""
    scaled = scores / np.float32(temperature)
    top = float(np.max(scaled))
    probs = np.exp(scaled - top)
    if top_p is not None and top_p < 1.0:
        total = float(probs.sum())
        candidates = np.flatnonzero(probs)
        # Sort only the candidates that can matter: the largest ones, enough to cover top_p of the mass.
        k = min(len(candidates), 256)
        while True:
            part = candidates[np.argpartition(-probs[candidates], k - 1)[:k]] if k < len(candidates) else candidates
            order = part[np.argsort(-probs[part], kind="stable")]
            cumulative = np.cumsum(probs[order]) / total
            if cumulative[-1] >= top_p or k >= len(candidates):
                break
            k = min(len(candidates), k * 4)
        keep = int(np.searchsorted(cumulative, top_p)) + 1  # tokens before the mass reaches top_p, plus that one
        order = order[:keep]
        mass = np.cumsum(probs[order], dtype=np.float64)
        pick = int(np.searchsorted(mass, rng.random() * mass[-1], side="right"))
        return int(order[min(pick, len(order) - 1)])
    cumulative = np.cumsum(probs, dtype=np.float64)
    pick = int(np.searchsorted(cumulative, rng.random() * cumulative[-1], side="right"))
    return min(pick, len(cumulative) - 1)
