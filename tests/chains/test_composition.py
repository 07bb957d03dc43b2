"""Sequential recipes: key checks at build and run time, invoke/batch/stream/async, verbose trace."""

from __future__ import annotations

import asyncio
import io
import operator
import re
import warnings
from functools import reduce
from typing import Any

import pytest
from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.output_parsers import JsonOutputParser, StrOutputParser
from langchain_core.prompts import ChatPromptTemplate, MessagesPlaceholder, PromptTemplate
from langchain_core.runnables import Runnable, RunnableConfig, RunnableLambda

from chains.composition import (
    ChainBuildError,
    ChainInputError,
    DuplicateKeyError,
    MissingKeyError,
    SequentialRecipe,
    StateChunk,
    Step,
    StepTrace,
    derive_input_keys,
    sequential,
)
from llms.errors import RecipesError
from llms.fake import FakeChatModel, FakeLLM


class Counting(Runnable[dict[str, Any], Any]):
    """Applies ``fn`` to its input dict and counts invoke and batch calls."""

    def __init__(self, fn: Any) -> None:
        self.fn = fn
        self.invokes = 0
        self.batches: list[int] = []

    def invoke(self, input: dict[str, Any], config: RunnableConfig | None = None, **kwargs: Any) -> Any:
        self.invokes += 1
        return self.fn(input)

    def batch(
        self, inputs: list[dict[str, Any]], config: Any = None, *, return_exceptions: bool = False, **kwargs: Any
    ) -> list[Any]:
        self.batches.append(len(inputs))
        results: list[Any] = []
        for item in inputs:
            try:
                results.append(self.fn(item))
            except Exception as exc:
                if not return_exceptions:
                    raise
                results.append(exc)
        return results


def _genres(d):  # type: ignore[no-untyped-def]  # unannotated, so RunnableLambda reads the keys it uses
    answer = d["answer"]  # (langchain's key reader misses `d["answer"].replace(...)`)
    return answer.replace(",", " ").split()


def _recommend_chain(reply: str = "Watch Alien and 기생충 tonight") -> Runnable[dict[str, Any], str]:
    prompt = PromptTemplate.from_template("Genres: {genres}\nUser said: {answer}\nRecommend movies:")
    return prompt | FakeChatModel(responses=[reply]) | StrOutputParser()


def movie_night(**options: Any) -> SequentialRecipe:
    return sequential(
        Step("genres", RunnableLambda(_genres)),
        Step("recommend", _recommend_chain()),
        inputs=["answer"],
        **options,
    )


# --- building -----------------------------------------------------------------------------------------


def test_input_keys_are_derived_from_prompts_lambdas_and_schemas() -> None:
    assert derive_input_keys(PromptTemplate.from_template("{b} and {a}")) == ("a", "b")
    assert derive_input_keys(_recommend_chain()) == ("answer", "genres")
    chat = ChatPromptTemplate.from_messages([MessagesPlaceholder("history", optional=True), ("human", "{q}")])
    assert derive_input_keys(chat) == ("q",)  # optional variables are not required
    assert derive_input_keys(RunnableLambda(_genres)) == ("answer",)
    assert derive_input_keys(RunnableLambda(lambda d: d["a"] + d.get("b", ""))) == ("a", "b")

    def typed(d: dict[str, Any]) -> str:
        return str(d["a"])

    assert derive_input_keys(RunnableLambda(typed)) == ()  # an annotated dict says nothing about keys
    assert derive_input_keys(FakeChatModel()) == ()  # a model takes a prompt, not a dict: nothing known


def test_missing_key_fails_at_build_naming_key_step_and_available_keys() -> None:
    with pytest.raises(MissingKeyError) as caught:
        sequential(Step("genres", RunnableLambda(_genres)), Step("recommend", _recommend_chain()), inputs=["query"])
    message = str(caught.value)
    assert "'answer'" in message and "step 1 'genres'" in message and "available: query" in message
    assert isinstance(caught.value, ChainBuildError) and isinstance(caught.value, RecipesError)
    assert isinstance(caught.value, ValueError) and "\n" not in message


def test_a_later_key_is_not_available_to_an_earlier_step() -> None:
    with pytest.raises(MissingKeyError, match=r"step 1 'recommend' needs key 'genres'.*\(available: answer\)$"):
        sequential(Step("recommend", _recommend_chain()), Step("genres", RunnableLambda(_genres)), inputs="answer")


