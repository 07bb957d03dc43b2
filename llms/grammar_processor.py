"""Grammar-constrained decoding inside `generate`: a batched transformers LogitsProcessor over llguidance.

Each row of a batch gets its own `llguidance.LLMatcher`; before every token the processor sets the scores of
tokens the row's grammar forbids to -inf, so the text can only be JSON matching the schema, and end-of-sequence
is allowed only once the value is complete (after the last ``}`` it is the only choice).
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Sequence
from typing import Any

import torch
from llguidance import LLMatcher, LLTokenizer
from transformers import LogitsProcessor, PreTrainedTokenizerBase

from llms.grammar import GrammarError, JsonGrammar, grammar_for

__all__ = ["JsonSchemaProcessor", "grammar_processor", "ll_tokenizer"]


# Converting a tokenizer for llguidance takes ~0.5 s: keep one per (tokenizer, logits width, eos ids).
_TOKENIZERS: weakref.WeakKeyDictionary[Any, dict[tuple[int, tuple[int, ...]], LLTokenizer]] = (
    weakref.WeakKeyDictionary()
)
_TOKENIZERS_LOCK = threading.Lock()


def ll_tokenizer(tokenizer: PreTrainedTokenizerBase, n_vocab: int, eos_ids: Sequence[int]) -> LLTokenizer:
    """llguidance's view of a fast HF tokenizer, for logits `n_vocab` wide (may exceed `len(tokenizer)`)."""
    import llguidance.hf

    key = (n_vocab, tuple(sorted(eos_ids)))
    with _TOKENIZERS_LOCK:
        cached = _TOKENIZERS.setdefault(tokenizer, {})
        if key not in cached:
            if not key[1]:
                raise GrammarError("constrained decoding needs an end-of-sequence token; the tokenizer has none")
            try:
                cached[key] = llguidance.hf.from_tokenizer(tokenizer, n_vocab=n_vocab, eos_token=list(key[1]))  # type: ignore[arg-type]
            except ValueError as err:
                raise GrammarError(f"llguidance cannot use this tokenizer: {err}") from None
        return cached[key]


class JsonSchemaProcessor(LogitsProcessor):
    """Masks each row's scores to what its own `LLMatcher` allows; make a new one per `generate` call.

    Rows may be left-padded (the prompt is never fed to the matcher) and may finish early: a matcher that has
    taken end-of-sequence is left alone and its row only allows end-of-sequence (transformers pads it anyway).
    """

    def __init__(self, tokenizer: PreTrainedTokenizerBase, grammar: JsonGrammar, eos_ids: Sequence[int]) -> None:
        self.tokenizer = tokenizer
        self.grammar = grammar
        self.eos_ids = list(eos_ids)
        self.matchers: list[LLMatcher] = []
        self._length = 0  # input length at the previous step
        self._mask = torch.empty(0, dtype=torch.int32)
        self._bits = torch.arange(32, dtype=torch.int32)

    def _start(self, rows: int, width: int) -> None:
        lltok = ll_tokenizer(self.tokenizer, width, self.eos_ids)
        self.matchers = [LLMatcher(lltok, self.grammar.grammar, log_level=0) for _ in range(rows)]
        for matcher in self.matchers:
            if matcher.is_error():
                raise GrammarError(f"the grammar engine rejected the schema: {matcher.get_error()[:200]}")
        self._mask = torch.full((rows, (width + 31) // 32), -1, dtype=torch.int32)

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        rows, width = scores.shape
        if not self.matchers:
            self._start(rows, width)
        elif input_ids.shape[1] != self._length + 1 or rows != len(self.matchers):
            # Reused for a second generate call, its matchers would take the new prompt's last token as output.
            raise RuntimeError("a JsonSchemaProcessor serves one generate call; make a new one per call")
        else:
            for row, matcher in enumerate(self.matchers):
                if not matcher.is_stopped():
                    matcher.consume_token(int(input_ids[row, -1]))
        self._length = input_ids.shape[1]
        for row, matcher in enumerate(self.matchers):
            matcher.unsafe_compute_mask_ptr(self._mask[row].data_ptr(), self._mask.shape[1] * 4)
        # Unpack 32 tokens per int32 word; llguidance's own helper uses torch.compile (13 s on first use).
        allowed = ((self._mask.unsqueeze(-1) >> self._bits) & 1).view(rows, -1)[:, :width].bool()
        # The matchers work on the CPU; the mask goes to wherever the model's scores are (a GPU included).
        return scores.masked_fill(~allowed.to(scores.device), float("-inf"))  # type: ignore[return-value]


def grammar_processor(tokenizer: PreTrainedTokenizerBase, schema: Any, eos_ids: Sequence[int]) -> JsonSchemaProcessor:
    """A fresh processor for one `generate` call: `schema` as a grammar (compiled with the default limits)."""
    return JsonSchemaProcessor(tokenizer, grammar_for(schema), sorted(eos_ids))
