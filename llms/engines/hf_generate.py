"""What the transformers engine plugs into `generate`: stop strings (transformers' own criterion, held to the new
text), cancellation, and a streamer handing token ids to the consuming thread."""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator, Sequence
from typing import Any

import torch
from transformers import PreTrainedTokenizerBase, StoppingCriteria, StopStringCriteria
from transformers.generation.streamers import BaseStreamer

__all__ = ["Cancelled", "NewTextStops", "TokenQueue"]


class NewTextStops(StoppingCriteria):
    """transformers' `StopStringCriteria`, held to the generated text: its match may begin in the prompt's tail (a
    stop "\\n\\na" after a prompt ending in "\\n", measured), so a row it stops is confirmed on its new text."""

    def __init__(
        self, inner: StopStringCriteria, tokenizer: PreTrainedTokenizerBase, stops: Sequence[str], prompt_len: int
    ) -> None:
        self.inner, self.tokenizer, self.stops, self.prompt_len = inner, tokenizer, tuple(stops), prompt_len

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor, **kwargs: Any) -> torch.BoolTensor:
        done = self.inner(input_ids, scores, **kwargs)
        for row in done.nonzero().flatten().tolist():  # rare: once a row, when a stop is completed
            text = self.tokenizer.decode(input_ids[row, self.prompt_len :], skip_special_tokens=True)
            done[row] = any(s in text for s in self.stops)
        return done  # type: ignore[no-any-return]


class Cancelled(StoppingCriteria):
    """Stops generation when a consumer abandons a stream, so no thread keeps generating in the background."""

    def __init__(self, event: threading.Event) -> None:
        self.event = event

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor, **kwargs: Any) -> torch.BoolTensor:
        flag = self.event.is_set()
        return torch.full((input_ids.shape[0],), flag, dtype=torch.bool, device=input_ids.device)  # type: ignore[return-value]


class TokenQueue(BaseStreamer):
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
