"""The transformers engine: any Hugging Face causal LM through `model.generate`, on any torch device.

One batched `generate` per call (left padding), stop strings per row (transformers' own `StopStringCriteria`),
streaming with cancellation (`llms.engines.hf_generate`), grammar masks (`llms.grammar_processor`) on the model's
device, usage and finish reason.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator, Sequence
from functools import lru_cache
from typing import Any

import torch
from transformers import (
    GenerationConfig,
    LogitsProcessorList,
    PreTrainedModel,
    PreTrainedTokenizerBase,
    StoppingCriteriaList,
    StopStringCriteria,
)

from llms.engines.base import Capabilities, Completion, GenerationOptions, TokenizerEngine
from llms.engines.hf_generate import Cancelled, NewTextStops, TokenQueue
from llms.options import default_threads
from llms.stops import StopStream, cut_at_stop

__all__ = ["TransformersEngine", "load_transformers_engine"]

# torch has one global RNG: sampled calls from several threads would interleave their draws, so a seed would
# not reproduce. Sampled generation takes this lock (greedy calls draw nothing and run freely).
_RNG_LOCK = threading.Lock()
_OPTIONS = frozenset({"temperature", "top_p", "seed", "repetition_penalty", "grammar"})


class TransformersEngine(TokenizerEngine):
    """`model.generate` for a list of prompts in one batch, or one streamed prompt.

    >>> engine = TransformersEngine(model, tokenizer, name="tiny")           # doctest: +SKIP
    >>> engine.generate(["Hello"], GenerationOptions(max_new_tokens=5))[0].text  # doctest: +SKIP
    """

    def __init__(
        self, model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, *, name: str, threads: int | None = None
    ) -> None:
        self.model = model.eval()
        eos = model.generation_config.eos_token_id
        cfg = model.config
        context = getattr(cfg, "max_position_embeddings", None) or getattr(cfg, "n_positions", None)
        super().__init__(
            tokenizer, name=name, eos=tokenizer.eos_token_id if eos is None else eos, context_length=context,
            threads=threads,
        )
        # transformers' stop-string criterion reads the whole vocabulary when built (0.75 s for 49k tokens, measured):
        # built once per stop set; it keeps no state between calls.
        self._stop_strings: Callable[[tuple[str, ...]], StopStringCriteria] = lru_cache(maxsize=16)(
            lambda stops: StopStringCriteria(tokenizer, list(stops))
        )
        spread = len(set((getattr(model, "hf_device_map", None) or {}).values())) > 1
        device = "auto" if spread else str(model.device)
        self.capabilities = Capabilities(
            engine="transformers",
            grammar=True,
            device=device,
            dtype=str(model.dtype).removeprefix("torch."),
            options=_OPTIONS,
        )

    # -- building blocks -------------------------------------------------------------------------------
    def _encode(self, prompts: Sequence[str]) -> dict[str, torch.Tensor]:
        enc = self.tokenizer(list(prompts), return_tensors="pt", padding=True, padding_side="left")
        return {k: v.to(self.model.device) for k, v in enc.items()}

    def _config(self, prompt_len: int, opts: GenerationOptions) -> GenerationConfig:
        max_new_tokens = self.room(prompt_len, opts.max_new_tokens)
        sampling = opts.temperature > 0
        return GenerationConfig(
            max_new_tokens=max_new_tokens,
            do_sample=sampling,
            temperature=opts.temperature if sampling else None,
            top_p=opts.top_p if sampling else None,
            top_k=None,
            repetition_penalty=opts.repetition_penalty,
            pad_token_id=self.tokenizer.pad_token_id,
            eos_token_id=sorted(self.eos_ids) or None,
        )

    def _criteria(self, stops: Sequence[str], prompt_len: int, cancel: threading.Event | None) -> StoppingCriteriaList:
        criteria = StoppingCriteriaList()
        if stops:
            criteria.append(NewTextStops(self._stop_strings(tuple(stops)), self.tokenizer, stops, prompt_len))
        if cancel is not None:
            criteria.append(Cancelled(cancel))
        return criteria

    def _processors(self, opts: GenerationOptions) -> LogitsProcessorList:
        if opts.grammar is None:
            return LogitsProcessorList()
        from llms.grammar_processor import JsonSchemaProcessor

        # A fresh processor per call: one grammar matcher per row of this batch.
        return LogitsProcessorList([JsonSchemaProcessor(self.tokenizer, opts.grammar, sorted(self.eos_ids))])

    def _run(self, opts: GenerationOptions, **kwargs: Any) -> torch.Tensor:
        torch.set_num_threads(self.threads)
        sampling = opts.temperature > 0
        # fork_rng keeps a seeded call from changing the caller's global torch RNG state.
        fork = torch.random.fork_rng(enabled=opts.seed is not None, devices=self._rng_devices())
        with _RNG_LOCK if sampling else contextlib.nullcontext(), fork, torch.inference_mode():
            if opts.seed is not None:
                torch.manual_seed(opts.seed)
            return self.model.generate(**kwargs)  # type: ignore[operator]

    def _rng_devices(self) -> list[int]:
        device = self.model.device
        return [device.index or 0] if device.type == "cuda" else []

    # -- the Engine interface --------------------------------------------------------------------------
    def generate(self, prompts: Sequence[str], options: GenerationOptions) -> list[Completion]:
        """Generate for all prompts in one `model.generate` call; returns only the new text of each."""
        if not prompts:
            return []
        enc = self._encode(prompts)
        prompt_len = enc["input_ids"].shape[1]
        config = self._config(prompt_len, options)
        out = self._run(
            options,
            **enc,
            generation_config=config,
            stopping_criteria=self._criteria(options.stop, prompt_len, None),
            logits_processor=self._processors(options),
        )
        pad_lens = (enc["attention_mask"] == 0).sum(dim=1).tolist()
        return [
            self._completion(row[prompt_len:].tolist(), prompt_len - pad, config.max_new_tokens or 0, options.stop)
            for row, pad in zip(out, pad_lens, strict=True)
        ]

    def _completion(self, new_ids: list[int], n_prompt: int, limit: int, stop: Sequence[str]) -> Completion:
        ended_by_eos = False
        for i, tok in enumerate(new_ids):
            if tok in self.eos_ids:
                new_ids, ended_by_eos = new_ids[: i + 1], True
                break
        text = self.decode(new_ids)
        text, stopped = cut_at_stop(text, stop)
        reason = "stop" if ended_by_eos or stopped or len(new_ids) < limit else "length"
        return Completion(text, reason, n_prompt, len(new_ids))

    def stream(
        self, prompt: str, options: GenerationOptions, cancel: threading.Event | None = None
    ) -> Iterator[str | Completion]:
        """Yield text pieces as they are generated (never past a stop string), then one final `Completion`."""
        enc = self._encode([prompt])
        prompt_len = enc["input_ids"].shape[1]
        config = self._config(prompt_len, options)
        streamer = TokenQueue()
        cancel = cancel or threading.Event()
        stop = options.stop
        result: dict[str, Any] = {}

        def work() -> None:
            try:
                result["out"] = self._run(
                    options,
                    **enc,
                    generation_config=config,
                    streamer=streamer,
                    stopping_criteria=self._criteria(stop, prompt_len, cancel),
                    logits_processor=self._processors(options),
                )
            except BaseException as exc:  # re-raised in the consumer's thread below
                result["error"] = exc
                streamer.end()

        thread = threading.Thread(target=work, daemon=True)
        thread.start()
        ids: list[int] = []
        shown = StopStream(stop)
        try:
            for token in streamer:
                if shown.stopped or token in self.eos_ids:
                    continue  # drain: generation stops at the next step via the stop criterion / eos
                ids.append(token)
                if piece := shown.feed(self.decode(ids)):
                    yield piece
            thread.join()
            if "error" in result:
                raise result["error"]
            new_ids = result["out"][0][prompt_len:].tolist()
            final = self._completion(new_ids, prompt_len, config.max_new_tokens or 0, stop)
            if piece := shown.feed(final.text, final=True):
                yield piece
            yield final
        finally:
            cancel.set()
            thread.join(timeout=30)


@lru_cache(maxsize=4)
def load_transformers_engine(
    source: str,
    *,
    local_only: bool = True,
    threads: int | None = None,
    device: str = "auto",
    dtype: str = "auto",
    device_map: str | None = None,
) -> TransformersEngine:
    """Load weights once per process (chat model and LLM for the same spec share them) on `device` in `dtype`.

    ``device_map="auto"`` spreads a model larger than one device over GPUs and CPU (accelerate).
    """
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from llms.engines.device import resolve_device, resolve_dtype

    where = resolve_device(device)  # fails in one line, before seconds of loading, if the device is absent
    precision = resolve_dtype(dtype, where)
    torch.set_num_threads(threads or default_threads())
    tokenizer = AutoTokenizer.from_pretrained(source, local_files_only=local_only)
    placement: dict[str, Any] = {"device_map": device_map} if device_map else {}
    model = AutoModelForCausalLM.from_pretrained(
        source, local_files_only=local_only, dtype=getattr(torch, precision), **placement
    )
    if not device_map:
        model = model.to(where)  # type: ignore[arg-type]
    return TransformersEngine(model, tokenizer, name=source, threads=threads)
