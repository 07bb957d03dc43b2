"""The engine contract (same answers, stops, streaming, grammar), on both engines: transformers and
onnxruntime-genai int4.

Contract tests run on a random tiny Llama (the onnxruntime-genai builder does not take GPT-Neo), built to int4
once per session; the embedded-model tests are marked slow.
"""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from langchain_core.messages import AIMessageChunk
from pydantic import BaseModel, Field

from llms import load_llm, load_model
from llms.engines import select
from llms.engines.base import GenerationOptions, PromptTooLongError
from llms.errors import OptionNotSupportedError
from llms.local import LocalChatModel
from parsers import TruncatedOutputError
from tests.schemas import ORDER_MAX_TOKENS, Order

ENGINES = ["transformers", "onnxruntime"]
PROMPTS = ["Describe a perfect day in Paris.", "당신이 좋아하는 영화 장르는?", "sea otter =>", "Hello"]



Make = Callable[..., Any]


@pytest.fixture(params=ENGINES)
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def make(kind: str, tiny_llama_dir: Path, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Make:
    """``make(**options)`` -> a chat model on the tiny Llama with this engine; ``make(llm=True, ...)`` -> an LLM."""
    if kind == "onnxruntime":
        monkeypatch.setenv("RECIPES_CACHE_DIR", str(request.getfixturevalue("onnx_cache_dir")))

    def build(llm: bool = False, **options: Any) -> Any:
        loader = load_llm if llm else load_model
        return loader(f"hf:{tiny_llama_dir}", engine=kind, **options)

    return build


def raw_greedy(engine: Any, prompt: str, max_new_tokens: int) -> str:
    """What the engine's library produces after `prompt` (greedy), decoded without the prompt, bypassing ours."""
    tokenizer = engine.tokenizer
    if engine.capabilities.engine == "transformers":
        enc = tokenizer(prompt, return_tensors="pt")
        out = engine.model.generate(
            **enc, max_new_tokens=max_new_tokens, do_sample=False, pad_token_id=tokenizer.pad_token_id
        )
        return str(tokenizer.decode(out[0][enc["input_ids"].shape[1] :], skip_special_tokens=True))
    import onnxruntime_genai as og

    ids = tokenizer(prompt)["input_ids"]
    params = og.GeneratorParams(engine.model)
    params.set_search_options(max_length=len(ids) + max_new_tokens, batch_size=1)
    generator = og.Generator(engine.model, params)
    generator.append_tokens(np.array([ids], dtype=np.int32))
    new: list[int] = []
    while not generator.is_done() and len(new) < max_new_tokens:
        generator.generate_next_token()
        new.append(int(generator.get_next_tokens()[0]))
    return str(tokenizer.decode(new, skip_special_tokens=True))


def pick_stop(text: str) -> str:
    """A 2-character piece from the middle of `text` with no replacement characters."""
    for i in range(2, len(text) - 2):
        piece = text[i : i + 2]
        if "\ufffd" not in piece and piece.strip():
            return piece
    raise AssertionError(f"the seeded random model wrote no 2-character piece usable as a stop string: {text!r}")


# -- the contract, on both engines ---------------------------------------------------------------------------
def test_engine_is_the_one_asked_for(make: Make, kind: str) -> None:
    caps = make().engine.capabilities
    assert caps.engine == kind and caps.grammar
    assert (caps.device, caps.dtype) == {"onnxruntime": ("cpu", "int4"), "transformers": ("cpu", "float32")}[kind]
    assert {"temperature", "top_p", "seed", "repetition_penalty", "grammar"} <= caps.options


def test_no_prompt_echo(make: Make) -> None:
    llm = make(llm=True, max_new_tokens=12)
    for prompt in PROMPTS:
        answer = llm.invoke(prompt)
        assert answer == raw_greedy(llm.engine, prompt, 12)
        assert not answer.startswith(prompt)
    chat = make(max_new_tokens=12)
    message = chat.invoke(PROMPTS[0])
    engine = chat.engine
    prompt_tokens = len(engine.tokenizer(engine.format_chat([{"role": "user", "content": PROMPTS[0]}]))["input_ids"])
    assert message.usage_metadata["input_tokens"] == prompt_tokens
    assert 1 <= message.usage_metadata["output_tokens"] <= 12


def test_stops_in_invoke_batch_and_stream(make: Make) -> None:
    llm = make(llm=True, max_new_tokens=16)
    full = [llm.invoke(p) for p in PROMPTS]
    stop = pick_stop(full[0])
    expected = full[0].split(stop)[0]
    assert expected != full[0]
    assert llm.invoke(PROMPTS[0], stop=[stop]) == expected
    assert "".join(llm.stream(PROMPTS[0], stop=[stop])) == expected
    # A batch is cut row by row (compared with the same batch unstopped: int4 kernels may round a batch of
    # several rows differently from one row).
    batch_full = llm.batch(PROMPTS)
    assert llm.batch(PROMPTS, stop=[stop]) == [text.split(stop)[0] for text in batch_full]
    chat = make(max_new_tokens=16)
    chat_full = chat.invoke(PROMPTS[0]).text
    chat_stop = pick_stop(chat_full)
    message = chat.invoke(PROMPTS[0], stop=[chat_stop])
    assert message.text == chat_full.split(chat_stop)[0]
    assert message.response_metadata["finish_reason"] == "stop"
    assert "".join(c.text for c in chat.stream(PROMPTS[0], stop=[chat_stop])) == message.text


def test_a_stop_string_begun_by_the_prompt_does_not_cut_the_answer(make: Make) -> None:
    # transformers' stop-string matcher also reads the prompt's last tokens; only the new text may hold a stop.
    llm = make(llm=True, max_new_tokens=12)
    spanning = [(p, text, p[-2:] + text[:2]) for p, text in ((p, llm.invoke(p)) for p in PROMPTS)]
    usable = [(p, text, stop) for p, text, stop in spanning if "\ufffd" not in stop and stop not in text]
    if not usable:
        pytest.skip("random model's answers give no stop string that only spans a prompt's end")
    prompt, full, stop = usable[0]
    assert llm.invoke(prompt, stop=[stop]) == full
    assert "".join(llm.stream(prompt, stop=[stop])) == full
    assert llm.batch([prompt, PROMPTS[0]], stop=[stop])[0] == llm.batch([prompt, PROMPTS[0]])[0]


def test_one_engine_call_per_batch(make: Make, monkeypatch: pytest.MonkeyPatch) -> None:
    chat = make(max_new_tokens=6)
    calls: list[int] = []
    real = chat.engine.generate

    def counting(prompts: Any, options: GenerationOptions) -> Any:
        calls.append(len(prompts))
        return real(prompts, options)

    monkeypatch.setattr(chat.engine, "generate", counting)
    out = chat.batch(PROMPTS)
    assert calls == [len(PROMPTS)] and len(out) == len(PROMPTS)
    llm = make(llm=True, max_new_tokens=6)
    llm.batch(PROMPTS)
    assert calls == [len(PROMPTS)] * 2


def test_grammar_50_of_50_valid_on_a_random_model(make: Make) -> None:
    tiny = make(temperature=1.0, seed=7, max_new_tokens=ORDER_MAX_TOKENS)
    results = tiny.with_structured_output(Order, include_raw=True).batch(["Order lunch for the team."] * 50)
    parsed = [r["parsed"] for r in results]
    assert all(isinstance(p, Order) for p in parsed), [r["parsing_error"] for r in results if r["parsed"] is None]
    for r in results:
        assert json.loads(r["raw"].content) == r["parsed"].model_dump()  # strict JSON, the same value
        assert not any(ord(c) < 0x20 for c in r["raw"].content)
        assert r["raw"].response_metadata["finish_reason"] == "stop"  # EOS came only after the object closed
    assert len({r["raw"].content for r in results}) > 40  # sampled, not one answer repeated
    assert {len(p.items) for p in parsed} > {1}  # rows of different lengths finished in the same batch


def test_token_limit_raises_truncated(make: Make) -> None:
    tiny = make(max_new_tokens=8)
    with pytest.raises(TruncatedOutputError, match="max_new_tokens") as caught:
        tiny.with_structured_output(Order).invoke("x")
    assert caught.value.finish_reason == "length" and caught.value.raw.startswith('{"customer":')
    result = tiny.with_structured_output(Order, include_raw=True).invoke("x")
    assert result["parsed"] is None and result["raw"].response_metadata["finish_reason"] == "length"


def test_streaming_equals_invoke(make: Make) -> None:
    chat = make(max_new_tokens=24)
    for prompt in PROMPTS:
        message = chat.invoke(prompt)
        chunks = list(chat.stream(prompt))
        assert "".join(c.text for c in chunks) == message.text
        total = chunks[0]
        for chunk in chunks[1:]:
            total += chunk
        assert isinstance(total, AIMessageChunk)
        assert total.response_metadata["finish_reason"] == message.response_metadata["finish_reason"]
        assert total.usage_metadata == message.usage_metadata


def test_closing_a_stream_stops_generation(make: Make) -> None:
    chat = make(max_new_tokens=400)
    engine = chat.engine
    prompt = engine.format_chat([{"role": "user", "content": "Hello"}])
    pieces = engine.stream(prompt, GenerationOptions(max_new_tokens=400))
    first = next(pieces)
    assert isinstance(first, str)
    pieces.close()  # no thread left generating: the next call runs at once
    cancel = threading.Event()
    cancel.set()
    *_texts, final = list(engine.stream(prompt, GenerationOptions(max_new_tokens=400), cancel=cancel))
    assert final.completion_tokens < 400 and final.finish_reason == "stop"


def test_seeds_reproduce_also_under_threads(make: Make) -> None:
    chat = make(temperature=1.0, seed=3, max_new_tokens=16)
    prompt = PROMPTS[0]
    first = chat.invoke(prompt).text
    assert chat.invoke(prompt).text == first
    assert chat.invoke(prompt, seed=4).text != first
    with ThreadPoolExecutor(4) as pool:
        assert list(pool.map(lambda _: chat.invoke(prompt).text, range(4))) == [first] * 4
    greedy = make(max_new_tokens=16)
    assert greedy.invoke(prompt).text == greedy.invoke(prompt).text


def test_repetition_penalty_is_honoured(make: Make, kind: str) -> None:
    plain = make(max_new_tokens=30).invoke(PROMPTS[0]).text
    penalised = make(max_new_tokens=30, repetition_penalty=1e4).invoke(PROMPTS[0]).text
    assert penalised != plain  # a random model repeats itself; a huge penalty forbids it


@pytest.mark.parametrize("kind", ["onnxruntime"])
def test_onnx_repetition_penalty_forbids_every_repeated_token(make: Make, kind: str) -> None:
    from llms.engines.onnxruntime import _Row

    engine = make().engine
    prompt = engine.tokenizer(engine.format_chat([{"role": "user", "content": PROMPTS[0]}]))["input_ids"]
    row = _Row(prompt=prompt)
    for _ in engine._run([row], GenerationOptions(max_new_tokens=30, repetition_penalty=1e4), None, False):
        pass
    new = [t for t in row.ids if t not in engine.eos_ids]
    assert len(new) >= 10 and len(set(new)) == len(new) and not set(new) & set(prompt)


def test_prompt_too_long_is_refused(make: Make) -> None:
    with pytest.raises(PromptTooLongError, match="context of 512"):
        make(max_new_tokens=4).invoke("Paris " * 600)


def test_both_engines_format_and_encode_alike(
    tiny_llama_dir: Path, onnx_cache_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RECIPES_CACHE_DIR", str(onnx_cache_dir))
    engines = [load_model(f"hf:{tiny_llama_dir}", engine=k).engine for k in ENGINES]
    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "서울 or Paris?"}]
    prompts = [e.format_chat(messages) for e in engines]
    assert prompts[0] == prompts[1]
    assert engines[0].tokenizer(prompts[0])["input_ids"] == engines[1].tokenizer(prompts[1])["input_ids"]


