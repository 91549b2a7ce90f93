#!/usr/bin/env bash
# Set everything up and run the whole test suite, with lint and type checks first.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/system-deps.sh || echo "note: optional system packages not installed; their tests skip"
.venv/bin/ruff check src tests benchmarks
.venv/bin/ruff format --check src tests benchmarks
.venv/bin/mypy src
.venv/bin/python -m pytest -q -p no:cacheprovider "$@"
