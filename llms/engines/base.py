"""The engine interface: the few operations local generation needs, whatever runs the weights.

`llms.local.LocalChatModel` / `LocalLLM` talk only to this; an engine owns its tokenizer, chat template, device and
decoding loop. Pure Python (no torch), so importing it is cheap.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from llms.errors import RecipesError

__all__ = [
    "FALLBACK_CHAT_TEMPLATE",
    "FALLBACK_STOP",
    "Capabilities",
    "Completion",
    "Engine",
    "GenerationOptions",
    "PromptTooLongError",
    "TokenizerEngine",
    "render_chat",
]


class PromptTooLongError(RecipesError, ValueError):
    """The prompt does not leave room for a single new token in the model's context window."""


@dataclass(frozen=True)
class Completion:
    """What one prompt produced: the new text only (never the prompt), why it ended, and token counts."""

    text: str
    finish_reason: str  # "stop" (eos or a stop string) or "length" (max_new_tokens reached)
    prompt_tokens: int
    completion_tokens: int


@dataclass(frozen=True)
class GenerationOptions:
    """One call's decoding options, already merged from the model's defaults and the per-call values.

    `grammar` is an `llms.grammar.JsonGrammar` (or None): the engine constrains every row to it.
    """

    max_new_tokens: int = 256
    temperature: float = 0.0
    top_p: float | None = None
    stop: tuple[str, ...] = ()
    seed: int | None = None
    repetition_penalty: float | None = None
    grammar: Any = None


@dataclass(frozen=True)
class Capabilities:
    """What an engine can do, so callers ask instead of checking class names."""

    engine: str  # "transformers" or "onnxruntime"
    grammar: bool  # grammar-constrained decoding (structured output) inside the decoding loop
    device: str  # where the weights run: "cpu", "cuda:0", "mps", or "auto" (device_map over several)
    dtype: str  # "float32", "bfloat16", "float16", "int4", ...
    options: frozenset[str] = field(default_factory=frozenset)  # optional GenerationOptions it honours


# Chat prompt for tokenizers with no chat template (base models such as GPT-Neo): plain role turns.
#   System: {system}\n\nUser: {human}\nAssistant: {ai}\nUser: {human}\nAssistant:
# Our own template (never user-supplied), set once when the engine loads; generation stops before the model
# starts writing the next user turn itself (`FALLBACK_STOP`).
FALLBACK_CHAT_TEMPLATE = (
    "{% for m in messages %}{% if not loop.first %}{{ '\\n' }}{% endif %}"
    "{% if m['role'] == 'system' %}{{ 'System: ' + m['content'] + '\\n' }}"
    "{% elif m['role'] == 'assistant' %}{{ 'Assistant: ' + m['content'] }}"
    "{% else %}{{ 'User: ' + m['content'] }}{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}{{ '\\nAssistant:' }}{% endif %}"
)
FALLBACK_STOP = ("\nUser:",)


def render_chat(tokenizer: Any, messages: Sequence[dict[str, str]]) -> str:
    """`messages` (``{"role", "content"}`` dicts) through the tokenizer's chat template, ending in an open turn."""
    if not messages:
        raise ValueError("a chat model needs at least one message")
    return str(tokenizer.apply_chat_template(list(messages), tokenize=False, add_generation_prompt=True))


class TokenizerEngine:
    """What both engines share: a Hugging Face tokenizer made ready for batches and chat (a pad token; our template
    and its stop when it has none), the end-of-sequence ids, the context window and the thread count."""

    def __init__(
        self,
        tokenizer: Any,
        *,
        name: str,
        eos: int | list[int] | None,
        context_length: int | None,
        threads: int | None = None,
    ) -> None:
        from llms.options import default_threads

        self.tokenizer = tokenizer
        self.name = name
        self.threads = threads or default_threads()
        self.eos_ids: set[int] = set(eos if isinstance(eos, list) else [eos]) if eos is not None else set()
        self.context_length = context_length
        if tokenizer.pad_token_id is None:
            # GPT-Neo and many base models ship no pad token; batching needs one and eos is the usual choice.
            tokenizer.pad_token = tokenizer.eos_token
        self.chat_stops: tuple[str, ...] = ()
        if not getattr(tokenizer, "chat_template", None):
            tokenizer.chat_template = FALLBACK_CHAT_TEMPLATE  # base models (GPT-Neo): plain role turns
            self.chat_stops = FALLBACK_STOP

    def format_chat(self, messages: Sequence[dict[str, str]]) -> str:
        """Render chat messages with the model's chat template (or the fallback set at load)."""
        return render_chat(self.tokenizer, messages)

    def decode(self, ids: Sequence[int]) -> str:
        """New token ids as text (special tokens left out)."""
        return str(self.tokenizer.decode(list(ids), skip_special_tokens=True))

    def room(self, prompt_len: int, max_new_tokens: int) -> int:
        """`max_new_tokens`, cut to what the context window leaves after the prompt (`PromptTooLongError` if none)."""
        if self.context_length is None:
            return max_new_tokens
        room = int(self.context_length) - prompt_len
        if room < 1:
            context = f"{self.name} has a context of {self.context_length}"
            raise PromptTooLongError(f"prompt is {prompt_len} tokens but {context}")
        return min(max_new_tokens, room)


@runtime_checkable
class Engine(Protocol):
    """Runs a local model: batched generate with per-row stops, streaming with cancellation, usage, finish reason.

    >>> from llms.engines.base import Engine
    >>> hasattr(Engine, "generate") and hasattr(Engine, "stream")
    True
    """

    name: str  # the model's name as users gave it (spec name or directory)
    capabilities: Capabilities
    # Stops the chat template needs (the fallback template's next-turn marker); empty for real templates.
    chat_stops: tuple[str, ...]

    def format_chat(self, messages: Sequence[dict[str, str]]) -> str:
        """Render chat messages with the model's chat template (or the fallback set at load)."""
        ...

    def generate(self, prompts: Sequence[str], options: GenerationOptions) -> list[Completion]:
        """All prompts in one batched engine call; each result holds only the new text."""
        ...

    def stream(
        self, prompt: str, options: GenerationOptions, cancel: threading.Event | None = None
    ) -> Iterator[str | Completion]:
        """Text pieces as they are generated (never past a stop string), then one final `Completion`.

        Closing the iterator (or setting `cancel`) stops generation at the next step.
        """
        ...
