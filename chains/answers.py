"""JSON question answering: "Return a JSON object with an `answer` key ..." parsed and validated.

>>> from llms import load_model
>>> json_qa(load_model('fake:{"answer": "4"}')).invoke({"question": "What is 2+2?"})
Answer(answer='4')
"""

from __future__ import annotations

from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.runnables import Runnable
from pydantic import BaseModel, Field

__all__ = ["Answer", "json_qa"]


class Answer(BaseModel):
    """The answer object every json_qa reply must be."""

    answer: str = Field(max_length=200, description="the answer, as text")


def json_qa(model: BaseChatModel, lang: str = "en", max_attempts: int = 2) -> Runnable[dict[str, Any], Answer]:
    """``prompt | structured(model, Answer)``: constrained decoding on local models, parser + re-ask elsewhere."""
    from llms.structured import constrained
    from prompts import get

    return get("json_answer", lang=lang) | constrained(model, Answer, max_attempts=max_attempts)  # type: ignore[return-value]
