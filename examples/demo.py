"""skae next to PCA on scikit-learn's digits: held-out reconstruction error and time.

Run ``bash scripts/demo.sh`` (sets up the environment) or ``python examples/demo.py``.
``--quick`` (or ``SKAE_QUICK=1``) uses CI-size settings.
"""

import argparse
import os
import time
import warnings

import numpy as np
from sklearn.datasets import load_digits
from sklearn.decomposition import PCA
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

from skae import AutoencoderTransformer


def held_out_mse(model, X_test: np.ndarray) -> float:
    reconstruction = model.inverse_transform(model.transform(X_test))
    return float(np.mean((X_test - reconstruction) ** 2))


def reconstruction_table(quick: bool) -> list[dict]:
    X = load_digits().data
    X_train, X_test = train_test_split(X, test_size=0.25, random_state=0)
    scaler = StandardScaler().fit(X_train)
    data = {
        "digits (0-16 pixels)": (X_train, X_test),
        "digits (standardised)": (scaler.transform(X_train), scaler.transform(X_test)),
    }
    rows = []
    for data_name, (train, test) in data.items():
        for k in (2, 8) if quick else (2, 8, 16):
            models = {
                "PCA": PCA(n_components=k),
                "AutoencoderTransformer": AutoencoderTransformer(
                    n_components=k, random_state=0, max_iter=20 if quick else 200
                ),
            }
            for name, model in models.items():
                start = time.perf_counter()
                model.fit(train)
                seconds = time.perf_counter() - start
                rows.append(
                    {
                        "data": data_name,
                        "k": k,
                        "model": name,
                        "mse": held_out_mse(model, test),
                        "fit_s": seconds,
                    }
                )
    return rows


def print_reconstruction(rows: list[dict]) -> None:
    print("Held-out reconstruction MSE (25% test split), in the data's units")
    print(
        f"{'data':24s} {'k':>3s} {'model':24s} {'MSE':>9s} {'vs PCA':>7s} {'fit s':>7s}"
    )
    pca = {(r["data"], r["k"]): r["mse"] for r in rows if r["model"] == "PCA"}
    for r in rows:
        ratio = r["mse"] / pca[(r["data"], r["k"])]
        print(
            f"{r['data']:24s} {r['k']:3d} {r['model']:24s} {r['mse']:9.4f} "
            f"{ratio:7.2f} {r['fit_s']:7.2f}"
        )


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="CI-size settings")
    args = parser.parse_args(argv)
    quick = args.quick or os.environ.get("SKAE_QUICK") == "1"
    warnings.simplefilter("ignore", ConvergenceWarning)
    print_reconstruction(reconstruction_table(quick))


if __name__ == "__main__":
    main()
