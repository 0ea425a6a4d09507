# Sourced by demo.sh and test.sh: create .venv once and install skae into it.
# torch==2.13.0 goes first: it resolves to the local CPU wheel; an unpinned torch
# on a machine without one would pull gigabytes of CUDA packages.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
VENV="${SKAE_VENV:-.venv}"
if [ ! -x "$VENV/bin/python" ]; then
    python3 -m venv "$VENV"
fi
PY="$VENV/bin/python"
if ! "$PY" -c "import skae, torch, skorch, pytest, skl2onnx, skops, dask_ml" >/dev/null 2>&1; then
    "$PY" -m pip install --quiet --upgrade pip
    "$PY" -m pip install --quiet "torch==2.13.0"
    "$PY" -m pip install --quiet -e ".[test,examples,distributed,onnx,skops]"
fi
