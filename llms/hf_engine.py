"""One place that runs `model.generate` for local Hugging Face causal LMs: batching, stops, streaming, usage.

Both our LLM and our chat model call this engine, so prompt trimming, stop strings, left padding and finish
reasons are handled identically for invoke, batch and stream.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from transformers import (
    GenerationConfig,
    LogitsProcessor,
    LogitsProcessorList,
    PreTrainedModel,
    PreTrainedTokenizerBase,
    StoppingCriteria,
    StoppingCriteriaList,
    TextIteratorStreamer,
)

from llms.options import default_threads
from llms.stops import cut_at_stop, held_back

__all__ = ["Completion", "HFEngine", "PromptTooLongError"]


class PromptTooLongError(ValueError):
    """The prompt does not leave room for a single new token in the model's context window."""


@dataclass(frozen=True)
class Completion:
    """What one prompt produced: the new text only (never the prompt), why it ended, and token counts."""

    text: str
    finish_reason: str  # "stop" (eos or a stop string) or "length" (max_new_tokens reached)
    prompt_tokens: int
    completion_tokens: int


class _StopOnStrings(StoppingCriteria):
    """Marks a row done once its generated text contains any stop string (transformers checks per row)."""

    def __init__(self, tokenizer: PreTrainedTokenizerBase, stops: Sequence[str], prompt_len: int) -> None:
        self.tokenizer = tokenizer
        self.stops = list(stops)
        self.prompt_len = prompt_len
        # A token decodes to at least one character in practice, so this window always covers a stop string.
        self.window = max(len(s) for s in self.stops) + 4

    def __call__(
        self, input_ids: torch.LongTensor, scores: torch.FloatTensor, **kwargs: Any
    ) -> torch.BoolTensor:
        tail = input_ids[:, self.prompt_len :][:, -self.window :]
        texts = self.tokenizer.batch_decode(tail, skip_special_tokens=True)
        done = [any(s in t for s in self.stops) for t in texts]
        return torch.tensor(done, dtype=torch.bool, device=input_ids.device)  # type: ignore[return-value]


class _Cancelled(StoppingCriteria):
    """Stops generation when a consumer abandons a stream, so no thread keeps generating in the background."""

    def __init__(self, event: threading.Event) -> None:
        self.event = event

    def __call__(
        self, input_ids: torch.LongTensor, scores: torch.FloatTensor, **kwargs: Any
    ) -> torch.BoolTensor:
        flag = self.event.is_set()
        return torch.full((input_ids.shape[0],), flag, dtype=torch.bool)  # type: ignore[return-value]


