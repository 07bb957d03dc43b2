"""`recipes serve`: the playground's recipes and step panel on fake models, and the real server over HTTP."""

from __future__ import annotations

import argparse
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from apps.serve_recipes import PlaygroundInputError, run_recipe
from apps.serve_steps import StepRecorder, preview
from apps.serve_ui import respond
from chains.catalogue import load_catalogue
from llms import load_model
from tests.apps.playground import free_port, serve

os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"  # before any test imports gradio: no phoning home


def _last(updates: Iterator[Any]) -> Any:
    items = list(updates)
    assert items, "the recipe yielded nothing"
    return items[-1]


def test_perfect_day_streams_growing_text_and_the_steps_panel_shows_prompt_model_and_parser() -> None:
    updates = list(run_recipe("perfect-day", load_model("fake:Coffee by the Seine, then the Louvre."), "Paris"))
    texts = [u.text for u in updates]
    assert len(set(texts)) > 2, f"expected the answer to arrive in pieces, got {texts}"
    assert all(texts[i + 1].startswith(texts[i]) for i in range(len(texts) - 1))
    final = updates[-1]
    assert final.text == "Coffee by the Seine, then the Louvre."
    names = [row[0] for row in final.steps]
    assert names == ["perfect_day", "FakeChatModel", "StrOutputParser"]
    prompt_row, model_row, _ = final.steps
    assert "Paris" in prompt_row[1] and "perfect day in Paris" in prompt_row[2]
    assert model_row[2] == "Coffee by the Seine, then the Louvre."
    assert all(isinstance(row[3], float) and row[3] >= 0 for row in final.steps)
    assert final.result == {"city": "Paris", "lang": "en", "answer": "Coffee by the Seine, then the Louvre."}


def test_perfect_day_in_korean_asks_in_korean_when_the_language_is_auto() -> None:
    final = _last(run_recipe("perfect-day", load_model("fake:한강에서 산책하고 경복궁에 가요."), "서울"))
    assert final.result["lang"] == "ko"
    assert "서울에서" in final.steps[0][2]  # the Korean prompt, filled in
    assert final.text == "한강에서 산책하고 경복궁에 가요."


def test_movie_night_in_korean_returns_korean_catalogue_titles_with_three_timed_steps() -> None:
    comedies = load_catalogue().candidates(["comedy"], per_genre=5)["comedy"][:3]  # the ones the model is shown
    titles = [m.title_ko for m in comedies]
    picks = '{"comedy": ["' + '", "'.join(titles) + '"]}'
    model = load_model(f"fake:{picks}|웃기고 따뜻한 가족 영화예요.")
    updates = list(run_recipe("movie-night", model, "저는 코미디 영화가 좋아요"))
    final = updates[-1]
    assert [r["title"] for r in final.result["recommendations"]] == titles
    assert final.text.startswith("장르: ") and "추천 영화:" in final.text
    assert all(title in final.text for title in titles)
    assert [row[0] for row in final.steps] == ["genres", "picks", "reasons"]
    assert all(isinstance(row[3], float) for row in final.steps)
    assert "추천 영화:" in updates[0].text and " — " not in updates[0].text, "picks first, reasons after"


def test_translate_shows_all_three_modes_each_as_its_own_step() -> None:
    final = _last(run_recipe("translate", load_model("fake:fromage\nand more"), "cheese"))
    assert final.text == "zero-shot: fromage\none-shot: fromage\nfew-shot: fromage"
    assert sorted(row[0] for row in final.steps) == ["few-shot", "one-shot", "zero-shot"]
    assert all("cheese" in row[1] and row[2] == "fromage" for row in final.steps)


def test_json_qa_returns_the_validated_answer_object() -> None:
    final = _last(run_recipe("json-qa", load_model('fake:{"answer": "Paris"}'), "What is the capital of France?"))
    assert final.result == {"question": "What is the capital of France?", "answer": "Paris"}
    assert final.text == '{"answer": "Paris"}'


def test_chat_keeps_the_history_it_is_given_and_adds_the_new_turn() -> None:
    model = load_model("fake:echo")
    past = [{"user": "My name is Mina.", "assistant": "Hello Mina."}]
    final = _last(run_recipe("chat", model, "What is my name?", history=past))
    assert final.history == [*past, {"user": "What is my name?", "assistant": "What is my name?"}]
    assert "human: My name is Mina." in final.steps[1][1], "the model saw the earlier turn"


