"""skae next to the classical estimators, in about a minute.

Three compact comparisons on one train/test split each (no cross-validation),
so that README's first command answers quickly:

1. digits, k = 8 codes: held-out reconstruction MSE of ``PCA`` and
   ``AutoencoderTransformer`` (``plot_reconstruction_vs_k.py`` for k = 2..32);
2. breast cancer, standardised: held-out log-likelihood (nats per sample) of
   ``PCA``, ``FactorAnalysis``, ``GaussianMixture``, ``VAE`` and
   ``RealNVPDensity`` (``plot_likelihood_ranking.py`` searches each family's
   settings with ``GridSearchCV``);
3. digits: test accuracy of ``MinMaxScaler -> reduce(k=8) -> LinearSVC`` for
   PCA, ``AutoencoderTransformer`` and ``DenoisingAE``
   (``plot_select_reducer.py``: k = 2..16, C searched, 5-fold CV).

The figures go to ``examples/figures/demo_reconstruction.png`` (digits and
their reconstructions) and ``examples/figures/demo_comparison.png`` (the three
tables as bars).  Run ``bash scripts/demo.sh`` (sets up the environment) or
``python examples/demo.py``; ``--quick`` (or ``SKAE_QUICK=1``) uses CI-size
settings; ``--n-jobs`` fits the models of a table in parallel processes.
"""

import argparse
import os
import time
import warnings
from pathlib import Path

import joblib
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_breast_cancer, load_digits
from sklearn.decomposition import PCA, FactorAnalysis
from sklearn.exceptions import ConvergenceWarning
from sklearn.mixture import GaussianMixture
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import MinMaxScaler, StandardScaler
from sklearn.svm import LinearSVC

from skae import VAE, AutoencoderTransformer, DenoisingAE, RealNVPDensity

FIGURES = Path(__file__).resolve().parent / "figures"
K = 8
SKAE = {"AutoencoderTransformer", "DenoisingAE", "VAE", "RealNVPDensity"}


def _timed_fit(model, X, y=None):
    warnings.simplefilter("ignore", ConvergenceWarning)
    start = time.perf_counter()
    model.fit(X, y)
    return model, time.perf_counter() - start


def _fit_all(models: dict, X, n_jobs: int, y=None) -> dict:
    """``{name: (fitted model, fit seconds)}``, fitted in ``n_jobs`` processes."""
    fitted = joblib.Parallel(n_jobs=n_jobs)(
        joblib.delayed(_timed_fit)(model, X, y) for model in models.values()
    )
    return dict(zip(models, fitted, strict=True))


def reconstruction(epochs: int, n_jobs: int) -> tuple[list[tuple], dict]:
    X_train, X_test = train_test_split(load_digits().data, random_state=0)
    models = {
        "PCA": PCA(n_components=K),
        "AutoencoderTransformer": AutoencoderTransformer(
            n_components=K, max_iter=epochs, random_state=0
        ),
    }
    rows, fitted = [], {}
    for name, (model, seconds) in _fit_all(models, X_train, n_jobs).items():
        error = np.mean(
            (X_test - model.inverse_transform(model.transform(X_test))) ** 2
        )
        rows.append((name, float(error), seconds))
        fitted[name] = model
    return rows, {"X": X_test, **fitted}


def likelihood(epochs: int, n_jobs: int) -> list[tuple]:
    X = StandardScaler().fit_transform(load_breast_cancer().data)
    X_train, X_test = train_test_split(X, random_state=0)
    models = {
        "GaussianMixture (2, full)": GaussianMixture(2, random_state=0),
        "RealNVPDensity (8 layers)": RealNVPDensity(
            hidden_layer_sizes=(64, 64), max_iter=epochs, random_state=0
        ),
        "FactorAnalysis (15)": FactorAnalysis(15),
        "PCA (25)": PCA(25),
        "VAE (linear, 20)": VAE(
            n_components=20,
            hidden_layer_sizes=(),
            activation="identity",
            learning_rate_init=1e-2,
            max_iter=2 * epochs,
            n_iter_no_change=50,
            random_state=0,
        ),
    }
    fitted = _fit_all(models, X_train, n_jobs)
    return [
        (name, float(model.score(X_test)), seconds)
        for name, (model, seconds) in fitted.items()
    ]


