#!/usr/bin/env bash
# Set up .venv if needed, then run the default (fast) test suite on both cores.
source "$(dirname "$0")/_venv.sh"
OMP_NUM_THREADS=1 "$PY" -m pytest -n 2 --durations=15 "$@"