@pytest.mark.parametrize(
    ("app", "lang", "text", "message"),
    [
        ("movie-night", "auto", "   ", "nothing to run"),
        ("poetry", "auto", "hi", "unknown app 'poetry'"),
        ("chat", "fr", "hi", "unknown language 'fr'"),
        ("chat", "auto", "x" * 2001, "2001 characters"),
    ],
)
def test_bad_playground_input_is_a_typed_one_line_error(app: str, lang: str, text: str, message: str) -> None:
    with pytest.raises(PlaygroundInputError, match=message) as info:
        list(run_recipe(app, load_model("fake:x"), text, lang))
    assert isinstance(info.value, ValueError) and "\n" not in str(info.value)


def test_a_failing_request_shows_one_error_line_and_keeps_the_chat_history() -> None:
    def no_such_model(spec: str) -> Any:
        return load_model(spec)

    past = [{"user": "hi", "assistant": "hello"}]
    out = list(respond(no_such_model, "chat", "nosuch:model", "auto", "hi again", past))
    assert len(out) == 1
    text, steps, result, history = out[0]
    assert text.startswith("error: UnknownModelSpecError") and "\n" not in text
    assert steps == [] and result == {"error": text.removeprefix("error: ")} and history == past


def test_step_previews_are_one_line_and_capped() -> None:
    assert preview({"input": "a\nb"}) == "a b"
    assert len(preview("word " * 500)) == 300
    assert StepRecorder().rows() == []


def test_serve_defaults_bind_loopback_without_a_public_share() -> None:
    from apps import serve as serve_app

    parser = argparse.ArgumentParser()
    serve_app.add_arguments(parser)
    args = parser.parse_args([])
    assert (args.host, args.port, args.share, args.model) == ("127.0.0.1", 7860, False, "local")
    with pytest.raises(SystemExit):
        parser.parse_args(["--port", "70000"])


def _listening_addresses(port: int) -> set[str]:
    """The local IPv4 addresses listening on `port`, from /proc/net/tcp (state 0A = LISTEN)."""
    found = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        local, state = line.split()[1], line.split()[3]
        addr, hex_port = local.split(":")
        if state == "0A" and int(hex_port, 16) == port:
            found.add(".".join(str(int(addr[i : i + 2], 16)) for i in (6, 4, 2, 0)))
    return found


@pytest.mark.slow
def test_recipes_serve_answers_200_on_root_and_movie_night_through_the_api_returns_catalogue_titles(
    tmp_path: Path,
) -> None:
    import urllib.request

    from gradio_client import Client

    with serve("--model", "local", log=tmp_path / "serve.log") as url:
        with urllib.request.urlopen(url, timeout=10) as response:
            assert response.status == 200
            assert "Chain Recipes playground" in response.read().decode()
        port = int(url.rstrip("/").rsplit(":", 1)[1])
        assert _listening_addresses(port) == {"127.0.0.1"}, "binds loopback only by default"
        client = Client(url, verbose=False)
        answer = "I love sci-fi and horror"
        text, steps, result = client.predict("movie-night", "local", "auto", answer, api_name="/run")
    catalogue = {m.title for m in load_catalogue().movies}
    titles = [r["title"] for r in result["recommendations"]]
    print(f"movie night through the API: {titles}")
    assert len(titles) >= 3 and set(titles) <= catalogue
    assert all(title in text for title in titles)
    assert set(result["genres"]) == {"science fiction", "horror"}
    assert [row[0] for row in steps["data"]] == ["genres", "picks", "reasons"]


@pytest.mark.slow
def test_in_process_playground_streams_perfect_day_and_keeps_chat_history_per_session() -> None:
    from gradio_client import Client

    from apps.serve_ui import build_app

    demo = build_app(lambda spec: load_model(spec), models=["fake:echo", "fake:Sunny all day in the old town."])
    port = free_port()
    demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True, ssr_mode=False)
    try:
        client = Client(f"http://127.0.0.1:{port}/", verbose=False)
        job = client.submit("perfect-day", "fake:Sunny all day in the old town.", "en", "Prague", api_name="/run")
        answers = [out[0] for out in job]
        assert answers[-1] == "Sunny all day in the old town."
        assert len(set(answers)) > 2, f"the answer should stream in pieces, got {answers}"
        client.predict("chat", "fake:echo", "en", "first message", api_name="/run")
        _, _, result = client.predict("chat", "fake:echo", "en", "second message", api_name="/run")
        assert [t["user"] for t in result["turns"]] == ["first message", "second message"]
    finally:
        demo.close()
