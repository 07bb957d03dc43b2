"""The OpenAI path against a REAL OpenAI-compatible server: `transformers serve` with a tiny random GPT-Neo.

One server for the session (fixture `openai_server`); greedy decoding, so equal inputs give equal outputs.
"""

from __future__ import annotations

import asyncio
import warnings
from typing import Any

import openai
import pytest
from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.messages import AIMessageChunk, BaseMessage
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import PromptTemplate
from langchain_openai import OpenAI
from pydantic import SecretStr

from llms import load_llm, load_model
from llms.openai_chat_model import RecipesChatOpenAI
from llms.stops import cut_at_stop
from parsers import OutputParseError, TruncatedOutputError
from tests.llms.openai_server import ServedModel

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("no_openai_env")]

PROMPTS: list[Any] = ["Hello there", "당신이 좋아하는 영화 장르는 무엇인가요?", "Return a JSON object"]


def chat(srv: ServedModel, max_new_tokens: int = 6, **options: Any) -> Any:
    return load_model(f"openai:{srv.model_id}", base_url=srv.base_url, max_new_tokens=max_new_tokens, **options)


def test_invoke_reports_usage_and_honours_max_tokens(openai_server: ServedModel) -> None:
    model = chat(openai_server)
    assert isinstance(model, RecipesChatOpenAI)
    reasons = []
    for limit in (3, 6):
        answer = model.invoke(PROMPTS[1], max_tokens=limit)
        meta, usage = answer.response_metadata, answer.usage_metadata
        assert meta["model_name"] == openai_server.model_id
        assert meta["finish_reason"] in ("stop", "length")
        assert usage is not None and 0 < usage["input_tokens"]
        assert usage["output_tokens"] <= limit
        assert meta["finish_reason"] == "stop" or usage["output_tokens"] == limit  # cut at the limit, exactly
        reasons.append(meta["finish_reason"])
    assert "length" in reasons  # the random model never ends by itself: the cut-at-the-limit check above ran


def test_stream_matches_invoke_and_ends_with_finish_reason(openai_server: ServedModel) -> None:
    model = chat(openai_server)
    chunks = list(model.stream(PROMPTS[0]))
    assert all(isinstance(c, AIMessageChunk) for c in chunks)
    total = chunks[0]
    for chunk in chunks[1:]:
        total += chunk
    assert total.content == model.invoke(PROMPTS[0]).content
    assert total.response_metadata["finish_reason"] in ("stop", "length")
    assert total.usage_metadata is not None and total.usage_metadata["output_tokens"] <= 6


def test_batch_and_abatch_keep_order(openai_server: ServedModel) -> None:
    model = chat(openai_server)
    one_by_one = [model.invoke(p).content for p in PROMPTS]
    assert [m.content for m in model.batch(PROMPTS)] == one_by_one
    assert [m.content for m in asyncio.run(model.abatch(PROMPTS))] == one_by_one
    # A second event loop with the same model: kept-alive connections would fail with "Event loop is closed".
    assert asyncio.run(model.ainvoke(PROMPTS[2])).content == one_by_one[2]


def test_stop_is_honoured_and_the_stop_text_removed(openai_server: ServedModel) -> None:
    model = chat(openai_server, max_new_tokens=10)
    full = str(model.invoke(PROMPTS[0]).content)
    assert len(full) >= 4, f"the seeded model (greedy) answered too little to pick a stop string: {full!r}"
    stop = full[2:4]
    expected = cut_at_stop(full, [stop])[0]
    assert model.invoke(PROMPTS[0], stop=[stop]).content == expected
    assert "".join(str(c.content) for c in model.stream(PROMPTS[0], stop=[stop])) == expected


class _Prompts(BaseCallbackHandler):
    def __init__(self) -> None:
        self.sent: list[str] = []

    def on_chat_model_start(self, serialized: Any, messages: list[list[BaseMessage]], **kwargs: Any) -> None:
        self.sent.extend(str(m.content) for batch in messages for m in batch)