class HFEngine:
    """Runs a causal LM's `generate` for a list of prompts in one batch (left padding), or streams one prompt.

    >>> engine = HFEngine(model, tokenizer, name="tiny")           # doctest: +SKIP
    >>> engine.generate(["Hello"], max_new_tokens=5)[0].text      # doctest: +SKIP
    """

    def __init__(
        self,
        model: PreTrainedModel,
        tokenizer: PreTrainedTokenizerBase,
        *,
        name: str,
        threads: int | None = None,
    ) -> None:
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.name = name
        self.threads = threads or default_threads()
        if tokenizer.pad_token_id is None:
            # GPT-Neo and many base models ship no pad token; batching needs one and eos is the usual choice.
            tokenizer.pad_token = tokenizer.eos_token
        eos = model.generation_config.eos_token_id
        if eos is None:
            eos = tokenizer.eos_token_id
        self.eos_ids: set[int] = set(eos if isinstance(eos, list) else [eos]) if eos is not None else set()
        cfg = model.config
        self.context_length: int | None = getattr(cfg, "max_position_embeddings", None) or getattr(
            cfg, "n_positions", None
        )

    # -- building blocks -------------------------------------------------------------------------------
    def _encode(self, prompts: Sequence[str]) -> dict[str, torch.Tensor]:
        return self.tokenizer(list(prompts), return_tensors="pt", padding=True, padding_side="left")

    def _config(
        self,
        prompt_len: int,
        max_new_tokens: int,
        temperature: float,
        repetition_penalty: float | None,
    ) -> GenerationConfig:
        if self.context_length is not None:
            room = self.context_length - prompt_len
            if room < 1:
                raise PromptTooLongError(
                    f"prompt is {prompt_len} tokens but {self.name} has a context of {self.context_length}"
                )
            max_new_tokens = min(max_new_tokens, room)
        sampling = temperature > 0
        return GenerationConfig(
            max_new_tokens=max_new_tokens,
            do_sample=sampling,
            temperature=temperature if sampling else None,
            top_p=None,
            top_k=None,
            repetition_penalty=repetition_penalty,
            pad_token_id=self.tokenizer.pad_token_id,
            eos_token_id=sorted(self.eos_ids) or None,
        )

    def _criteria(
        self, stops: Sequence[str], prompt_len: int, cancel: threading.Event | None
    ) -> StoppingCriteriaList:
        criteria = StoppingCriteriaList()
        if stops:
            criteria.append(_StopOnStrings(self.tokenizer, stops, prompt_len))
        if cancel is not None:
            criteria.append(_Cancelled(cancel))
        return criteria

    def _run(self, seed: int | None, **kwargs: Any) -> torch.Tensor:
        torch.set_num_threads(self.threads)
        # fork_rng keeps a seeded call from changing the caller's global torch RNG state.
        with torch.random.fork_rng(enabled=seed is not None), torch.inference_mode():
            if seed is not None:
                torch.manual_seed(seed)
            return self.model.generate(**kwargs)  # type: ignore[operator]

    # -- public API ------------------------------------------------------------------------------------
    def generate(
        self,
        prompts: Sequence[str],
        *,
        max_new_tokens: int = 256,
        temperature: float = 0.0,
        stop: Sequence[str] = (),
        seed: int | None = None,
        repetition_penalty: float | None = None,
        logits_processors: Sequence[LogitsProcessor] = (),
    ) -> list[Completion]:
        """Generate for all prompts in one `model.generate` call; returns only the new text of each."""
        if not prompts:
            return []
        enc = self._encode(prompts)
        prompt_len = enc["input_ids"].shape[1]
        config = self._config(prompt_len, max_new_tokens, temperature, repetition_penalty)
        out = self._run(
            seed,
            **enc,
            generation_config=config,
            stopping_criteria=self._criteria(stop, prompt_len, None),
            logits_processor=LogitsProcessorList(logits_processors),
        )
        pad_lens = (enc["attention_mask"] == 0).sum(dim=1).tolist()
        return [
            self._completion(row[prompt_len:].tolist(), prompt_len - pad, config.max_new_tokens or 0, stop)
            for row, pad in zip(out, pad_lens, strict=True)
        ]

    def _completion(self, new_ids: list[int], n_prompt: int, limit: int, stop: Sequence[str]) -> Completion:
        ended_by_eos = False
        for i, tok in enumerate(new_ids):
            if tok in self.eos_ids:
                new_ids, ended_by_eos = new_ids[: i + 1], True
                break
        text = str(self.tokenizer.decode(new_ids, skip_special_tokens=True))
        text, stopped = cut_at_stop(text, stop)
        reason = "stop" if ended_by_eos or stopped or len(new_ids) < limit else "length"
        return Completion(text, reason, n_prompt, len(new_ids))

    def stream(
        self,
        prompt: str,
        *,
        max_new_tokens: int = 256,
        temperature: float = 0.0,
        stop: Sequence[str] = (),
        seed: int | None = None,
        repetition_penalty: float | None = None,
        logits_processors: Sequence[LogitsProcessor] = (),
    ) -> Iterator[str | Completion]:
        """Yield text pieces as they are generated (never past a stop string), then one final `Completion`."""
        enc = self._encode([prompt])
        prompt_len = enc["input_ids"].shape[1]
        config = self._config(prompt_len, max_new_tokens, temperature, repetition_penalty)
        streamer = TextIteratorStreamer(self.tokenizer, skip_prompt=True, skip_special_tokens=True)  # type: ignore[arg-type]
        cancel = threading.Event()
        result: dict[str, Any] = {}

        def work() -> None:
            try:
                result["out"] = self._run(
                    seed,
                    **enc,
                    generation_config=config,
                    streamer=streamer,
                    stopping_criteria=self._criteria(stop, prompt_len, cancel),
                    logits_processor=LogitsProcessorList(logits_processors),
                )
            except BaseException as exc:  # re-raised in the consumer's thread below
                result["error"] = exc
                streamer.end()

        thread = threading.Thread(target=work, daemon=True)
        thread.start()
        text, sent, stopped = "", 0, False
        try:
            for piece in streamer:
                if stopped:
                    continue  # drain: generation stops at the next step via the stop criterion
                text += piece
                cut, stopped = cut_at_stop(text, stop)
                safe = len(cut) if stopped else len(text) - held_back(text, stop)
                if safe > sent:
                    yield text[sent:safe]
                    sent = safe
            thread.join()
            if "error" in result:
                raise result["error"]
            if not stopped and sent < len(text):
                yield text[sent:]
            final = self._completion(
                result["out"][0][prompt_len:].tolist(), prompt_len, config.max_new_tokens or 0, stop
            )
            yield final
        finally:
            cancel.set()
            thread.join(timeout=30)
