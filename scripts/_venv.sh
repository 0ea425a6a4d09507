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
# find_spec, not import: importing torch, dask-ml and onnx on every run costs seconds.
NEEDED="'skae', 'torch', 'skorch', 'pytest', 'matplotlib', 'skl2onnx', 'skops', 'dask_ml'"
if ! "$PY" -c "import importlib.util as u, sys; sys.exit(not all(map(u.find_spec, [$NEEDED])))" >/dev/null 2>&1; then
    "$PY" -m pip install --quiet --upgrade pip
    "$PY" -m pip install --quiet "torch==2.13.0"
    "$PY" -m pip install --quiet -e ".[test,examples,distributed,onnx,skops]"
fi
