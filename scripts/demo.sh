#!/usr/bin/env bash
# Set up, then run the main job against a local Hub-compatible server on loopback.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/python scripts/demo.py
