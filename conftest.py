"""Doctest collection: skip modules whose optional extra is not installed."""

import importlib.util

_EXTRAS = {"skae/onnx.py": ("skl2onnx", "onnxruntime"), "skae/io.py": ("skops",)}

collect_ignore = [
    path
    for path, modules in _EXTRAS.items()
    if not all(importlib.util.find_spec(module) for module in modules)
]
