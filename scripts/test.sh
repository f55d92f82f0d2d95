#!/usr/bin/env bash
# Set up (idempotent) and run the whole test suite plus lint and type checks.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/python -m ruff check framesentry tests benchmarks
.venv/bin/python -m mypy
OMP_WAIT_POLICY=PASSIVE .venv/bin/python -m pytest -q -ra "$@"