def accuracy(epochs: int, n_jobs: int) -> list[tuple]:
    X, y = load_digits(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=0)
    settings = {"n_components": K, "max_iter": epochs, "random_state": 0}
    reducers = {
        "PCA": PCA(K),
        "AutoencoderTransformer": AutoencoderTransformer(**settings),
        "DenoisingAE (masking 0.5)": DenoisingAE(
            noise="masking", noise_level=0.5, **settings
        ),
    }
    pipes = {
        name: make_pipeline(MinMaxScaler(), reducer, LinearSVC(C=1.0))
        for name, reducer in reducers.items()
    }
    fitted = _fit_all(pipes, X_train, n_jobs, y_train)
    return [
        (name, float(pipe.score(X_test, y_test)), seconds)
        for name, (pipe, seconds) in fitted.items()
    ]


def print_table(title: str, column: str, rows: list[tuple]) -> None:
    print(title)
    print(f"  {'model':28s} {column:>10s} {'fit s':>7s}")
    for name, value, seconds in rows:
        print(f"  {name:28s} {value:10.4f} {seconds:7.2f}")
    print()


def plot_reconstructions(models: dict, path: Path) -> Path:
    X = models["X"][:8]
    rows = {
        "digits": X,
        "PCA": models["PCA"].inverse_transform(models["PCA"].transform(X)),
        "autoencoder": models["AutoencoderTransformer"].inverse_transform(
            models["AutoencoderTransformer"].transform(X)
        ),
    }
    fig, axes = plt.subplots(len(rows), len(X), figsize=(8, 3.3))
    for i, (label, images) in enumerate(rows.items()):
        for j, image in enumerate(images):
            axes[i, j].imshow(image.reshape(8, 8), cmap="gray_r", vmin=0, vmax=16)
            axes[i, j].set_xticks([])
            axes[i, j].set_yticks([])
        axes[i, 0].set_ylabel(label, fontsize=8)
    fig.suptitle(f"Held-out digits and their reconstructions from k={K} codes")
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(fig)
    return path


def plot_comparison(tables: dict[str, list[tuple]], path: Path) -> Path:
    fig, axes = plt.subplots(1, len(tables), figsize=(14, 3.8))
    for ax, (title, rows) in zip(axes, tables.items(), strict=True):
        names = [name for name, _, _ in rows]
        values = [value for _, value, _ in rows]
        colors = ["tab:orange" if n.split()[0] in SKAE else "tab:blue" for n in names]
        ax.barh(names, values, color=colors)
        ax.set_title(title, fontsize=9)
        ax.invert_yaxis()
        ax.tick_params(labelsize=8)
    fig.suptitle("skae (orange) next to scikit-learn (blue)")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def main(argv=None) -> list[Path]:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="CI-size settings")
    parser.add_argument("--n-jobs", type=int, default=1, help="processes to use")
    args = parser.parse_args(argv)
    quick = args.quick or os.environ.get("SKAE_QUICK") == "1"
    start = time.perf_counter()
    recon_rows, models = reconstruction(5 if quick else 30, args.n_jobs)
    print_table(
        f"digits, k={K}: held-out reconstruction MSE (pixels^2)", "MSE", recon_rows
    )
    like_rows = likelihood(10 if quick else 60, args.n_jobs)
    print_table(
        "breast cancer, standardised: held-out log-likelihood (nats/sample)",
        "log p",
        like_rows,
    )
    acc_rows = accuracy(5 if quick else 20, args.n_jobs)
    print_table(
        f"digits: test accuracy of scale -> reduce(k={K}) -> LinearSVC",
        "accuracy",
        acc_rows,
    )
    figures = [
        plot_reconstructions(models, FIGURES / "demo_reconstruction.png"),
        plot_comparison(
            {
                "digits reconstruction MSE (lower is better)": recon_rows,
                "held-out log-likelihood (higher is better)": like_rows,
                "digits accuracy (higher is better)": acc_rows,
            },
            FIGURES / "demo_comparison.png",
        ),
    ]
    print(f"demo took {time.perf_counter() - start:.0f} s; figures:")
    for figure in figures:
        print(f"  {figure}")
    print("full comparisons (cross-validated searches, more k):")
    print("  python examples/plot_reconstruction_vs_k.py")
    print("  python examples/plot_likelihood_ranking.py")
    print("  python examples/plot_select_reducer.py")
    return figures


if __name__ == "__main__":
    main()
