"""The onnxruntime-genai engine: an int4 ONNX build of a Llama-family model, decoded step by step on the CPU.

The step loop is ours (onnxruntime-genai 0.18's plain `Generator` API): each step takes the logits, masks each
row with its own llguidance matcher, applies repetition penalty / temperature / top-p, picks the token
(`llms.engines.onnx_sampling`: greedy, or sampled with a per-call ``numpy.random.Generator(seed)``) and hands it
back as one-hot logits, so the engine's own greedy search appends exactly our choice. onnxruntime-genai has no
stop strings: the loop ends a row once its new text holds one. Rows are right-padded (what onnxruntime-genai's
attention mask and position ids expect); a row that finishes early is only carried along, no matcher or decoding.

The Hugging Face tokenizer saved with the build does the chat template, encoding and decoding, so prompts and
answers match the transformers engine token for token. No torch is imported on this path.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from llms.engines.base import Capabilities, Completion, GenerationOptions, TokenizerEngine
from llms.engines.onnx_sampling import choose, fill_masks, new_rng
from llms.errors import OptionNotSupportedError
from llms.stops import StopStream, cut_at_stop

__all__ = ["OnnxEngine", "load_onnx_engine", "load_tokenizer"]

ENGINE = "onnxruntime"
# Every optional GenerationOptions field is honoured here; `_check_options` refuses any other by name.
_OPTIONS = frozenset({"temperature", "top_p", "seed", "repetition_penalty", "grammar"})
# Tokenizer classes that are exactly `PreTrainedTokenizerFast` over tokenizer.json: loading them directly skips
# AutoTokenizer, whose config machinery imports torch (~2-3 s of a fresh process).
_PLAIN_TOKENIZERS = {None, "TokenizersBackend", "PreTrainedTokenizerFast"}
# onnxruntime-genai 0.18 refuses a batch of more than 32 rows: larger calls run as sub-batches of this size.
MAX_BATCH = 32


def load_tokenizer(directory: Path) -> Any:
    """The model folder's Hugging Face tokenizer, the same object AutoTokenizer gives (without torch if possible)."""
    config_file = directory / "tokenizer_config.json"
    config = json.loads(config_file.read_text(encoding="utf-8")) if config_file.is_file() else {}
    if config.get("tokenizer_class") in _PLAIN_TOKENIZERS and (directory / "tokenizer.json").is_file():
        from transformers import PreTrainedTokenizerFast

        return PreTrainedTokenizerFast.from_pretrained(str(directory), local_files_only=True)
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(directory), local_files_only=True)


@dataclass
class _Row:
    """One prompt's decoding state."""

    prompt: list[int]
    ids: list[int] = field(default_factory=list)
    reason: str | None = None  # None while generating; "stop" (eos or stop string) or "length"
    text: str = ""  # decoded new text, kept up to date only when stops or streaming need it
    matcher: Any = None
    seen: set[int] = field(default_factory=set)  # token ids for repetition_penalty (prompt and output)


