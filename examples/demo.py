"""skae next to PCA: reconstruction, likelihood and supervised model selection.

Three tables, each a compact version of an example in this folder:

1. held-out reconstruction MSE and fit time on digits, PCA against
   ``AutoencoderTransformer`` (``plot_reconstruction_vs_k.py`` for k = 2..32);
2. one ``GridSearchCV`` ranking PCA, FactorAnalysis, GaussianMixture, VAE and
   RealNVPDensity on held-out log-likelihood (``plot_likelihood_ranking.py``);
3. digits accuracy of ``scale -> reduce -> LinearSVC`` for each reducer at
   k in {4, 8} and C=1 (``plot_select_reducer.py``: k = 2..16, C searched).

Figures go to ``examples/figures/demo_*.png``.  Run ``bash scripts/demo.sh``
(sets up the environment) or ``python examples/demo.py [--n-jobs 2]``;
``--quick`` (or ``SKAE_QUICK=1``) uses CI-size settings.
"""

import argparse
import os
import time
import warnings
from pathlib import Path

import numpy as np
import plot_likelihood_ranking
import plot_select_reducer
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


def likelihood_ranking(quick: bool, n_jobs: int) -> Path:
    rows, raw_shift = plot_likelihood_ranking.rank(quick=quick, n_jobs=n_jobs)
    plot_likelihood_ranking.print_ranking(rows, raw_shift)
    figure = plot_likelihood_ranking.FIGURE.with_name("demo_likelihood_ranking.png")
    return plot_likelihood_ranking.plot_ranking(rows, figure)


def supervised_accuracy(quick: bool, n_jobs: int) -> Path:
    k_values = (8,) if quick else (4, 8)
    table = plot_select_reducer.run(
        quick=quick, n_jobs=n_jobs, k_values=k_values, c_values=(1.0,)
    )
    plot_select_reducer.print_accuracy(table, k_values)
    figure = plot_select_reducer.FIGURE.with_name("demo_select_reducer.png")
    return plot_select_reducer.plot_accuracy(table, k_values, figure)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="CI-size settings")
    parser.add_argument("--n-jobs", type=int, default=2, help="processes to use")
    args = parser.parse_args(argv)
    quick = args.quick or os.environ.get("SKAE_QUICK") == "1"
    warnings.simplefilter("ignore", ConvergenceWarning)
    start = time.perf_counter()
    print_reconstruction(reconstruction_table(quick))
    print()
    figures = [likelihood_ranking(quick, args.n_jobs)]
    print()
    figures.append(supervised_accuracy(quick, args.n_jobs))
    print()
    print(f"demo took {time.perf_counter() - start:.0f} s; figures:")
    for figure in figures:
        print(f"  {figure}")
    print("full-size versions: python examples/plot_select_reducer.py,")
    print("  examples/plot_reconstruction_vs_k.py, examples/plot_likelihood_ranking.py")


if __name__ == "__main__":
    main()
