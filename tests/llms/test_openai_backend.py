"""Configuration of the OpenAI backend: URL and key resolution, timeouts, retries, refused options, errors."""

from __future__ import annotations

import importlib
from typing import Any

import openai
import pytest

from llms import load_llm, load_model
from llms.fake import FakeChatModel
from llms.openai_backend import openai_chat
from llms.openai_chat_model import RecipesChatOpenAI
from llms.openai_completions_model import RecipesOpenAI
from llms.openai_connection import (
    DEFAULT_CONNECT_TIMEOUT_S,
    DEFAULT_MAX_RETRIES,
    DEFAULT_READ_TIMEOUT_S,
    DUMMY_KEY,
    resolve_connection,
)
from llms.openai_errors import (
    BackendAuthError,
    BackendConfigError,
    BackendConnectTimeoutError,
    BackendTimeoutError,
    BackendUnreachableError,
    clean_url,
)
from llms.openai_translate import backend_error
from llms.options import ModelOptions
from parsers import OutputParseError

pytestmark = pytest.mark.usefixtures("no_openai_env")

# The SDK's httpx flavour: httpx2 for openai>=3, httpx before.
_CLIENT = next(c for c in openai.DefaultAsyncHttpxClient.__mro__ if c.__name__ == "AsyncClient")
httpx = importlib.import_module(_CLIENT.__module__.partition(".")[0])

LOCAL = "http://127.0.0.1:8000/v1"


