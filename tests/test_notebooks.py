"""The notebooks: committed without outputs, and each runs top to bottom on the embedded model (nbclient)."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
EXPECTED = ["01_llmchain_perfect_day", "02_output_parsers", "03_movie_night", "04_translation_shots", "05_alpaca"]
# What a notebook must have displayed besides text: the translation table and the win-rate plot.
DISPLAYS = {"04_translation_shots": "text/html", "05_alpaca": "image/png"}


def _ids(path: Path) -> str:
    return path.stem


def test_the_five_notebooks_mirroring_the_seed_are_there() -> None:
    assert [p.stem for p in NOTEBOOKS] == EXPECTED


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids)
def test_committed_notebook_has_no_outputs_and_says_in_one_line_what_it_shows(path: Path) -> None:
    book = nbformat.read(path, as_version=4)
    nbformat.validate(book)
    code = [c for c in book.cells if c.cell_type == "code"]
    assert all(c.outputs == [] and c.execution_count is None for c in code), "strip outputs before committing"
    first = book.cells[0]
    assert first.cell_type == "markdown"
    shows = [line for line in first.source.splitlines() if line.startswith("**Shows:**")]
    assert len(shows) == 1 and len(shows[0]) > 40
    install = code[0].source
    assert '"google.colab" in sys.modules' in install and "pip install" in install
    assert "torch" not in install.split("pip install", 1)[1].split("\n", 1)[0], "never reinstall Colab's torch"


def _kernel_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "OPENAI_API_KEY"}  # the OpenAI cells must skip
    env.update(
        RECIPES_THREADS="1", OMP_NUM_THREADS="1", HF_HUB_OFFLINE="1", RECIPES_NO_LOG="1",
        TRANSFORMERS_VERBOSITY="error", TOKENIZERS_PARALLELISM="false", MPLBACKEND="module://matplotlib_inline.backend_inline",
        PATH=f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",  # the kernel is this venv's python
    )  # fmt: skip
    return env


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids)
def test_notebook_runs_top_to_bottom_on_the_embedded_model(
    path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], record_property: pytest.RecordProperty
) -> None:
    from nbclient import NotebookClient

    book = nbformat.read(path, as_version=4)
    client = NotebookClient(
        book, kernel_name="python3", timeout=600, resources={"metadata": {"path": str(path.parent)}}
    )
    started = time.monotonic()
    try:
        client.execute(env=_kernel_env())  # a cell that raises raises CellExecutionError here
    finally:
        seconds = time.monotonic() - started
        nbformat.write(book, tmp_path / path.name)  # the executed copy, for a look after a failure
        record_property("seconds", round(seconds, 1))
        with capsys.disabled():
            print(f"\nnotebook {path.name}: {seconds:.1f} s on the embedded model (executed copy: {tmp_path})")
    code = [c for c in book.cells if c.cell_type == "code"]
    silent = [i for i, c in enumerate(code) if not c.outputs]
    assert silent == [], f"code cells {silent} showed nothing"
    errors = [o for c in code for o in c.outputs if o.output_type == "error"]
    assert errors == []
    if path.stem in DISPLAYS:
        kinds = {k for c in code for o in c.outputs for k in o.get("data", {})}
        assert DISPLAYS[path.stem] in kinds
