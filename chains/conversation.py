"""A chat recipe: a system prompt, the conversation so far as role messages, and the new user turn.

>>> from llms import load_model
>>> chat(load_model("fake:안녕하세요")).invoke({"history": [], "input": "hi"}).content
'안녕하세요'
"""

from __future__ import annotations

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage
from langchain_core.prompts import ChatPromptTemplate, MessagesPlaceholder
from langchain_core.runnables import Runnable

__all__ = ["DEFAULT_SYSTEM", "History", "chat"]

DEFAULT_SYSTEM = {
    "en": "You are a helpful assistant. Answer clearly and concisely.",
    "ko": "당신은 친절한 도우미입니다. 명확하고 간결하게 한국어로 답하세요.",
}


def chat(model: BaseChatModel, system: str | None = None, lang: str = "en") -> Runnable[dict, BaseMessage]:  # type: ignore[type-arg]
    """``system + history + {input} | model``; input ``{"history": [messages], "input": text}``."""
    # The system text is a value, not template text: braces a user types in --system stay literal.
    prompt = ChatPromptTemplate.from_messages(
        [("system", "{system}"), MessagesPlaceholder("history"), ("human", "{input}")]
    ).partial(system=system or DEFAULT_SYSTEM.get(lang, DEFAULT_SYSTEM["en"]))
    return prompt | model


class History:
    """Conversation memory as role messages; `turn` returns a new history and never edits the old one."""

    def __init__(self, messages: tuple[BaseMessage, ...] = ()) -> None:
        self.messages = messages

    def turn(self, user: str, assistant: str) -> History:
        return History((*self.messages, HumanMessage(user), AIMessage(assistant)))

    def __len__(self) -> int:
        return len(self.messages)