# -- onnxruntime specifics: options, selection, building, fallback ------------------------------------------
def test_options_the_engine_does_not_honour_are_refused_by_name(
    tiny_llama_dir: Path, onnx_cache_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RECIPES_CACHE_DIR", str(onnx_cache_dir))
    chat = load_model(f"hf:{tiny_llama_dir}", engine="onnxruntime", max_new_tokens=4)
    monkeypatch.setattr(chat.engine, "capabilities", dataclasses.replace(chat.engine.capabilities, options=frozenset()))
    with pytest.raises(OptionNotSupportedError, match=r"repetition_penalty.*onnxruntime engine"):
        chat.invoke("hi", repetition_penalty=1.2)
    with pytest.raises(OptionNotSupportedError, match=r"device='cuda'.*onnxruntime"):
        load_model(f"hf:{tiny_llama_dir}", engine="onnxruntime", device="cuda")


def test_unsupported_architecture(tiny_gpt_neo_dir: Path) -> None:
    from llms.engines.onnx_build import OnnxBuildError

    with pytest.raises(OnnxBuildError, match=r"GPTNeoForCausalLM.*engine='transformers'"):
        load_model(f"hf:{tiny_gpt_neo_dir}", engine="onnxruntime")
    assert load_model(f"hf:{tiny_gpt_neo_dir}").engine.capabilities.engine == "transformers"  # auto


def test_hf_folders_use_transformers_unless_they_opt_in(tiny_llama_dir: Path) -> None:
    assert load_model(f"hf:{tiny_llama_dir}").engine.capabilities.engine == "transformers"


def test_build_is_atomic_marked_and_not_redone(
    tiny_llama_dir: Path, onnx_cache_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from llms.engines import onnx_build

    built = onnx_build.onnx_dir_for(tiny_llama_dir, onnx_cache_dir)
    marker = json.loads((built / onnx_build.MARKER).read_text())
    assert marker["source"] == str(tiny_llama_dir.resolve()) and marker["precision"] == "int4"
    assert marker["fingerprint"] == onnx_build.source_fingerprint(tiny_llama_dir)
    for name in ("tokenizer.json", "tokenizer_config.json", "chat_template.jinja"):
        assert (built / name).read_bytes() == (tiny_llama_dir / name).read_bytes()
    assert [p.name for p in built.parent.iterdir()] == [built.name]  # no staging or work folders left

    def no_subprocess(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("rebuilt")

    monkeypatch.setattr(subprocess, "run", no_subprocess)
    assert onnx_build.build_int4(tiny_llama_dir, built) == built


def test_failed_build_leaves_nothing(tiny_llama_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from llms.engines import onnx_build

    def builder_dies_halfway(command: list[str], **kwargs: Any) -> Any:
        staging = Path(command[command.index("-o") + 1])
        staging.mkdir(parents=True)
        (staging / "model.onnx").write_bytes(b"half")
        return subprocess.CompletedProcess(command, 1, "", "Reading layer 0\nKilled: out of memory\n")

    monkeypatch.setattr(subprocess, "run", builder_dies_halfway)
    out = tmp_path / "models" / "x"
    with pytest.raises(onnx_build.OnnxBuildError, match=r"failed \(exit 1\): Killed: out of memory$"):
        onnx_build.build_int4(tiny_llama_dir, out)
    assert list(out.parent.iterdir()) == []  # nothing half-built looks ready


@pytest.fixture
def embedded_is_tiny(tiny_llama_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    """`local` resolves to the tiny Llama (and a fresh build folder), with the selection caches cleared."""
    from llms import embedded

    monkeypatch.setattr(embedded, "prepare_embedded", lambda log=None: tiny_llama_dir)
    monkeypatch.setattr(embedded, "embedded_onnx_dir", lambda: tmp_path / "onnx")
    select.clear_caches()
    yield
    select.clear_caches()


@pytest.mark.usefixtures("embedded_is_tiny")
def test_missing_package_falls_back_with_one_notice(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "onnxruntime_genai", None)  # import onnxruntime_genai -> ImportError
    first = load_model("local", max_new_tokens=4)
    second = load_llm("local", max_new_tokens=4)
    assert first.engine.capabilities.engine == second.engine.capabilities.engine == "transformers"
    assert first.invoke("hi").response_metadata["finish_reason"] in ("stop", "length")
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and "onnxruntime-genai is not installed" in lines[0] and "transformers" in lines[0]
    from llms.engines.onnx_build import OnnxBuildError

    with pytest.raises(OnnxBuildError, match="not installed"):  # asked for by name: an error, not a fallback
        load_model("local", engine="onnxruntime")


@pytest.mark.usefixtures("embedded_is_tiny")
def test_failed_build_falls_back_once_and_is_not_retried(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from llms.engines import onnx_build

    attempts: list[Path] = []

    def failing(source: Path, out: Path, **kwargs: Any) -> Path:
        attempts.append(source)
        raise onnx_build.OnnxBuildError("the int4 build of x failed (exit 1): boom")

    monkeypatch.setattr(onnx_build, "build_int4", failing)
    for _ in range(3):
        assert load_model("local").engine.capabilities.engine == "transformers"
    assert len(attempts) == 1
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and "boom" in lines[0]
    assert load_model("local", engine="transformers").engine.capabilities.engine == "transformers"


@pytest.mark.usefixtures("embedded_is_tiny")
def test_local_auto_uses_the_int4_build(
    tiny_llama_dir: Path, onnx_cache_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from llms import embedded
    from llms.engines import onnx_build

    # Point the "embedded" build folder at the session's build (already made): no builder run here.
    built = onnx_build.onnx_dir_for(tiny_llama_dir, onnx_cache_dir)
    monkeypatch.setattr(embedded, "embedded_onnx_dir", lambda: built)
    started = time.monotonic()
    chat = load_model("local", max_new_tokens=4)
    assert chat.engine.capabilities.engine == "onnxruntime" and time.monotonic() - started < 10
    assert isinstance(chat, LocalChatModel)


# -- the embedded model --------------------------------------------------------------------------------------
@pytest.mark.slow
def test_embedded_runs_on_onnxruntime_by_default(embedded_model_dir: Path) -> None:
    select.clear_caches()
    fast = load_model("local", max_new_tokens=24)
    slow = load_model("local", engine="transformers", max_new_tokens=24)
    assert fast.engine.capabilities.engine == "onnxruntime"
    assert slow.engine.capabilities.engine == "transformers"
    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Describe Paris. 서울?"}]
    assert fast.engine.format_chat(messages) == slow.engine.format_chat(messages)
    prompt = fast.engine.format_chat(messages)
    assert fast.engine.tokenizer(prompt)["input_ids"] == slow.engine.tokenizer(prompt)["input_ids"]
    answer = fast.invoke("Name one colour.")
    assert answer.text.strip() and answer.response_metadata["finish_reason"] in ("stop", "length")


@pytest.mark.slow
def test_embedded_structured_output_on_onnxruntime(embedded_model_dir: Path) -> None:
    class Suggestion(BaseModel):
        title: str = Field(max_length=60)
        year: int = Field(ge=1900, le=2030)

    # 128 tokens cover the longest Suggestion the grammar allows (a looping title is cut at 60 characters).
    model = load_model("local", max_new_tokens=128)
    assert model.engine.capabilities.engine == "onnxruntime"
    prompts = ["Suggest a movie for a rainy evening.", "무서운 영화 하나 추천해 줘.", "A funny film?"]
    for r in model.with_structured_output(Suggestion, include_raw=True).batch(prompts):
        assert isinstance(r["parsed"], Suggestion), r["parsing_error"]
        assert r["raw"].response_metadata["finish_reason"] == "stop"