def test_sequential_chain_end_to_end(openai_server: ServedModel) -> None:
    model = chat(openai_server)
    genre = PromptTemplate.from_template("Name one movie genre about {topic}.") | model | StrOutputParser()
    movie = {"genre": genre} | PromptTemplate.from_template("Suggest one {genre} movie.") | model | StrOutputParser()
    seen = _Prompts()
    answer = movie.invoke({"topic": "우주"}, config={"callbacks": [seen]})
    assert isinstance(answer, str)
    first_answer = genre.invoke({"topic": "우주"})
    assert seen.sent == ["Name one movie genre about 우주.", f"Suggest one {first_answer} movie."]


def test_completions_llm_invoke_batch_stream_with_the_list_prompt_quirk_fixed(openai_server: ServedModel) -> None:
    srv = openai_server
    stock = OpenAI(model=srv.model_id, base_url=srv.base_url, api_key=SecretStr("x"), max_tokens=4, max_retries=0)
    with pytest.raises(openai.BadRequestError, match="400"):  # the quirk we work around; drop the fix if gone
        stock.invoke("hi")
    llm = load_llm(f"openai:{srv.model_id}", base_url=srv.base_url, max_new_tokens=4)
    texts = llm.batch(PROMPTS)
    assert len(texts) == 3 and all(isinstance(t, str) for t in texts)
    assert llm.invoke(PROMPTS[1]) == texts[1]
    assert "".join(llm.stream(PROMPTS[1])) == texts[1]
    info = llm.generate([PROMPTS[0]]).generations[0][0].generation_info or {}
    assert info["finish_reason"] in ("stop", "length")


def test_classic_llmchain_runs_on_the_completions_llm(openai_server: ServedModel) -> None:
    from langchain_classic.chains import LLMChain

    llm = load_llm(f"openai:{openai_server.model_id}", base_url=openai_server.base_url, max_new_tokens=4)
    prompt = PromptTemplate.from_template("Describe {place} in one word:")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # LLMChain is deprecated; the classic path is what this test covers
        out = LLMChain(llm=llm, prompt=prompt).invoke({"place": "서울"})
    assert out["place"] == "서울"
    assert out["text"] == llm.invoke("Describe 서울 in one word:")


JSON_QUESTION = "Reply in JSON with an answer key: what is 2+2?"
STRUCTURED = pytest.mark.parametrize(("schema", "method"), [(None, "json_mode"), ({"type": "object"}, "json_schema")])


def _cut_structured_answer(srv: ServedModel, schema: Any, method: str) -> TruncatedOutputError:
    # transformers serve ignores response_format, and this random model never ends by itself: the JSON is cut.
    with pytest.raises(TruncatedOutputError) as info:
        chat(srv, max_new_tokens=8).with_structured_output(schema, method=method, max_attempts=2).invoke(JSON_QUESTION)
    return info.value


@STRUCTURED
def test_structured_output_cut_at_the_token_limit_is_a_typed_error_without_reasking(
    openai_server: ServedModel, schema: Any, method: str
) -> None:
    error = _cut_structured_answer(openai_server, schema, method)
    assert error.finish_reason == "length" and error.raw
    assert error.attempts == 1  # LangChain's parse path sees finish_reason=length on the first call: no re-ask
    assert openai_server.base_url in str(error)


@STRUCTURED
def test_structured_output_that_stops_unparsable_is_reasked_then_a_typed_error(
    openai_server: ServedModel, schema: Any, method: str
) -> None:
    # A stop string from the start of the model's own answer makes it end early (finish_reason=stop), not JSON.
    stop = _cut_structured_answer(openai_server, schema, method).raw[:2]
    model = chat(openai_server, max_new_tokens=8, stop=[stop])
    with pytest.raises(OutputParseError) as info:
        model.with_structured_output(schema, method=method, max_attempts=2).invoke(JSON_QUESTION)
    assert info.value.attempts == 2  # re-asked once, then the typed error


def test_wrong_model_name_is_a_request_error(openai_server: ServedModel) -> None:
    from llms.openai_errors import BackendRequestError

    model = load_model("openai:not-the-served-model", base_url=openai_server.base_url, max_new_tokens=4)
    with pytest.raises(BackendRequestError) as info:
        model.invoke("hi")
    assert "\n" not in str(info.value)
    assert openai_server.base_url in str(info.value)
    assert info.value.status in (400, 404)
