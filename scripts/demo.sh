#!/usr/bin/env bash
# Set up .venv if needed, then fit the skae estimators next to PCA & co and print the tables.
source "$(dirname "$0")/_venv.sh"
# One torch thread: the demo's networks are small, and on a shared 2-core machine a
# second spinning thread per fit costs far more than it gains (export to override).
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}" MKL_NUM_THREADS="${MKL_NUM_THREADS:-1}"
"$PY" examples/demo.py "$@"