def test_explicit_input_keys_are_checked_too() -> None:
    opaque = Counting(lambda d: d["mood"])  # declares nothing, so the keys are given
    with pytest.raises(MissingKeyError, match="'mood'"):
        sequential(Step("pick", opaque, input_keys=["mood"]), inputs=["answer"])
    assert (
        sequential(Step("pick", opaque, input_keys=["mood"]), inputs=["mood"]).invoke({"mood": "좋음"})["pick"]
        == "좋음"
    )


def test_duplicate_output_keys_are_rejected() -> None:
    with pytest.raises(DuplicateKeyError, match="step 2 'again' outputs key 'genres', already set by step 1"):
        sequential(Step("genres", _genres), Step("again", _genres, output_key="genres"), inputs="answer")
    with pytest.raises(DuplicateKeyError, match="already set by the recipe inputs"):
        sequential(Step("answer", _genres), inputs="answer")


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: sequential(inputs=["a"]), "at least one step"),
        (lambda: sequential(Step("x", _genres), inputs=[]), "inputs must be distinct"),
        (lambda: sequential(Step("x", _genres), inputs=["answer", "answer"]), "inputs must be distinct"),
        (lambda: Step("", _genres), "non-empty name"),
        (lambda: sequential("oops", inputs=["answer"]), "must be a Step"),  # type: ignore[arg-type]
    ],
)
def test_malformed_recipes_raise_chain_build_error(build: Any, message: str) -> None:
    with pytest.raises(ChainBuildError, match=message):
        build()


def test_building_never_changes_the_parts() -> None:
    chain = _recommend_chain()
    first = Step("genres", RunnableLambda(_genres))
    recipe = sequential(first, inputs=["answer"])
    longer = recipe.extend(("recommend", chain))
    traced = longer.with_verbose(file=io.StringIO())
    assert recipe.output_keys == ("genres",) and longer.output_keys == ("genres", "recommend")
    assert not recipe.verbose and not longer.verbose and traced.verbose
    assert longer.steps[0] is first and longer.steps[1].runnable is chain
    assert traced is not longer and traced.steps == longer.steps


# --- invoke -------------------------------------------------------------------------------------------


def test_invoke_returns_inputs_plus_every_step_output() -> None:
    result = movie_night().invoke({"answer": "sci-fi, horror"})
    assert result == {
        "answer": "sci-fi, horror",
        "genres": ["sci-fi", "horror"],
        "recommend": "Watch Alien and 기생충 tonight",
    }


def test_later_steps_see_earlier_outputs_in_their_prompt() -> None:
    model = FakeChatModel()  # echoes the prompt
    recipe = sequential(
        Step("genres", _genres),
        Step("echo", PromptTemplate.from_template("장르: {genres}") | model | StrOutputParser()),
        inputs="answer",
    )
    assert recipe.invoke({"answer": "액션 코미디"})["echo"] == "장르: ['액션', '코미디']"
    assert len(model.calls) == 1


def test_missing_input_at_invoke_is_a_named_error() -> None:
    with pytest.raises(MissingKeyError, match="input is missing key 'answer' \\(got: question\\)"):
        movie_night().invoke({"question": "anything"})


def test_an_input_may_not_overwrite_a_step_output() -> None:
    with pytest.raises(DuplicateKeyError, match="input key 'genres' clashes with the output of step 1"):
        movie_night().invoke({"answer": "x", "genres": ["y"]})


def test_a_single_input_recipe_takes_a_bare_value() -> None:
    assert movie_night().invoke("horror")["genres"] == ["horror"]  # type: ignore[arg-type]
    two = sequential(Step("g", _genres), inputs=["answer", "extra"])
    with pytest.raises(ChainInputError, match="takes a dict with keys \\['answer', 'extra'\\], got str"):
        two.invoke("horror")  # type: ignore[arg-type]


def test_steps_get_a_copy_and_the_input_is_untouched() -> None:
    def vandal(d: dict[str, Any]) -> str:
        d["answer"] = "changed"
        return "done"

    recipe = sequential(Step("vandal", vandal, input_keys=["answer"]), Step("genres", _genres), inputs="answer")
    given = {"answer": "drama"}
    assert recipe.invoke(given) == {"answer": "drama", "vandal": "done", "genres": ["drama"]}
    assert given == {"answer": "drama"}


