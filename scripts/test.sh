#!/usr/bin/env bash
# Set everything up and run the whole test suite, with lint and type checks first.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/system-deps.sh || echo "note: optional system packages not installed; their tests skip"
.venv/bin/ruff check src tests benchmarks
.venv/bin/ruff format --check src tests benchmarks
.venv/bin/mypy src tests
# Under coverage, with the CLI and service processes the tests start measured too.
rm -f .coverage .coverage.*
.venv/bin/coverage run -m pytest -q -p no:cacheprovider "$@"
.venv/bin/coverage combine -q
.venv/bin/coverage report --skip-covered --sort=cover
.venv/bin/coverage json -q -o .coverage.json
.venv/bin/python - <<'PY'
import json

totals = json.load(open(".coverage.json"))["totals"]
lines = 100 * totals["covered_lines"] / max(totals["num_statements"], 1)
branches = 100 * totals["covered_branches"] / max(totals["num_branches"], 1)
print(f"coverage: {lines:.1f}% of lines, {branches:.1f}% of branches")
PY