class OnnxEngine(TokenizerEngine):
    """An onnxruntime-genai model folder (``genai_config.json`` + ``model.onnx``) and its HF tokenizer.

    >>> engine = load_onnx_engine("/cache/models/smollm2-135m-instruct-onnx-int4")  # doctest: +SKIP
    >>> prompt = engine.format_chat([{"role": "user", "content": "Hi"}])           # doctest: +SKIP
    >>> engine.generate([prompt], GenerationOptions(max_new_tokens=8))[0].text     # doctest: +SKIP
    """

    def __init__(self, directory: str | Path, *, name: str | None = None, threads: int | None = None) -> None:
        import onnxruntime_genai as og

        self.directory = Path(directory)
        genai = json.loads((self.directory / "genai_config.json").read_text(encoding="utf-8"))["model"]
        super().__init__(
            load_tokenizer(self.directory), name=name or str(directory), eos=genai.get("eos_token_id"),
            context_length=genai.get("context_length"), threads=threads,
        )
        config = og.Config(str(self.directory))
        session = {"intra_op_num_threads": self.threads, "inter_op_num_threads": 1}
        config.overlay(json.dumps({"model": {"decoder": {"session_options": session}}}))
        self._og = og
        self.model = og.Model(config)
        self.pad_id = int(genai.get("pad_token_id", min(self.eos_ids, default=0)))
        self.vocab_size = int(genai["vocab_size"])
        self.capabilities = Capabilities(engine=ENGINE, grammar=True, device="cpu", dtype="int4", options=_OPTIONS)
        self._lltokenizer: Any = None
        self._lltokenizer_lock = threading.Lock()

    # -- building blocks -------------------------------------------------------------------------------
    def _check_options(self, opts: GenerationOptions) -> None:
        given = {
            "temperature": opts.temperature > 0,
            "top_p": opts.top_p is not None,
            "seed": opts.seed is not None,
            "repetition_penalty": opts.repetition_penalty is not None,
            "grammar": opts.grammar is not None,
        }
        refused = sorted(name for name, used in given.items() if used and name not in self.capabilities.options)
        if refused:
            raise OptionNotSupportedError(
                f"option {', '.join(refused)} is not supported by the {ENGINE} engine; use engine='transformers'"
            )

    def _ll_tokenizer(self) -> Any:
        """llguidance's view of the tokenizer (~0.5 s to build): once per engine."""
        with self._lltokenizer_lock:
            if self._lltokenizer is None:
                import llguidance.hf

                from llms.grammar import GrammarError

                if not self.eos_ids:
                    raise GrammarError("constrained decoding needs an end-of-sequence token; the model has none")
                try:
                    self._lltokenizer = llguidance.hf.from_tokenizer(
                        self.tokenizer, n_vocab=self.vocab_size, eos_token=sorted(self.eos_ids)
                    )
                except ValueError as err:
                    raise GrammarError(f"llguidance cannot use this tokenizer: {err}") from None
            return self._lltokenizer

    def _matchers(self, grammar: Any, rows: int) -> list[Any]:
        from llguidance import LLMatcher

        from llms.grammar import GrammarError

        lltok = self._ll_tokenizer()
        matchers = [LLMatcher(lltok, grammar.grammar, log_level=0) for _ in range(rows)]
        for matcher in matchers:
            if matcher.is_error():
                raise GrammarError(f"the grammar engine rejected the schema: {matcher.get_error()[:200]}")
        return matchers

    def _encode(self, prompts: Sequence[str]) -> list[list[int]]:
        encoded = self.tokenizer(list(prompts))["input_ids"]
        return [list(map(int, ids)) for ids in encoded]

    def _run(
        self,
        rows: list[_Row],
        opts: GenerationOptions,
        cancel: threading.Event | None,
        track_text: bool,
        rng: np.random.Generator | None = None,
    ) -> Iterator[list[_Row]]:
        """The step loop over `rows` (updated in place): yields after every step until all rows are finished.

        `rng` (one per call, shared by its sub-batches) draws the samples when temperature > 0.
        """
        self._check_options(opts)
        if any(not row.prompt for row in rows):
            raise ValueError("a prompt must encode to at least one token")
        width = max(len(row.prompt) for row in rows)
        limit = self.room(width, opts.max_new_tokens)
        grammar = opts.grammar
        if grammar is not None:
            for row, matcher in zip(rows, self._matchers(grammar, len(rows)), strict=True):
                row.matcher = matcher
        penalty = opts.repetition_penalty if opts.repetition_penalty not in (None, 1.0) else None
        if penalty is not None:
            for row in rows:
                row.seen.update(row.prompt)
        if opts.temperature > 0 and rng is None:
            rng = new_rng(opts.seed)
        elif opts.temperature <= 0:
            rng = None
        # Our own choice each step when anything beyond plain greedy is asked for; else the engine's argmax.
        hook = rng is not None or penalty is not None or grammar is not None
        stops = opts.stop
        decode = track_text or bool(stops)

        og = self._og
        params = og.GeneratorParams(self.model)
        params.set_search_options(
            max_length=width + limit, batch_size=len(rows), do_sample=False, num_beams=1, repetition_penalty=1.0
        )
        generator = og.Generator(self.model, params)
        # Right padding: onnxruntime-genai masks trailing pads and reads each row's logits at its last real token.
        padded = np.full((len(rows), width), self.pad_id, dtype=np.int32)
        for i, row in enumerate(rows):
            padded[i, : len(row.prompt)] = row.prompt
        generator.append_tokens(padded)
        masks = np.full((len(rows), (self.vocab_size + 31) // 32), -1, dtype=np.int32) if grammar is not None else None
        for step in range(limit):
            if cancel is not None and cancel.is_set():
                return
            active = [i for i, row in enumerate(rows) if row.reason is None]
            if hook:
                logits = generator.get_logits()  # (rows, 1, vocab) float32, ours to change
                if masks is not None:
                    fill_masks([row.matcher for row in rows], masks, active)
                for i in active:
                    scores, row = logits[i, 0], rows[i]
                    mask = None if masks is None or row.matcher is None else masks[i]
                    token = choose(scores, mask, row.seen, opts, penalty, rng, min(self.eos_ids, default=0))
                    scores.fill(-np.inf)  # one-hot: the engine's greedy search appends exactly this token
                    scores[token] = 0.0
                generator.set_logits(logits)
            generator.generate_next_token()
            tokens = generator.get_next_tokens()
            for i in active:
                row, token = rows[i], int(tokens[i])
                row.ids.append(token)
                if penalty is not None:
                    row.seen.add(token)
                if token in self.eos_ids:
                    row.reason = "stop"
                    continue
                if row.matcher is not None:
                    row.matcher.consume_token(token)
                if decode:
                    row.text = self.decode(row.ids)
                    if stops and cut_at_stop(row.text, stops)[1]:
                        row.reason = "stop"
                if row.reason is None and step + 1 >= limit:
                    row.reason = "length"
            yield rows
            if all(row.reason is not None for row in rows) or generator.is_done():
                return

    def _completion(self, row: _Row, stop: Sequence[str]) -> Completion:
        ids = row.ids
        ended_by_eos = bool(ids) and ids[-1] in self.eos_ids
        text, stopped = cut_at_stop(self.decode(ids), stop)
        # "length" only when the token limit ended the row; a cancelled stream ends as "stop".
        reason = "stop" if ended_by_eos or stopped or row.reason != "length" else "length"
        return Completion(text, reason, len(row.prompt), len(ids))

    # -- the Engine interface --------------------------------------------------------------------------
    def generate(self, prompts: Sequence[str], options: GenerationOptions) -> list[Completion]:
        """All prompts in one batched step loop; each result holds only the new text."""
        if not prompts:
            return []
        rows = [_Row(prompt=ids) for ids in self._encode(prompts)]
        rng = new_rng(options.seed) if options.temperature > 0 else None
        # A right-padded row whose prompt itself ends in the pad token would read as shorter: run those alone.
        alone = len(rows) > 1 and any(row.prompt and row.prompt[-1] == self.pad_id for row in rows)
        size = 1 if alone else MAX_BATCH
        for start in range(0, len(rows), size):
            for _ in self._run(rows[start : start + size], options, None, track_text=False, rng=rng):
                pass
        return [self._completion(row, options.stop) for row in rows]

    def stream(
        self, prompt: str, options: GenerationOptions, cancel: threading.Event | None = None
    ) -> Iterator[str | Completion]:
        """Yield text pieces as they are generated (never past a stop string), then one final `Completion`.

        The loop runs in the consumer's thread: closing the iterator or setting `cancel` stops it at the next step.
        """
        (prompt_ids,) = self._encode([prompt])
        row = _Row(prompt=prompt_ids)
        shown = StopStream(options.stop)
        for _ in self._run([row], options, cancel, track_text=True):
            if piece := shown.feed(row.text, final=row.reason is not None):
                yield piece
        final = self._completion(row, options.stop)
        if piece := shown.feed(final.text, final=True):
            yield piece
        yield final


@lru_cache(maxsize=4)
def load_onnx_engine(directory: str, *, name: str | None = None, threads: int | None = None) -> OnnxEngine:
    """Load a built model folder once per process (chat model and LLM for the same spec share it)."""
    return OnnxEngine(directory, name=name, threads=threads)
