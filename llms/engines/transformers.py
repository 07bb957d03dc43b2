"""The transformers engine: any Hugging Face causal LM through `model.generate`, on any torch device.

One batched `generate` per call (left padding), stop strings per row, streaming with cancellation, grammar masks
(`llms.grammar_processor`) and stop criteria on the model's device, usage and finish reason.
"""

from __future__ import annotations

import contextlib
import queue
import threading
from collections.abc import Iterator, Sequence
from functools import lru_cache
from typing import Any

import torch
from transformers import (
    GenerationConfig,
    LogitsProcessorList,
    PreTrainedModel,
    PreTrainedTokenizerBase,
    StoppingCriteria,
    StoppingCriteriaList,
)
from transformers.generation.streamers import BaseStreamer

from llms.engines.base import (
    FALLBACK_CHAT_TEMPLATE,
    FALLBACK_STOP,
    Capabilities,
    Completion,
    GenerationOptions,
    PromptTooLongError,
    render_chat,
)
from llms.options import default_threads
from llms.stops import cut_at_stop, held_back

__all__ = ["TransformersEngine", "load_transformers_engine"]

# torch has one global RNG: sampled calls from several threads would interleave their draws, so a seed would
# not reproduce. Sampled generation takes this lock (greedy calls draw nothing and run freely).
_RNG_LOCK = threading.Lock()
_OPTIONS = frozenset({"temperature", "top_p", "seed", "repetition_penalty", "grammar"})


class _StopOnStrings(StoppingCriteria):
    """Marks a row done once its generated text contains any stop string (transformers checks per row)."""

    def __init__(self, tokenizer: PreTrainedTokenizerBase, stops: Sequence[str], prompt_len: int) -> None:
        self.tokenizer = tokenizer
        self.stops = list(stops)
        self.prompt_len = prompt_len
        # A token decodes to at least one character in practice, so this window always covers a stop string.
        self.window = max(len(s) for s in self.stops) + 4

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor, **kwargs: Any) -> torch.BoolTensor:
        tail = input_ids[:, self.prompt_len :][:, -self.window :]
        texts = self.tokenizer.batch_decode(tail, skip_special_tokens=True)
        done = [any(s in t for s in self.stops) for t in texts]
        return torch.tensor(done, dtype=torch.bool, device=input_ids.device)  # type: ignore[return-value]


class _Cancelled(StoppingCriteria):
    """Stops generation when a consumer abandons a stream, so no thread keeps generating in the background."""

    def __init__(self, event: threading.Event) -> None:
        self.event = event

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor, **kwargs: Any) -> torch.BoolTensor:
        flag = self.event.is_set()
        return torch.full((input_ids.shape[0],), flag, dtype=torch.bool, device=input_ids.device)  # type: ignore[return-value]


class _TokenQueue(BaseStreamer):
    """Hands each new token id to the consuming thread. (`TextIteratorStreamer` releases text only at word
    boundaries, so compact JSON arrived in two or three pieces.)"""

    def __init__(self) -> None:
        self.queue: queue.Queue[int | None] = queue.Queue()
        self.prompt_seen = False

    def put(self, value: torch.Tensor) -> None:
        if not self.prompt_seen:  # generate() first passes the prompt
            self.prompt_seen = True
            return
        for token in value.reshape(-1).tolist():
            self.queue.put(int(token))

    def end(self) -> None:
        self.queue.put(None)

    def __iter__(self) -> Iterator[int]:
        while (token := self.queue.get()) is not None:
            yield token


class TransformersEngine:
    """`model.generate` for a list of prompts in one batch, or one streamed prompt.

    >>> engine = TransformersEngine(model, tokenizer, name="tiny")           # doctest: +SKIP
    >>> engine.generate(["Hello"], GenerationOptions(max_new_tokens=5))[0].text  # doctest: +SKIP
    """

    def __init__(
        self, model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, *, name: str, threads: int | None = None
    ) -> None:
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.name = name
        self.threads = threads or default_threads()
        if tokenizer.pad_token_id is None:
            # GPT-Neo and many base models ship no pad token; batching needs one and eos is the usual choice.
            tokenizer.pad_token = tokenizer.eos_token
        # Base models (GPT-Neo) have no chat template: ours, set once here, renders plain role turns.
        self.chat_stops: tuple[str, ...] = ()
        if not getattr(tokenizer, "chat_template", None):
            tokenizer.chat_template = FALLBACK_CHAT_TEMPLATE
            self.chat_stops = FALLBACK_STOP
        eos = model.generation_config.eos_token_id
        if eos is None:
            eos = tokenizer.eos_token_id
        self.eos_ids: set[int] = set(eos if isinstance(eos, list) else [eos]) if eos is not None else set()
        cfg = model.config
        self.context_length: int | None = getattr(cfg, "max_position_embeddings", None) or getattr(
            cfg, "n_positions", None
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

    def format_chat(self, messages: Sequence[dict[str, str]]) -> str:
        return render_chat(self.tokenizer, messages)

    # -- building blocks -------------------------------------------------------------------------------
    def _encode(self, prompts: Sequence[str]) -> dict[str, torch.Tensor]:
        enc = self.tokenizer(list(prompts), return_tensors="pt", padding=True, padding_side="left")
        return {k: v.to(self.model.device) for k, v in enc.items()}

    def _config(self, prompt_len: int, opts: GenerationOptions) -> GenerationConfig:
        max_new_tokens = opts.max_new_tokens
        if self.context_length is not None:
            room = self.context_length - prompt_len
            if room < 1:
                raise PromptTooLongError(
                    f"prompt is {prompt_len} tokens but {self.name} has a context of {self.context_length}"
                )
            max_new_tokens = min(max_new_tokens, room)
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
            criteria.append(_StopOnStrings(self.tokenizer, stops, prompt_len))
        if cancel is not None:
            criteria.append(_Cancelled(cancel))
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
        text = str(self.tokenizer.decode(new_ids, skip_special_tokens=True))
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
        streamer = _TokenQueue()
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
        text, sent, stopped = "", 0, False
        try:
            for token in streamer:
                if stopped or token in self.eos_ids:
                    continue  # drain: generation stops at the next step via the stop criterion / eos
                ids.append(token)
                decoded = str(self.tokenizer.decode(ids, skip_special_tokens=True))
                if decoded.endswith("\ufffd"):
                    continue  # a multi-byte character split across tokens: wait for the rest
                text = decoded
                cut, stopped = cut_at_stop(text, stop)
                safe = len(cut) if stopped else len(text) - held_back(text, stop)
                if safe > sent:
                    yield text[sent:safe]
                    sent = safe
            thread.join()
            if "error" in result:
                raise result["error"]
            new_ids = result["out"][0][prompt_len:].tolist()
            final = self._completion(new_ids, prompt_len, config.max_new_tokens or 0, stop)
            if not stopped and sent < len(final.text):
                yield final.text[sent:]
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
