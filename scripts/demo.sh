#!/usr/bin/env bash
# Set up .venv if needed, then fit the skae estimators next to PCA and print the tables.
source "$(dirname "$0")/_venv.sh"
"$PY" examples/demo.py "$@"
