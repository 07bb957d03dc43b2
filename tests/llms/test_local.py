"""The local Hugging Face backend on a real, random tiny GPTNeoForCausalLM: no prompt echo, stop strings, the
chat-template fallback, batching, async, offline failures and threads."""

from __future__ import annotations

import asyncio
import socket
import time
from pathlib import Path

import pytest
import torch

from llms import ModelNotAvailableError, default_threads, load_llm, load_model
from llms.engines.base import FALLBACK_CHAT_TEMPLATE, FALLBACK_STOP
from llms.local import LocalChatModel

PROMPTS = ["Describe a perfect day in Paris.", "당신이 좋아하는 영화 장르는?", "sea otter =>", "Hello"]


def raw_new_text(chat: LocalChatModel, prompt: str, max_new_tokens: int) -> str:
    """What plain `model.generate` produces after `prompt` (greedy), decoded without the prompt."""
    engine = chat.engine
    enc = engine.tokenizer(prompt, return_tensors="pt")
    out = engine.model.generate(
        **enc, max_new_tokens=max_new_tokens, do_sample=False, pad_token_id=engine.tokenizer.pad_token_id
    )
    return engine.tokenizer.decode(out[0][enc["input_ids"].shape[1] :], skip_special_tokens=True)


@pytest.fixture(scope="module")
def chat(tiny_gpt_neo_dir: Path) -> LocalChatModel:
    model = load_model(f"hf:{tiny_gpt_neo_dir}", max_new_tokens=12)
    assert isinstance(model, LocalChatModel)
    return model


def pick_stop(text: str) -> str:
    """A 2-character piece from the middle of `text` with no replacement characters."""
    pieces = [text[i : i + 2] for i in range(2, len(text) - 2)]
    usable = [p for p in pieces if "\ufffd" not in p and p.strip()]
    assert usable, f"the seeded model (greedy) answered nothing to pick a stop string from: {text!r}"
    return usable[0]


def test_llm_returns_only_the_new_text_never_the_prompt(tiny_gpt_neo_dir: Path, chat: LocalChatModel) -> None:
    llm = load_llm(f"hf:{tiny_gpt_neo_dir}", max_new_tokens=12)
    answers = [llm.invoke(prompt) for prompt in PROMPTS]
    assert answers == [raw_new_text(chat, prompt, 12) for prompt in PROMPTS]
    assert not any(answer.startswith(prompt) for answer, prompt in zip(answers, PROMPTS, strict=True))


def test_stop_strings_cut_invoke_batch_and_stream(tiny_gpt_neo_dir: Path, chat: LocalChatModel) -> None:
    llm = load_llm(f"hf:{tiny_gpt_neo_dir}", max_new_tokens=12)
    full = [llm.invoke(p) for p in PROMPTS]
    stop = pick_stop(full[0])
    expected = [text.split(stop)[0] for text in full]
    assert expected[0] != full[0]
    assert llm.invoke(PROMPTS[0], stop=[stop]) == expected[0]
    assert llm.batch(PROMPTS, stop=[stop]) == expected
    assert "".join(llm.stream(PROMPTS[0], stop=[stop])) == expected[0]
    # The chat model too, with finish_reason reported.
    chat_full = chat.invoke(PROMPTS[0]).text
    chat_stop = pick_stop(chat_full)
    message = chat.invoke(PROMPTS[0], stop=[chat_stop])
    assert message.text == chat_full.split(chat_stop)[0]
    assert message.response_metadata["finish_reason"] == "stop"
    assert "".join(c.text for c in chat.stream(PROMPTS[0], stop=[chat_stop])) == message.text
    assert [m.text for m in chat.batch([PROMPTS[0]] * 2, stop=[chat_stop])] == [message.text] * 2


def test_chat_without_a_template_uses_the_documented_fallback(chat: LocalChatModel) -> None:
    from langchain_core.messages import AIMessage, HumanMessage, SystemMessage

    # GPT-Neo ships no chat template: ours was set once at load, with its next-turn stop.
    assert chat.engine.tokenizer.chat_template == FALLBACK_CHAT_TEMPLATE and chat.engine.chat_stops == FALLBACK_STOP
    messages = [
        SystemMessage("Be brief."),
        HumanMessage("Hi"),
        AIMessage("Hello!"),
        HumanMessage("Name a city."),
    ]
    prompt = chat._prompt(messages)
    assert prompt == "System: Be brief.\n\nUser: Hi\nAssistant: Hello!\nUser: Name a city.\nAssistant:"
    answer = chat.invoke(messages)
    assert answer.text == raw_new_text(chat, prompt, 12).split(FALLBACK_STOP[0])[0]
    assert answer.response_metadata["finish_reason"] in {"stop", "length"}
    assert answer.usage_metadata and answer.usage_metadata["input_tokens"] > 0