def test_classic_llm_chain_is_a_step() -> None:
    from langchain_classic.chains import LLMChain

    with warnings.catch_warnings():  # deprecated, and still supported on purpose
        warnings.simplefilter("ignore")
        classic = LLMChain(llm=FakeLLM(responses=["액션"]), prompt=PromptTemplate.from_template("{answer}"))
    recipe = sequential(Step("genre", classic), Step("shout", lambda d: d["genre"] + "!"), inputs="answer")
    assert recipe.steps[0].input_keys == ("answer",)
    assert recipe.invoke({"answer": "fights"}) == {"answer": "fights", "genre": "액션", "shout": "액션!"}


def test_a_recipe_is_a_runnable_that_composes_and_nests() -> None:
    recipe = movie_night(name="movie_night")
    assert (recipe | RunnableLambda(lambda d: d["genres"])).invoke({"answer": "war"}) == ["war"]
    outer = sequential(Step("night", recipe), Step("count", lambda d: len(d["night"]["genres"])), inputs="answer")
    assert outer.steps[0].input_keys == ("answer",)  # from the inner recipe's input schema
    assert outer.invoke({"answer": "a b c"})["count"] == 3
    assert list(recipe.get_output_jsonschema()["properties"]) == ["answer", "genres", "recommend"]


def test_callbacks_reach_every_step_with_a_step_tag() -> None:
    class Recorder(BaseCallbackHandler):
        def __init__(self) -> None:
            self.tags: list[list[str]] = []
            self.llm_starts = 0

        def on_chain_start(self, serialized: Any, inputs: Any, *, tags: Any = None, **kwargs: Any) -> None:
            self.tags.append(list(tags or []))

        def on_chat_model_start(self, serialized: Any, messages: Any, **kwargs: Any) -> None:
            self.llm_starts += 1

    recorder = Recorder()
    movie_night().invoke({"answer": "drama"}, {"callbacks": [recorder]})
    assert recorder.llm_starts == 1
    assert any("step:1" in tags for tags in recorder.tags) and any("step:2" in tags for tags in recorder.tags)


# --- batch --------------------------------------------------------------------------------------------


def test_batch_calls_each_step_batch_once_for_all_rows() -> None:
    first = Counting(lambda d: d["answer"].upper())
    second = Counting(lambda d: f"{d['upper']}!")
    recipe = sequential(
        Step("upper", first, input_keys=["answer"]), Step("shout", second, input_keys=["upper"]), inputs="answer"
    )
    rows = recipe.batch([{"answer": "a"}, {"answer": "공포"}, {"answer": "c"}])
    assert [r["shout"] for r in rows] == ["A!", "공포!", "C!"]
    assert first.batches == [3] and second.batches == [3]
    assert first.invokes == second.invokes == 0


def test_batch_with_return_exceptions_drops_failed_rows_from_later_steps() -> None:
    first = Counting(lambda d: 1 / len(d["answer"]))
    second = Counting(lambda d: d["ratio"] * 2)
    recipe = sequential(
        Step("ratio", first, input_keys=["answer"]), Step("double", second, input_keys=["ratio"]), inputs="answer"
    )
    rows = recipe.batch([{"answer": "ab"}, {"answer": ""}, {"nope": 1}], return_exceptions=True)
    assert rows[0]["double"] == 1.0
    assert isinstance(rows[1], ZeroDivisionError) and isinstance(rows[2], MissingKeyError)
    assert first.batches == [2] and second.batches == [1]
    with pytest.raises(ZeroDivisionError):
        recipe.batch([{"answer": "ab"}, {"answer": ""}])


def test_batch_of_prompt_model_chains_matches_invoke() -> None:
    inputs = [{"answer": "horror"}, {"answer": "코미디"}]
    assert movie_night().batch(inputs) == [movie_night().invoke(x) for x in inputs]
    assert movie_night().batch([]) == []


# --- stream -------------------------------------------------------------------------------------------


def test_stream_yields_state_then_final_pieces_that_add_up_to_invoke() -> None:
    chunks = list(movie_night().stream({"answer": "sci-fi horror"}))
    assert len(chunks) > 2 and all(isinstance(c, StateChunk) for c in chunks)
    assert chunks[0] == {"answer": "sci-fi horror", "genres": ["sci-fi", "horror"]}
    assert all(set(c) == {"recommend"} for c in chunks[1:])
    assert "".join(c["recommend"] for c in chunks[1:]) == "Watch Alien and 기생충 tonight"
    assert reduce(operator.add, chunks) == movie_night().invoke({"answer": "sci-fi horror"})


