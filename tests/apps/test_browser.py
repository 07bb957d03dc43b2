"""The playground in a real browser: Debian's chromium, headless, driven by playwright, on the embedded model."""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from urllib.parse import urlparse

import pytest

from chains.catalogue import load_catalogue
from tests.apps.playground import serve

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
# Playwright's own browser download needs the internet; the system chromium needs no sandbox as root in CI.
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--no-first-run", "--disable-dev-shm-usage",
]  # fmt: skip


def _skip_without_chromium() -> None:
    if CHROMIUM is None:
        reason = "chromium is not installed (bootstrap.sh installs Debian's chromium: apt-get install chromium)"
        print(f"SKIPPED: {reason}")
        pytest.skip(reason)


@pytest.mark.slow
def test_movie_night_typed_and_run_in_chromium_streams_catalogue_titles_into_the_page(tmp_path: Path) -> None:
    _skip_without_chromium()
    from playwright.sync_api import expect, sync_playwright

    with serve("--model", "local", log=tmp_path / "serve.log") as url, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 1400})
            elsewhere: list[str] = []
            page.on("request", lambda r: elsewhere.append(r.url) if urlparse(r.url).hostname != "127.0.0.1" else None)
            page.goto(url)
            expect(page.get_by_text("Chain Recipes playground")).to_be_visible(timeout=30_000)
            page.locator("#input textarea").fill("I love sci-fi and horror")
            page.locator("#run").click()
            answer = page.locator("#answer textarea")
            # Titles first (picks), then each with its reason after " — ": wait for the streamed final text.
            expect(answer).to_have_value(re.compile(r"Recommendations:.*1\. .+ — ", re.S), timeout=120_000)
            expect(page.locator("#steps")).to_contain_text("reasons", timeout=30_000)
            text = answer.input_value()
            shot = tmp_path / "playground-movie-night.png"
            page.screenshot(path=str(shot), full_page=True)
            print(f"screenshot: {shot}")
        finally:
            browser.close()
    titles = [t.title for t in load_catalogue().movies if f". {t.title} (" in text]
    print(f"movie night in the browser: {titles}")
    assert text.startswith("Genres: ") and "Science fiction" in text and "Horror" in text
    assert len(titles) >= 3, f"expected three catalogue titles in the answer, got: {text}"
    assert elsewhere == [], f"the page fetched from outside this machine: {elsewhere}"
    assert shot.stat().st_size > 10_000