def test_batch_is_one_generate_call_also_inside_a_chain(chat: LocalChatModel, monkeypatch: pytest.MonkeyPatch) -> None:
    singles = [chat.invoke(p).text for p in PROMPTS]
    model = chat.engine.model
    calls: list[int] = []
    original = model.generate

    def counting_generate(*args, **kwargs):  # type: ignore[no-untyped-def]
        calls.append(kwargs["input_ids"].shape[0])
        return original(*args, **kwargs)

    monkeypatch.setattr(model, "generate", counting_generate)
    batched = chat.batch(PROMPTS)
    assert calls == [len(PROMPTS)]  # one generate with all rows (left-padded)
    assert [m.text for m in batched] == singles
    chain_calls = len(calls)
    from langchain_core.output_parsers import StrOutputParser
    from langchain_core.prompts import PromptTemplate

    chain = PromptTemplate.from_template("Q: {q}\nA:") | chat | StrOutputParser()
    assert len(chain.batch([{"q": p} for p in PROMPTS])) == len(PROMPTS)
    assert calls[chain_calls:] == [len(PROMPTS)]


def test_async_invoke_stream_and_batch_match_sync(chat: LocalChatModel) -> None:
    expected = chat.invoke(PROMPTS[1]).text

    async def run() -> tuple[str, str, list[str]]:
        single = await chat.ainvoke(PROMPTS[1])
        pieces = [c.text async for c in chat.astream(PROMPTS[1])]
        many = await chat.abatch(PROMPTS[:2])
        return single.text, "".join(pieces), [m.text for m in many]

    single, streamed, many = asyncio.run(run())
    assert single == expected == streamed
    assert many[0] == chat.invoke(PROMPTS[0]).text


def _assert_fast_offline_error(spec: str) -> None:
    started = time.monotonic()
    with pytest.raises(ModelNotAvailableError) as info:
        load_model(spec)
    assert time.monotonic() - started < 10
    message = str(info.value)
    assert "no-such-org/no-such-model" in message and "hf download" in message and "\n" not in message


def test_uncached_hub_id_fails_fast_when_offline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    _assert_fast_offline_error("hf:no-such-org/no-such-model")


def test_unreachable_or_silent_hub_fails_fast(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setenv("HF_HOME", str(tmp_path))  # an empty cache
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{port}")  # nothing listens: refused
    _assert_fast_offline_error("hf:no-such-org/no-such-model")
    # A hub that accepts connections but never answers (a black hole) must not hang either.
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{silent.getsockname()[1]}")
    try:
        _assert_fast_offline_error("hf:no-such-org/no-such-model")
    finally:
        silent.close()


def test_missing_model_directory_or_config_is_named(tmp_path: Path) -> None:
    with pytest.raises(ModelNotAvailableError, match="no-model-here"):
        load_model(f"hf:{tmp_path / 'no-model-here'}")
    with pytest.raises(ModelNotAvailableError, match=r"config\.json"):
        load_model(f"hf:{tmp_path}")


def test_threads_default_leaves_a_core_free_and_can_be_overridden(
    tiny_gpt_neo_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("RECIPES_THREADS", raising=False)
    monkeypatch.setattr("os.cpu_count", lambda: 2)
    assert default_threads() == 1  # leave a core free on a shared 2-core host
    monkeypatch.setattr("os.cpu_count", lambda: 8)
    assert default_threads() == 4
    monkeypatch.setenv("RECIPES_THREADS", "3")
    assert default_threads() == 3
    monkeypatch.setenv("RECIPES_THREADS", "0")
    with pytest.raises(ValueError, match="RECIPES_THREADS"):
        default_threads()
    before = torch.get_num_threads()
    try:
        model = load_model(f"hf:{tiny_gpt_neo_dir}", threads=2, max_new_tokens=2)
        model.invoke("Hi")
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)


def test_options_are_validated() -> None:
    with pytest.raises(TypeError, match="max_tokens"):
        load_model("fake:x", max_tokens=3)
    with pytest.raises(ValueError, match="temperature"):
        load_model("fake:x", temperature=-1)


def test_finish_reason_length_and_seeded_sampling(chat: LocalChatModel) -> None:
    message = chat.invoke("Hello", max_new_tokens=3)
    assert message.usage_metadata and message.usage_metadata["output_tokens"] <= 3
    stopped_early = message.usage_metadata["output_tokens"] < 3
    assert message.response_metadata["finish_reason"] == ("stop" if stopped_early else "length")
    first = chat.invoke("Hello", temperature=1.0, seed=7).text
    assert chat.invoke("Hello", temperature=1.0, seed=7).text == first