def test_stream_runs_earlier_steps_once_with_invoke() -> None:
    first = Counting(lambda d: d["answer"].split())
    recipe = sequential(
        Step("genres", first, input_keys=["answer"]), Step("recommend", _recommend_chain()), inputs="answer"
    )
    list(recipe.stream({"answer": "war"}))
    assert first.invokes == 1 and first.batches == []


def test_streamed_json_adds_up_to_the_final_object() -> None:
    reply = '{"title": "기생충", "year": 2019}'
    parse = PromptTemplate.from_template("{answer}") | FakeChatModel(responses=[reply]) | JsonOutputParser()
    recipe = sequential(Step("pick", parse), inputs="answer")
    chunks = list(recipe.stream({"answer": "drama"}))
    assert len(chunks) > 2  # the parser streams growing objects, each replacing the last when added
    assert reduce(operator.add, chunks) == recipe.invoke({"answer": "drama"})
    assert recipe.invoke({"answer": "drama"})["pick"] == {"title": "기생충", "year": 2019}


def test_state_chunks_add_like_langchain_addable_dicts() -> None:
    total = StateChunk(a="x", n=None) + {"a": "y", "n": 2} + {"d": {"k": 1}} + {"d": {"k": 2}}
    assert total == {"a": "xy", "n": 2, "d": {"k": 2}}
    assert isinstance({"z": 1} + StateChunk(a="b"), StateChunk)


# --- async --------------------------------------------------------------------------------------------


def test_async_invoke_batch_and_stream_match_sync() -> None:
    recipe = movie_night()

    async def run() -> tuple[Any, Any, list[Any]]:
        one = await recipe.ainvoke({"answer": "romance"})
        many = await recipe.abatch([{"answer": "a"}, {"answer": "b"}])
        chunks = [c async for c in recipe.astream({"answer": "romance"})]
        return one, many, chunks

    one, many, chunks = asyncio.run(run())
    assert one == recipe.invoke({"answer": "romance"})
    assert many == recipe.batch([{"answer": "a"}, {"answer": "b"}])
    assert len(chunks) > 2 and reduce(operator.add, chunks) == one


def test_async_batch_still_calls_each_step_batch_once() -> None:
    first = Counting(lambda d: d["answer"].upper())
    recipe = sequential(Step("upper", first, input_keys=["answer"]), inputs="answer")
    rows = asyncio.run(recipe.abatch([{"answer": "a"}, {"answer": "공포"}]))
    assert [r["upper"] for r in rows] == ["A", "공포"]
    assert first.batches == [2] and first.invokes == 0


def test_async_missing_key_is_the_same_named_error() -> None:
    with pytest.raises(MissingKeyError, match="'answer'"):
        asyncio.run(movie_night().ainvoke({"other": 1}))


# --- verbose ------------------------------------------------------------------------------------------


def test_verbose_trace_shows_each_step_inputs_output_and_time() -> None:
    out = io.StringIO()
    movie_night(verbose=True, file=out).invoke({"answer": "저는 SF를 좋아해요"})
    lines = out.getvalue().splitlines()
    assert lines[0] == "> Entering step 1/2 'genres'"
    assert "  input answer: '저는 SF를 좋아해요'" in lines
    assert "  output genres: ['저는', 'SF를', '좋아해요']" in lines
    assert re.fullmatch(r"> Finished step 1/2 'genres' in \d+\.\d\ds", lines[3])
    assert "> Entering step 2/2 'recommend'" in lines
    assert "  output recommend: 'Watch Alien and 기생충 tonight'" in lines


def test_verbose_trace_of_batch_and_stream() -> None:
    out = io.StringIO()
    recipe = movie_night(verbose=True, file=out)
    recipe.batch([{"answer": "a"}, {"answer": "b"}])
    assert "> Entering step 1/2 'genres' (batch of 2)" in out.getvalue()
    assert "  [1] output genres: ['b']" in out.getvalue()
    out.seek(0)
    out.truncate()
    list(recipe.stream({"answer": "war"}))
    assert "  output recommend: 'Watch Alien and 기생충 tonight'" in out.getvalue()


