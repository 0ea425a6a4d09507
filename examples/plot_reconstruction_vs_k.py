"""
Held-out reconstruction error against the code size k: PCA and skae on digits
=============================================================================

PCA is the best *linear* map to k dimensions and back for the squared error;
a non-linear autoencoder can do better at the same k.  Every model is fitted on
75% of scikit-learn's 8x8 digits (pixels 0-16, as given) and scored on the
other 25% with :func:`skae.metrics.reconstruction_error`, the mean squared
error of ``inverse_transform(transform(X))`` in pixel units, which applies to
every one of them unchanged.  (The VAE's error levels off as k grows: it
maximises a likelihood bound whose KL term leaves unneeded latent dimensions
unused, rather than minimising the reconstruction error.)

The figure goes to ``examples/figures/reconstruction_vs_k.png`` and the table
is printed.  Run ``python examples/plot_reconstruction_vs_k.py``; ``--quick``
(or ``SKAE_QUICK=1``) uses k in {2, 8} and 10 epochs.
"""

import argparse
import os
import time
import warnings
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from sklearn.base import BaseEstimator
from sklearn.datasets import load_digits
from sklearn.decomposition import PCA
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split

from skae import VAE, AutoencoderTransformer
from skae.metrics import reconstruction_error

FIGURE = Path(__file__).resolve().parent / "figures" / "reconstruction_vs_k.png"
K_VALUES = (2, 4, 8, 16, 32)


def models(k: int, max_iter: int) -> dict[str, BaseEstimator]:
    network = {"n_components": k, "max_iter": max_iter, "random_state": 0}
    return {
        "PCA": PCA(n_components=k),
        "AutoencoderTransformer": AutoencoderTransformer(**network),
        "VAE": VAE(**network),
    }


def error_table(k_values, *, max_iter: int) -> list[dict]:
    X = load_digits().data
    X_train, X_test = train_test_split(X, test_size=0.25, random_state=0)
    rows = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for k in k_values:
            for name, model in models(k, max_iter).items():
                start = time.perf_counter()
                model.fit(X_train)
                rows.append(
                    {
                        "model": name,
                        "k": k,
                        "mse": reconstruction_error(model, X_test),
                        "fit_s": time.perf_counter() - start,
                    }
                )
    return rows


def print_errors(rows: list[dict], k_values) -> None:
    print("Digits: held-out reconstruction MSE (pixel units, 0-16) against k")
    print(f"{'model':24s}" + "".join(f"{'k=' + str(k):>8s}" for k in k_values))
    mse = {(row["model"], row["k"]): row["mse"] for row in rows}
    for name in dict.fromkeys(row["model"] for row in rows):
        print(f"{name:24s}" + "".join(f"{mse[(name, k)]:8.2f}" for k in k_values))


def plot_errors(rows: list[dict], k_values, path: Path) -> Path:
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    for name in dict.fromkeys(row["model"] for row in rows):
        errors = [
            next(r["mse"] for r in rows if r["model"] == name and r["k"] == k)
            for k in k_values
        ]
        ax.plot(k_values, errors, marker="o", label=name)
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xticks(k_values, [str(k) for k in k_values])
    ax.set_xlabel("number of components k")
    ax.set_ylabel("held-out MSE (pixel units)")
    ax.set_title("Digits: reconstruction error against k")
    ax.grid(alpha=0.3, which="both")
    ax.legend()
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def main(argv=None) -> Path:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="CI-size settings")
    args = parser.parse_args(argv)
    quick = args.quick or os.environ.get("SKAE_QUICK") == "1"
    k_values = (2, 8) if quick else K_VALUES
    rows = error_table(k_values, max_iter=10 if quick else 200)
    print_errors(rows, k_values)
    path = plot_errors(rows, k_values, FIGURE)
    print(f"figure: {path}")
    return path


if __name__ == "__main__":
    main()
