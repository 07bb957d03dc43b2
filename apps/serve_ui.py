"""The playground's page: `build_app(load_model)` -> a `gr.Blocks` (pick an app, a model and a language; run)."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

from apps.serve_recipes import APPS, LANGS, MAX_INPUT_CHARS, run_recipe
from apps.serve_steps import StepRecorder

__all__ = ["build_app", "respond"]

_INTRO = """# Chain Recipes playground
Pick an app, a model spec and a language, type, and press **Run**. The answer streams in; the steps panel shows
each step's input, output and time; the JSON view holds the whole result."""


def _error_line(exc: BaseException) -> str:
    from llms.redact import known_secrets, redact

    # One line with secrets masked, as the command line reports errors (the page may be read over a share link).
    return " ".join(redact(f"{type(exc).__name__}: {exc}", known_secrets(exc)).split())[:400]


def respond(
    load_model: Callable[[str], Any],
    app: str,
    spec: str,
    lang: str,
    text: str,
    history: list[dict[str, str]] | None,
    max_new_tokens: int = 128,
) -> Iterator[tuple[str, list[list[Any]], dict[str, Any], list[dict[str, str]]]]:
    """The Run button: (answer so far, step rows, JSON, chat history) for each update; a failure is one line."""
    turns = list(history or []) if app == "chat" else []
    try:
        model = load_model((spec or "").strip() or "local")
        for update in run_recipe(app, model, text, lang, history=turns, max_new_tokens=max_new_tokens):
            yield update.text, update.steps, update.result, update.history if app == "chat" else turns
    except Exception as exc:  # shown on the page; the server keeps serving
        line = _error_line(exc)
        yield f"error: {line}", [], {"error": line}, turns


def build_app(
    load_model: Callable[[str], Any],
    *,
    models: Sequence[str] = ("local",),
    custom_models: bool = True,
    max_new_tokens: int = 128,
) -> Any:
    """The page as a `gr.Blocks`; `load_model(spec)` gives the model for a spec (cache it: it runs per request).

    `custom_models` False keeps the spec to the `models` list (for a page others can reach)."""
    import gradio as gr

    first = next(iter(APPS))
    with gr.Blocks(title="Chain Recipes playground", analytics_enabled=False) as demo:
        gr.Markdown(_INTRO)
        with gr.Row():
            app = gr.Dropdown(list(APPS), value=first, label="App", elem_id="app")
            model = gr.Dropdown(
                list(models), value=models[0], label="Model spec", allow_custom_value=custom_models, elem_id="model"
            )
            lang = gr.Radio(list(LANGS), value="auto", label="Language", elem_id="lang")
        text = gr.Textbox(
            label=APPS[first][0], placeholder=APPS[first][1], lines=2, max_length=MAX_INPUT_CHARS, elem_id="input"
        )
        with gr.Row():
            run = gr.Button("Run", variant="primary", elem_id="run")
            clear = gr.Button("Clear chat", elem_id="clear")
        answer = gr.Textbox(label="Answer", lines=8, interactive=False, elem_id="answer")
        steps = gr.Dataframe(
            headers=list(StepRecorder.COLUMNS), label="Steps", interactive=False, wrap=True, elem_id="steps",
            column_widths=["12%", "38%", "40%", "10%"],
        )
        result = gr.JSON(label="JSON", elem_id="json")
        history = gr.State([])

        def go(app_: str, spec: str, lang_: str, text_: str, history_: list[dict[str, str]]) -> Iterator[Any]:
            yield from respond(load_model, app_, spec, lang_, text_, history_, max_new_tokens)

        outputs = [answer, steps, result, history]
        app.change(lambda a: gr.update(label=APPS[a][0], placeholder=APPS[a][1]), app, text, api_visibility="private")
        run.click(go, [app, model, lang, text, history], outputs, api_name="run")
        text.submit(go, [app, model, lang, text, history], outputs, api_visibility="private")
        clear.click(lambda: ("", [], None, []), None, outputs, api_visibility="private")
    return demo
