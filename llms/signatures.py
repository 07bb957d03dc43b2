"""Short names for the types in LangChain's model-method signatures, so each `_generate`/`_stream` override we
must write reads on one or two lines instead of seven (five classes override them).

>>> from llms.signatures import Stop
>>> Stop
list[str] | None
"""

from __future__ import annotations

from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.messages import BaseMessage

__all__ = ["ARun", "Messages", "Run", "Stop"]

Messages = list[BaseMessage]
Stop = list[str] | None
Run = CallbackManagerForLLMRun | None
ARun = AsyncCallbackManagerForLLMRun | None
