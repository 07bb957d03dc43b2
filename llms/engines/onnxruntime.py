"""The onnxruntime-genai engine: an int4 ONNX build of a Llama-family model, decoded step by step on the CPU.

The step loop is ours (onnxruntime-genai 0.18's plain `Generator` API): each step takes the logits, masks each
row with its own llguidance matcher, applies repetition penalty / temperature / top-p, picks the token (greedy,
or sampled with a per-call ``numpy.random.Generator(seed)``) and hands it back as one-hot logits, so the
engine's own greedy search appends exactly our choice. Rows are right-padded (what onnxruntime-genai's attention
mask and position ids expect); a row that finishes early is only carried along, no matcher or decoding.

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

from llms.engines.base import (
    FALLBACK_CHAT_TEMPLATE,
    FALLBACK_STOP,
    Capabilities,
    Completion,
    GenerationOptions,
    PromptTooLongError,
    render_chat,
)
from llms.errors import OptionNotSupportedError
from llms.options import default_threads
from llms.stops import cut_at_stop, held_back

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


class OnnxEngine:
    """An onnxruntime-genai model folder (``genai_config.json`` + ``model.onnx``) and its HF tokenizer.

    >>> engine = load_onnx_engine("/cache/models/smollm2-135m-instruct-onnx-int4")  # doctest: +SKIP
    >>> prompt = engine.format_chat([{"role": "user", "content": "Hi"}])           # doctest: +SKIP
    >>> engine.generate([prompt], GenerationOptions(max_new_tokens=8))[0].text     # doctest: +SKIP
    """

    def __init__(self, directory: str | Path, *, name: str | None = None, threads: int | None = None) -> None:
        import onnxruntime_genai as og

        self.directory = Path(directory)
        self.name = name or str(directory)
        self.threads = threads or default_threads()
        genai = json.loads((self.directory / "genai_config.json").read_text(encoding="utf-8"))["model"]
        config = og.Config(str(self.directory))
        session = {"intra_op_num_threads": self.threads, "inter_op_num_threads": 1}
        config.overlay(json.dumps({"model": {"decoder": {"session_options": session}}}))
        self._og = og
        self.model = og.Model(config)
        eos = genai.get("eos_token_id")
        self.eos_ids: set[int] = set(eos if isinstance(eos, list) else [eos]) if eos is not None else set()
        self.pad_id = int(genai.get("pad_token_id", min(self.eos_ids, default=0)))
        self.vocab_size = int(genai["vocab_size"])
        self.context_length: int | None = genai.get("context_length")
        self.tokenizer = load_tokenizer(self.directory)
        if self.tokenizer.pad_token_id is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.chat_stops: tuple[str, ...] = ()
        if not getattr(self.tokenizer, "chat_template", None):
            self.tokenizer.chat_template = FALLBACK_CHAT_TEMPLATE
            self.chat_stops = FALLBACK_STOP
        self.capabilities = Capabilities(engine=ENGINE, grammar=True, device="cpu", dtype="int4", options=_OPTIONS)
        self._lltokenizer: Any = None
        self._lltokenizer_lock = threading.Lock()

    def format_chat(self, messages: Sequence[dict[str, str]]) -> str:
        return render_chat(self.tokenizer, messages)

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

    def _limit(self, padded_len: int, opts: GenerationOptions) -> int:
        limit = opts.max_new_tokens
        if self.context_length is not None:
            room = int(self.context_length) - padded_len
            if room < 1:
                raise PromptTooLongError(
                    f"prompt is {padded_len} tokens but {self.name} has a context of {self.context_length}"
                )
            limit = min(limit, room)
        return limit

    def _decode(self, ids: Sequence[int]) -> str:
        return str(self.tokenizer.decode(list(ids), skip_special_tokens=True))

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
        limit = self._limit(width, opts)
        grammar = opts.grammar
        if grammar is not None:
            for row, matcher in zip(rows, self._matchers(grammar, len(rows)), strict=True):
                row.matcher = matcher
        penalty = opts.repetition_penalty if opts.repetition_penalty not in (None, 1.0) else None
        if penalty is not None:
            for row in rows:
                row.seen.update(row.prompt)
        if opts.temperature > 0 and rng is None:
            rng = _rng(opts)
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
                    _fill_masks(rows, masks, active)
                for i in active:
                    scores = logits[i, 0]
                    token = self._choose(rows[i], scores, None if masks is None else masks[i], opts, penalty, rng)
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
                    row.text = self._decode(row.ids)
                    if stops and cut_at_stop(row.text, stops)[1]:
                        row.reason = "stop"
                if row.reason is None and step + 1 >= limit:
                    row.reason = "length"
            yield rows
            if all(row.reason is not None for row in rows) or generator.is_done():
                return

    def _choose(
        self,
        row: _Row,
        scores: np.ndarray,
        mask: np.ndarray | None,
        opts: GenerationOptions,
        penalty: float | None,
        rng: np.random.Generator | None,
    ) -> int:
        """One row's next token from its scores (changed in place: the caller overwrites them with the choice):
        repetition penalty, grammar mask (already filled for this step), then greedy or sampling (over the
        allowed tokens only)."""
        if penalty is not None and row.seen:
            seen = np.fromiter(row.seen, dtype=np.int64, count=len(row.seen))
            seen = seen[seen < scores.shape[0]]
            picked = scores[seen]
            scores[seen] = np.where(picked > 0, picked / penalty, picked * penalty)
        if mask is not None and row.matcher is not None:
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
                return min(self.eos_ids)
            candidates = scores[allowed]
            if rng is None:
                return int(allowed[int(np.argmax(candidates))])
            return int(allowed[_sample(candidates, opts.temperature, opts.top_p, rng)])
        if rng is None:
            return int(np.argmax(scores))
        return _sample(scores, opts.temperature, opts.top_p, rng)

    def _completion(self, row: _Row, stop: Sequence[str]) -> Completion:
        ids = row.ids
        ended_by_eos = bool(ids) and ids[-1] in self.eos_ids
        text, stopped = cut_at_stop(self._decode(ids), stop)
        # "length" only when the token limit ended the row; a cancelled stream ends as "stop".
        reason = "stop" if ended_by_eos or stopped or row.reason != "length" else "length"
        return Completion(text, reason, len(row.prompt), len(ids))

    # -- the Engine interface --------------------------------------------------------------------------
    def generate(self, prompts: Sequence[str], options: GenerationOptions) -> list[Completion]:
        """All prompts in one batched step loop; each result holds only the new text."""
        if not prompts:
            return []
        rows = [_Row(prompt=ids) for ids in self._encode(prompts)]
        rng = _rng(options) if options.temperature > 0 else None
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
        stop = options.stop
        row = _Row(prompt=prompt_ids)
        sent = 0
        for _ in self._run([row], options, cancel, track_text=True):
            text, stopped = cut_at_stop(row.text, stop)
            if stopped or row.reason is not None:
                safe = len(text)
            else:
                # Hold back a possible stop-string start and an incomplete UTF-8 character (decoded as U+FFFD).
                safe = len(text) - held_back(text, stop)
                while safe > sent and text[safe - 1] == "\ufffd":
                    safe -= 1
            if safe > sent:
                yield text[sent:safe]
                sent = safe
        final = self._completion(row, stop)
        if len(final.text) > sent:
            yield final.text[sent:]
        yield final


def _fill_masks(rows: list[_Row], masks: np.ndarray, active: list[int]) -> None:
    """Each active row's allowed-token bitmask for the next step, from its grammar matcher."""
    for i in active:
        matcher = rows[i].matcher
        if matcher is not None:
            matcher.unsafe_compute_mask_ptr(masks[i].ctypes.data, masks[i].nbytes)


def _rng(opts: GenerationOptions) -> np.random.Generator:
    """A call's own random generator: seeded calls reproduce whatever other threads do meanwhile."""
    return np.random.default_rng(opts.seed)


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


@lru_cache(maxsize=4)
def load_onnx_engine(directory: str, *, name: str | None = None, threads: int | None = None) -> OnnxEngine:
    """Load a built model folder once per process (chat model and LLM for the same spec share it)."""
    return OnnxEngine(directory, name=name, threads=threads)