def test_base_url_from_options_then_env_then_openai(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-env")
    assert resolve_connection(ModelOptions()).base_url == "https://api.openai.com/v1"
    monkeypatch.setenv("OPENAI_BASE_URL", "http://10.0.0.5:9000/v1/")
    assert resolve_connection(ModelOptions()).base_url == "http://10.0.0.5:9000/v1"
    assert resolve_connection(ModelOptions(base_url=LOCAL)).base_url == LOCAL


def test_key_from_options_then_env_else_dummy_for_local_servers(monkeypatch: pytest.MonkeyPatch) -> None:
    assert resolve_connection(ModelOptions(base_url=LOCAL)).api_key == DUMMY_KEY
    monkeypatch.setenv("OPENAI_API_KEY", "sk-env")
    assert resolve_connection(ModelOptions(base_url=LOCAL)).api_key == "sk-env"
    assert resolve_connection(ModelOptions(base_url=LOCAL, api_key="sk-opt")).api_key == "sk-opt"


def test_openai_itself_without_a_key_is_an_auth_error_before_any_request() -> None:
    with pytest.raises(BackendAuthError, match="OPENAI_API_KEY") as info:
        load_model("openai:gpt-4o-mini")
    assert "api.openai.com" in str(info.value)


def test_the_key_never_shows_in_reprs() -> None:
    secret = "sk-very-secret-0001"
    conn = resolve_connection(ModelOptions(base_url=LOCAL, api_key=secret))
    model = openai_chat("m", ModelOptions(base_url=LOCAL, api_key=secret))
    assert secret not in repr(conn)
    assert secret not in repr(model) and secret not in str(model.model_dump())


def test_explicit_timeouts_and_bounded_retries() -> None:
    conn = resolve_connection(ModelOptions(base_url=LOCAL))
    assert (conn.timeout.connect, conn.timeout.read) == (DEFAULT_CONNECT_TIMEOUT_S, DEFAULT_READ_TIMEOUT_S)
    assert conn.max_retries == DEFAULT_MAX_RETRIES == 2
    short = resolve_connection(ModelOptions(base_url=LOCAL, timeout=2.0, max_retries=0))
    assert (short.timeout.connect, short.timeout.read, short.max_retries) == (2.0, 2.0, 0)
    model = openai_chat("m", ModelOptions(base_url=LOCAL, timeout=30.0, max_retries=1))
    assert model.root_client.max_retries == 1
    assert model.root_client.timeout.read == 30.0


@pytest.mark.parametrize(
    ("options", "words"),
    [
        ({"base_url": "localhost:8000/v1"}, "http://host:port/v1"),
        ({"base_url": LOCAL, "timeout": 0}, "timeout"),
        ({"base_url": LOCAL, "max_retries": -1}, "max_retries"),
        ({"base_url": LOCAL, "max_retries": 50}, "max_retries"),
        ({"base_url": LOCAL, "repetition_penalty": 1.2}, "repetition_penalty"),
        ({"base_url": LOCAL, "threads": 2}, "threads"),
    ],
)
def test_bad_or_unsupported_options_are_refused(options: dict[str, object], words: str) -> None:
    # Options no OpenAI API has are a TypeError naming the option and the backend; bad values are config errors.
    expected = TypeError if words in ("repetition_penalty", "threads") else BackendConfigError
    with pytest.raises(expected, match=words):
        load_model("openai:m", **options)


def test_registry_builds_our_subclasses_with_every_option() -> None:
    chat = load_model("openai:m", base_url=LOCAL, max_new_tokens=17, temperature=0.5, stop="##", seed=3)
    assert isinstance(chat, RecipesChatOpenAI)
    assert (chat.model_name, chat.max_tokens, chat.temperature, chat.stop, chat.seed) == ("m", 17, 0.5, ["##"], 3)
    assert chat.legacy_max_tokens  # not api.openai.com: send max_tokens
    llm = load_llm("openai:m", base_url=LOCAL, max_new_tokens=9, stop=["##"])
    assert isinstance(llm, RecipesOpenAI)
    assert (llm.max_tokens, llm.batch_size, llm.model_kwargs) == (9, 1, {"stop": ["##"]})


def test_openai_host_keeps_max_completion_tokens() -> None:
    chat = openai_chat("gpt-4o-mini", ModelOptions(api_key="sk-x", max_new_tokens=5))
    assert not chat.legacy_max_tokens
    assert chat._get_request_payload("hi")["max_completion_tokens"] == 5


def _request(url: str = "http://127.0.0.1:9/v1/chat/completions?api-key=sk-q") -> Any:
    request = httpx.Request("POST", url)
    request.extensions["timeout"] = {"connect": 5.0, "read": 60.0, "write": 60.0, "pool": 60.0}
    return request


def test_connect_timeout_is_unreachable_so_fallbacks_take_it() -> None:
    err = openai.APITimeoutError(request=_request())
    err.__cause__ = httpx.ConnectTimeout("timed out")
    typed = backend_error(err, "http://x/v1")
    assert isinstance(typed, BackendConnectTimeoutError)
    assert isinstance(typed, BackendUnreachableError) and isinstance(typed, BackendTimeoutError)
    assert str(typed).startswith("timed out after 5 s connecting to http://127.0.0.1:9/v1/chat/completions;")
    assert "sk-q" not in str(typed)


def test_read_timeout_is_not_unreachable() -> None:
    err = openai.APITimeoutError(request=_request())
    err.__cause__ = httpx.ReadTimeout("timed out")
    typed = backend_error(err, "http://x/v1")
    assert type(typed) is BackendTimeoutError
    assert "60 s" in str(typed)


def test_other_exceptions_are_left_alone() -> None:
    assert backend_error(KeyError("x"), "http://x/v1") is None


def test_clean_url_drops_credentials_and_query() -> None:
    assert clean_url("https://user:pw@example.com:8443/v1/chat?key=1") == "https://example.com:8443/v1/chat"


def test_structured_output_reasks_and_counts_attempts_on_a_fake_model() -> None:
    model = FakeChatModel(responses=["nope", "still nope"])
    with pytest.raises(OutputParseError) as info:
        model.with_structured_output(None, method="json_mode", max_attempts=2).invoke("JSON please")
    assert info.value.attempts == 2
    assert len(model.calls) == 2
    with pytest.raises(ValueError, match="unknown method"):
        model.with_structured_output(dict, method="tools")
    with pytest.raises(ValueError, match="needs a schema"):
        model.with_structured_output(None, method="json_schema")
    with pytest.raises(TypeError, match="tool_choice"):
        model.with_structured_output(dict, tool_choice="any")