def test_verbose_goes_to_stderr_by_default_and_quiet_prints_nothing(capsys: pytest.CaptureFixture[str]) -> None:
    movie_night().invoke({"answer": "drama"})
    assert capsys.readouterr().err == ""
    movie_night(verbose=True).invoke({"answer": "드라마"})
    captured = capsys.readouterr()
    assert "> Entering step 1/2 'genres'" in captured.err and "드라마" in captured.err and captured.out == ""


def test_verbose_survives_a_file_that_cannot_encode_korean() -> None:
    raw = io.BytesIO()
    ascii_file = io.TextIOWrapper(raw, encoding="ascii")
    movie_night(verbose=True, file=ascii_file).invoke({"answer": "공포"})
    ascii_file.flush()
    assert "input answer: '\\uacf5\\ud3ec'" in raw.getvalue().decode("ascii")


def test_a_step_trace_in_the_config_traces_only_the_steps_not_the_runs_inside_them() -> None:
    out = io.StringIO()
    movie_night().invoke({"answer": "코미디"}, {"callbacks": [StepTrace(out)]})
    lines = out.getvalue().splitlines()
    # The second step is prompt | model | parser: three runs inside it, none of them a step.
    assert [x for x in lines if x.startswith("> Entering")] == [
        "> Entering step 1/2 'genres'",
        "> Entering step 2/2 'recommend'",
    ]
    assert "  input genres: ['코미디']" in lines and "  output recommend: 'Watch Alien and 기생충 tonight'" in lines


def test_the_trace_shows_a_failed_row_and_leaves_it_out_of_later_steps() -> None:
    def ratio(d):  # type: ignore[no-untyped-def]
        return 1 / len(d["answer"])

    out = io.StringIO()
    recipe = sequential(
        Step("ratio", ratio), Step("twice", lambda d: d["ratio"] * 2), inputs="answer", verbose=True, file=out
    )
    recipe.batch([{"answer": "ab"}, {"answer": ""}], return_exceptions=True)
    lines = out.getvalue().splitlines()
    assert "  [1] failed: ZeroDivisionError: division by zero" in lines
    assert "> Entering step 2/2 'twice'" in lines and "  output twice: 1.0" in lines  # one row left: no batch


def test_async_calls_write_the_same_trace_as_sync_ones() -> None:
    sync_out, async_out = io.StringIO(), io.StringIO()
    movie_night(verbose=True, file=sync_out).invoke({"answer": "drama"})
    list(movie_night(verbose=True, file=sync_out).stream({"answer": "drama"}))

    async def run() -> None:
        await movie_night(verbose=True, file=async_out).ainvoke({"answer": "drama"})
        [c async for c in movie_night(verbose=True, file=async_out).astream({"answer": "drama"})]

    asyncio.run(run())
    times = re.compile(r"in \d+\.\d\ds$", re.M)
    assert times.sub("", async_out.getvalue()) == times.sub("", sync_out.getvalue()) != ""


def test_long_values_are_shortened_in_the_trace() -> None:
    out = io.StringIO()
    sequential(Step("g", _genres), inputs="answer", verbose=True, file=out).invoke({"answer": "x" * 1000})
    line = next(x for x in out.getvalue().splitlines() if x.startswith("  input answer:"))
    assert line.endswith("…") and len(line) < 400


def test_prompt_steps_get_only_their_keys_so_strict_prompts_fit_in() -> None:
    """Our prompts refuse unexpected variables; a sequential step hands a prompt only the keys it declares."""
    import prompts
    from llms import FakeChatModel

    model = FakeChatModel()  # echoes the prompt
    recipe = sequential(
        Step("day", prompts.get("perfect_day") | model, "day"),
        Step("qa", prompts.get("json_answer") | model, "qa"),
        inputs=["city", "question"],
    )
    out = recipe.invoke({"city": "Paris", "question": "What is 2+2?"})
    assert "Paris" in out["day"].text and "What is 2+2?" in out["qa"].text
    assert [r["qa"].text for r in recipe.batch([{"city": "Rome", "question": "Why?"}])] == [out["qa"].text.replace(
        "What is 2+2?", "Why?")]
    # A function step still sees every value so far (its keys can't be known exactly).
    seen = sequential(Step("all", lambda d: sorted(d), "all"), inputs=["a", "b"]).invoke({"a": 1, "b": 2})
    assert seen["all"] == ["a", "b"]
