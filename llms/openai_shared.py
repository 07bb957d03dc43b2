"""What our two LangChain OpenAI classes (chat and text completions) share: the endpoint, typed errors for it,
and no LangChain serialization."""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import SecretStr

from llms.openai_connection import OPENAI_BASE_URL
from llms.openai_errors import clean_url
from llms.openai_translate import translate_errors

__all__ = ["OpenAIEndpoint"]


class OpenAIEndpoint:
    """Mixin (before the LangChain class): `_endpoint`, the URL it calls without key or query, and `_translate()`,
    the block whose openai SDK failures become typed `BackendError`s naming that URL, the key masked."""

    endpoint_path: ClassVar[str] = "chat/completions"
    if TYPE_CHECKING:  # fields of the LangChain class this is mixed into
        openai_api_base: str | None
        openai_api_key: Any

    @classmethod
    def is_lc_serializable(cls) -> bool:
        # Our subclasses are not in LangChain's loadable namespaces: `load(dumpd(model))` could not rebuild them.
        return False

    @property
    def _endpoint(self) -> str:
        return clean_url(f"{(self.openai_api_base or OPENAI_BASE_URL).rstrip('/')}/{self.endpoint_path}")

    @property
    def _secret(self) -> str | None:
        key = self.openai_api_key
        return key.get_secret_value() if isinstance(key, SecretStr) else None

    def _translate(self) -> AbstractContextManager[None]:
        return translate_errors(self._endpoint, secret=self._secret)
